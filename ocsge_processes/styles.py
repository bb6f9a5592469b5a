"""MapLibre GL styles (style spec version 8) for the OCS GE collections, derived from the nomenclature.

Tiles carry codes only; colours and French labels come from ``config/nomenclature`` through this module, so the
map, its legend (in each style's ``metadata``) and the JSON Schemas cannot disagree. The files in ``styles/`` are
this output with the default base URL, committed so that a web page can load them as they are; a test keeps them
in step.

A collection holds several millésimes in one table, so a style drawn from all of its tiles would paint 2021 and 2024
on top of each other. A style of one millésime (``millesimes={"millesime": 2024}``) shows that one only, twice over:
its tile URL asks the server for that millésime (smaller tiles, for MapLibre, which takes the style's sources), and
its layers carry a ``filter`` on the same attributes (for QGIS, whose converter reads the layers but loads tiles from
the URL its user typed). The styles without millésime are templates for pages that choose it themselves (``/map``).

QGIS (3.22 at least) converts a ``match`` whose labels are bare strings into ``IN ()``, which matches nothing and
paints every polygon in the fallback colour; a one-element array label (``["CS1.1.1.1"]``) means the same to MapLibre
and converts to ``IN ('CS1.1.1.1')``, so every label is written that way.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NotRequired, TypedDict
from urllib.parse import urlencode, urlsplit

from . import nomenclature
from .errors import InvalidInputError, UnknownCodeError
from .layers import (
    ARTIFICIALISATION_COMMUNES,
    DIFFERENCE,
    OCCUPATION_SOL,
    SEGMENTATION,
    SEGMENTATION_CHANGE,
    Layer,
    get_layer,
)
from .nomenclature import Nomenclature

#: Where ``make serve`` listens by default; the committed styles point there.
DEFAULT_BASE_URL = "http://127.0.0.1:5000"
#: OGC API – Tiles path of a collection's vector tiles. ``{base}`` and ``{id}`` are filled here; ``{z}/{y}/{x}``
#: are left for MapLibre (OGC orders them tileMatrix/tileRow/tileCol, i.e. z/y/x).
DEFAULT_TILES = "{base}/collections/{id}/tiles/WebMercatorQuad/{z}/{y}/{x}?f=mvt"
ATTRIBUTION = "© IGN — OCS GE"
#: Deepest zoom the tiles are made for (the zooms `bench/tiles.py` measures end there); MapLibre overzooms beyond.
MAX_ZOOM = 16
#: Outlines are drawn from this zoom on; below it they would hide the fill colours.
OUTLINE_MIN_ZOOM = 12
#: Fill of a code outside the nomenclature: a neutral grey that no leaf uses, so such data shows instead of vanishing.
UNKNOWN_COLOR = "#808080"
#: Fill of a commune whose rate was not computed (no stock layer): light grey, apart from the ramp.
NO_DATA_COLOR = "#e0e0e0"
NO_DATA_LABEL = "Non calculé"
#: Class limits of `taux_artificialisation` (%), from 0 to 100; class i is [BREAKS[i], BREAKS[i + 1]), the last
#: one closed.
#: Fixed limits, not quantiles, so that maps of different territories and millésimes read alike. They roughly
#: double: most French communes are rural with a few per cent of artificialised land, so the low end needs fine
#: classes (0–5, 5–10, 10–20) to tell villages apart, while suburbs (20–40), towns (40–60) and dense city
#: centres (≥ 60) each still get a class of their own.
BREAKS: tuple[float, ...] = (0, 5, 10, 20, 40, 60, 100)
#: The ramp of the choropleth is built from the colour the couverture map gives to anthropised surfaces, so
#: "more artificial" reads as "more of that colour" on both maps.
RAMP_CODE = "CS1.1"


#: A MapLibre expression: an operator name, then its arguments (literals or other expressions).
Expression = list["Expression | str | float | None"]
#: The millésime a style shows: the value of each millésime attribute of its collection, e.g. ``{"millesime": 2024}``
#: or ``{"millesime_avant": 2021, "millesime_apres": 2024}``; empty for a template that shows every millésime.
Millesimes = Mapping[str, int]


#: A fill layer of a style: the suffix of its id, the tests a feature it paints passes (none: all) and its colour.
Fill = tuple[str, list["Expression"], "Expression | str"]


class CodeItem(TypedDict):
    """A legend entry of a categorical map: one nomenclature leaf."""

    code: str
    label: str
    short_label: str
    color: str


class ClassItem(TypedDict):
    """A legend entry of a choropleth: a class of values (``min`` and ``max`` None for the "not computed" one)."""

    min: float | None
    max: float | None
    label: str
    color: str


class CodesLegend(TypedDict):
    title: str
    field: str
    kind: Literal["codes"]
    items: list[CodeItem]


class ClassesLegend(TypedDict):
    title: str
    field: str
    kind: Literal["classes"]
    items: list[ClassItem]


Legend = CodesLegend | ClassesLegend
# Style spec keys with a hyphen or a colon: TypedDict's functional form.
StyleMetadata = TypedDict(
    "StyleMetadata",
    {"ocsge:style": str, "ocsge:collection": str, "ocsge:millesimes": dict[str, int], "ocsge:legend": Legend},
)
FillLayer = TypedDict(
    "FillLayer",
    {
        "id": str,
        "type": Literal["fill"],
        "source": str,
        "source-layer": str,
        "filter": NotRequired[Expression],
        "paint": dict[str, Expression | str],
    },
)
LinePaint = TypedDict("LinePaint", {"line-color": str, "line-opacity": float, "line-width": float})
LineLayer = TypedDict(
    "LineLayer",
    {
        "id": str,
        "type": Literal["line"],
        "source": str,
        "source-layer": str,
        "minzoom": int,
        "filter": NotRequired[Expression],
        "paint": LinePaint,
    },
)


class VectorSource(TypedDict):
    type: Literal["vector"]
    tiles: list[str]
    minzoom: int
    maxzoom: int
    attribution: str


class Style(TypedDict):
    """A MapLibre style document (style spec version 8) with its legend in ``metadata``."""

    version: int
    name: str
    metadata: StyleMetadata
    sources: dict[str, VectorSource]
    layers: list[FillLayer | LineLayer]


@dataclass(frozen=True)
class CodedMap:
    """A categorical map: a coded field of one collection in the colours of its nomenclature's leaves."""

    name: str
    title: str
    layer: Layer
    field: str
    codes: Callable[[], Nomenclature]


COUVERTURE = CodedMap("couverture", "OCS GE – Couverture du sol", OCCUPATION_SOL, "code_cs", nomenclature.couverture)
USAGE = CodedMap("usage", "OCS GE – Usage du sol", OCCUPATION_SOL, "code_us", nomenclature.usage)
DIFFERENCE_MAP = CodedMap(
    "difference", "OCS GE – Évolutions de la couverture du sol", DIFFERENCE, "code_cs_apres", nomenclature.couverture
)
SEGMENTATION_MAP = CodedMap(
    "segmentation", "Segmentation – Couverture du sol", SEGMENTATION, "code_cs", nomenclature.couverture
)
SEGMENTATION_CHANGE_MAP = CodedMap(
    "segmentation-changement",
    "Segmentation – Changements de couverture",
    SEGMENTATION_CHANGE,
    "code_cs_apres",
    nomenclature.couverture,
)


def couverture_style(
    base_url: str = DEFAULT_BASE_URL, tiles: str = DEFAULT_TILES, millesimes: Millesimes | None = None
) -> Style:
    """The couverture (CS) map of `ocsge-occupation-sol`: IGN's CS palette on `code_cs`."""
    return _coded_style(COUVERTURE, base_url, tiles, millesimes or {})


def usage_style(
    base_url: str = DEFAULT_BASE_URL, tiles: str = DEFAULT_TILES, millesimes: Millesimes | None = None
) -> Style:
    """The usage (US) map of `ocsge-occupation-sol`: IGN's US palette on `code_us`."""
    return _coded_style(USAGE, base_url, tiles, millesimes or {})


def difference_style(
    base_url: str = DEFAULT_BASE_URL, tiles: str = DEFAULT_TILES, millesimes: Millesimes | None = None
) -> Style:
    """The changes of `ocsge-difference`, coloured by what the land became (`code_cs_apres`, CS palette)."""
    return _coded_style(DIFFERENCE_MAP, base_url, tiles, millesimes or {})


def segmentation_style(
    base_url: str = DEFAULT_BASE_URL, tiles: str = DEFAULT_TILES, millesimes: Millesimes | None = None
) -> Style:
    """The polygons of segmentation runs (`ocsge-segmentation`) in IGN's CS palette, as the couverture map, so that a
    model's output and IGN's OCS GE compare at a glance."""
    return _coded_style(SEGMENTATION_MAP, base_url, tiles, millesimes or {})


def segmentation_change_style(
    base_url: str = DEFAULT_BASE_URL, tiles: str = DEFAULT_TILES, millesimes: Millesimes | None = None
) -> Style:
    """The changes between two segmentation runs (`ocsge-segmentation-changement`), coloured by what the land became
    (`code_cs_apres`, CS palette), as the OCS GE difference map is."""
    return _coded_style(SEGMENTATION_CHANGE_MAP, base_url, tiles, millesimes or {})


def artificialisation_style(
    base_url: str = DEFAULT_BASE_URL, tiles: str = DEFAULT_TILES, millesimes: Millesimes | None = None
) -> Style:
    """Choropleth of `taux_artificialisation` over `artificialisation-communes`, in the classes of ``BREAKS``.

    A sequential ramp (light to dark) because the rate is an ordered quantity with no meaningful midpoint. One fill
    layer per class, selected by a ``filter`` on the rate, rather than one ``step`` expression: QGIS 3.22 converts
    filters but skips ``step`` and ``typeof`` (it painted every commune alike). A commune whose rate was not computed
    has no rate in its tile (vector tiles hold no nulls), hence the ``!has`` of the last class.
    """
    layer, field = ARTIFICIALISATION_COMMUNES, "taux_artificialisation"
    colors = _ramp(nomenclature.couverture().get(RAMP_CODE).color, len(BREAKS) - 1)
    fills: list[Fill] = []
    for rank, (low, high, color) in enumerate(zip(BREAKS[:-1], BREAKS[1:], colors, strict=True)):
        below = "<=" if rank == len(colors) - 1 else "<"  # the last class is closed: 100 % belongs to it
        fills.append((f"fill-{rank}", [[">=", ["get", field], low], [below, ["get", field], high]], color))
    fills.append(("fill-nodata", [["!", ["has", field]]], NO_DATA_COLOR))
    items: list[ClassItem] = [
        {"min": low, "max": high, "label": f"{_percent(low)} – {_percent(high)} %", "color": color}
        for low, high, color in zip(BREAKS[:-1], BREAKS[1:], colors, strict=True)
    ]
    items.append({"min": None, "max": None, "label": NO_DATA_LABEL, "color": NO_DATA_COLOR})
    legend: ClassesLegend = {"title": "Taux d'artificialisation (%)", "field": field, "kind": "classes", "items": items}
    title = "Artificialisation des communes"
    return _style("artificialisation", title, layer, (base_url, tiles), millesimes or {}, fills, legend)


#: Every style by the name of its file in ``styles/``.
STYLES: dict[str, Callable[[str, str, Millesimes | None], Style]] = {
    "couverture": couverture_style,
    "usage": usage_style,
    "difference": difference_style,
    "artificialisation": artificialisation_style,
    "segmentation": segmentation_style,
    "segmentation-changement": segmentation_change_style,
}


def build_style(
    name: str, base_url: str = DEFAULT_BASE_URL, tiles: str = DEFAULT_TILES, millesimes: Millesimes | None = None
) -> Style:
    """The style called ``name`` (of one millésime if ``millesimes`` is given), or an error that lists the known
    ones."""
    try:
        builder = STYLES[name]
    except KeyError:
        raise UnknownCodeError(f"unknown style {name!r}; expected one of {', '.join(STYLES)}") from None
    return builder(base_url, tiles, millesimes)


def style_layer(name: str) -> Layer:
    """The collection whose tiles the style called ``name`` draws."""
    return get_layer(build_style(name)["metadata"]["ocsge:collection"])


def millesime_fields(layer: Layer) -> list[str]:
    """The attributes that name a millésime of ``layer``: a style of one millésime gives a value to each."""
    return [name for name in layer.fields if name.startswith("millesime")]


def parse_millesimes(layer: Layer, params: Mapping[str, str]) -> dict[str, int]:
    """The millésime of a style asked for as query parameters (``millesime=2024``); every millésime attribute of
    ``layer`` or none, as years."""
    fields = millesime_fields(layer)
    unknown = sorted(set(params) - set(fields))
    if unknown:
        raise InvalidInputError(
            f"unknown parameter {unknown[0]!r} for a style of {layer.collection_id}; allowed: {', '.join(fields)}"
        )
    chosen: dict[str, int] = {}
    for name in fields:
        if name in params:
            value = params[name].strip()
            if not value.isdigit():
                raise InvalidInputError(f"{name}={params[name]!r} is not a year such as 2024")
            chosen[name] = int(value)
    return _checked(layer, chosen)


def write_styles(folder: Path, base_url: str = DEFAULT_BASE_URL, tiles: str = DEFAULT_TILES) -> list[Path]:
    """Write one ``<name>.json`` per style into ``folder``; every style is built before anything is written."""
    documents = {name: build_style(name, base_url, tiles) for name in STYLES}
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, document in documents.items():
        path = folder / f"{name}.json"
        path.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        paths.append(path)
    return paths


def _coded_style(coded: CodedMap, base_url: str, tiles: str, millesimes: Millesimes) -> Style:
    """A fill by nomenclature code: one `match` arm per code, leaves and the levels above them, so every code that
    occurs in deliveries has its colour (SYBARVAL's changes stop at CS2.1.1, for example); the legend lists the
    leaves. Each label is a one-element array: the form QGIS converts (see the module's docstring)."""
    codes = coded.codes()
    leaves = [codes.get(code) for code in codes.leaves()]
    fill: Expression = ["match", ["get", coded.field]]
    for entry in codes.codes.values():
        fill += [[entry.code], entry.color]
    fill.append(UNKNOWN_COLOR)
    legend: CodesLegend = {
        "title": coded.title,
        "field": coded.field,
        "kind": "codes",
        "items": [{"code": e.code, "label": e.label, "short_label": e.short_label, "color": e.color} for e in leaves],
    }
    return _style(coded.name, coded.title, coded.layer, (base_url, tiles), millesimes, [("fill", [], fill)], legend)


def _style(
    name: str,
    title: str,
    layer: Layer,
    url: tuple[str, str],
    millesimes: Millesimes,
    fills: list[Fill],
    legend: Legend,
) -> Style:
    """The document shared by every style: one vector source named and layered as the collection, its ``fills``
    then an outline, all restricted to ``millesimes`` when given (``url``: the base URL and tile template)."""
    source = layer.collection_id
    chosen = _checked(layer, millesimes)
    tiles = _tile_url(*url, layer, chosen)
    keep: list[Expression] = [["==", ["get", field], year] for field, year in chosen.items()]
    layers: list[FillLayer | LineLayer] = []
    for suffix, only, color in fills:
        fill_layer: FillLayer = {
            "id": f"{name}-{suffix}",
            "type": "fill",
            "source": source,
            "source-layer": source,
            "paint": {"fill-color": color},
        }
        if keep or only:
            fill_layer["filter"] = _all([*keep, *only])
        layers.append(fill_layer)
    outline: LineLayer = {
        "id": f"{name}-outline",
        "type": "line",
        "source": source,
        "source-layer": source,
        "minzoom": OUTLINE_MIN_ZOOM,
        "paint": {"line-color": "#000000", "line-opacity": 0.25, "line-width": 0.5},
    }
    if keep:
        outline["filter"] = _all(keep)
        title = f"{title}, {' → '.join(map(str, chosen.values()))}"
    return {
        "version": 8,
        "name": title,
        "metadata": {
            "ocsge:style": name,
            "ocsge:collection": source,
            "ocsge:millesimes": chosen,
            "ocsge:legend": legend,
        },
        "sources": {
            source: {"type": "vector", "tiles": [tiles], "minzoom": 0, "maxzoom": MAX_ZOOM, "attribution": ATTRIBUTION},
        },
        "layers": [*layers, outline],
    }


def _all(tests: list[Expression]) -> Expression:
    """The filter that passes what every test of ``tests`` passes."""
    return tests[0] if len(tests) == 1 else ["all", *tests]


def _checked(layer: Layer, millesimes: Millesimes) -> dict[str, int]:
    """``millesimes`` in the order of the layer's fields, refused unless it names every millésime attribute of
    ``layer`` (a style of half a pair would still draw several millésimes) or none."""
    fields = millesime_fields(layer)
    if not millesimes:
        return {}
    if sorted(millesimes) != sorted(fields):
        raise InvalidInputError(
            f"a style of {layer.collection_id} for one millésime gives {' and '.join(fields)}, "
            f"not {', '.join(sorted(millesimes))}"
        )
    return {name: int(millesimes[name]) for name in fields}


def _tile_url(base_url: str, tiles: str, layer: Layer, millesimes: Millesimes) -> str:
    """The tile URL of ``layer`` (with the tile endpoint's equality filter on ``millesimes``); refuses what MapLibre
    could not fetch rather than write a style that shows nothing."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise InvalidInputError(f"base URL {base_url!r} must be an http(s) URL without query, e.g. {DEFAULT_BASE_URL}")
    missing = [p for p in ("{z}", "{x}", "{y}") if p not in tiles]
    if missing:
        raise InvalidInputError(f"tile URL template {tiles!r} lacks {', '.join(missing)}; e.g. {DEFAULT_TILES}")
    url = tiles.replace("{base}", base_url.rstrip("/")).replace("{id}", layer.collection_id)
    if millesimes:
        url += ("&" if "?" in url else "?") + urlencode(millesimes)
    return url


def _ramp(color: str, count: int) -> list[str]:
    """``count`` colours from a pale tint of ``color`` to a dark shade of it, with luminance falling throughout."""
    rgb = [int(color[i : i + 2], 16) for i in (1, 3, 5)]
    pale, dark = -0.85, 0.5  # share of white mixed in at the light end, of black at the dark end
    ramp = []
    for i in range(count):
        mix = pale + (dark - pale) * i / (count - 1)
        target = 0 if mix > 0 else 255
        ramp.append("#" + "".join(f"{round(c + (target - c) * abs(mix)):02x}" for c in rgb))
    return ramp


def _percent(value: float) -> str:
    """A class limit as French readers write it (no trailing .0)."""
    return f"{value:g}".replace(".", ",")
