"""MapLibre GL styles (style spec version 8) for the OCS GE collections, derived from the nomenclature.

Tiles carry codes only; colours and French labels come from ``config/nomenclature`` through this module, so the
map, its legend (in each style's ``metadata``) and the JSON Schemas cannot disagree. The files in ``styles/`` are
this output with the default base URL, committed so that a web page can load them as they are; a test keeps them
in step.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypedDict
from urllib.parse import urlsplit

from . import nomenclature
from .errors import InvalidInputError, UnknownCodeError
from .layers import ARTIFICIALISATION_COMMUNES, DIFFERENCE, OCCUPATION_SOL, Layer
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
StyleMetadata = TypedDict("StyleMetadata", {"ocsge:style": str, "ocsge:collection": str, "ocsge:legend": Legend})
FillLayer = TypedDict(
    "FillLayer",
    {"id": str, "type": Literal["fill"], "source": str, "source-layer": str, "paint": dict[str, Expression]},
)
LinePaint = TypedDict("LinePaint", {"line-color": str, "line-opacity": float, "line-width": float})
LineLayer = TypedDict(
    "LineLayer",
    {"id": str, "type": Literal["line"], "source": str, "source-layer": str, "minzoom": int, "paint": LinePaint},
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


def couverture_style(base_url: str = DEFAULT_BASE_URL, tiles: str = DEFAULT_TILES) -> Style:
    """The couverture (CS) map of `ocsge-occupation-sol`: IGN's CS palette on `code_cs`."""
    return _coded_style(COUVERTURE, _tile_url(base_url, tiles, COUVERTURE.layer))


def usage_style(base_url: str = DEFAULT_BASE_URL, tiles: str = DEFAULT_TILES) -> Style:
    """The usage (US) map of `ocsge-occupation-sol`: IGN's US palette on `code_us`."""
    return _coded_style(USAGE, _tile_url(base_url, tiles, USAGE.layer))


def difference_style(base_url: str = DEFAULT_BASE_URL, tiles: str = DEFAULT_TILES) -> Style:
    """The changes of `ocsge-difference`, coloured by what the land became (`code_cs_apres`, CS palette)."""
    return _coded_style(DIFFERENCE_MAP, _tile_url(base_url, tiles, DIFFERENCE_MAP.layer))


def artificialisation_style(base_url: str = DEFAULT_BASE_URL, tiles: str = DEFAULT_TILES) -> Style:
    """Choropleth of `taux_artificialisation` over `artificialisation-communes`, in the classes of ``BREAKS``.

    A sequential ramp (light to dark) because the rate is an ordered quantity with no meaningful midpoint.
    """
    layer, field = ARTIFICIALISATION_COMMUNES, "taux_artificialisation"
    colors = _ramp(nomenclature.couverture().get(RAMP_CODE).color, len(BREAKS) - 1)
    step: Expression = ["step", ["get", field], colors[0]]
    for limit, color in zip(BREAKS[1:-1], colors[1:], strict=True):
        step += [limit, color]
    # `step` fails on null (rate not computed), and a failed expression paints black: test the type first.
    fill: Expression = ["case", ["==", ["typeof", ["get", field]], "number"], step, NO_DATA_COLOR]
    items: list[ClassItem] = [
        {"min": low, "max": high, "label": f"{_percent(low)} – {_percent(high)} %", "color": color}
        for low, high, color in zip(BREAKS[:-1], BREAKS[1:], colors, strict=True)
    ]
    items.append({"min": None, "max": None, "label": NO_DATA_LABEL, "color": NO_DATA_COLOR})
    legend: ClassesLegend = {"title": "Taux d'artificialisation (%)", "field": field, "kind": "classes", "items": items}
    return _style(
        "artificialisation", "Artificialisation des communes", layer, _tile_url(base_url, tiles, layer), fill, legend
    )


#: Every style by the name of its file in ``styles/``.
STYLES: dict[str, Callable[[str, str], Style]] = {
    "couverture": couverture_style,
    "usage": usage_style,
    "difference": difference_style,
    "artificialisation": artificialisation_style,
}


def build_style(name: str, base_url: str = DEFAULT_BASE_URL, tiles: str = DEFAULT_TILES) -> Style:
    """The style called ``name``, or an error that lists the known ones."""
    try:
        builder = STYLES[name]
    except KeyError:
        raise UnknownCodeError(f"unknown style {name!r}; expected one of {', '.join(STYLES)}") from None
    return builder(base_url, tiles)


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


def _coded_style(coded: CodedMap, url: str) -> Style:
    """A fill by nomenclature leaf: one `match` arm per leaf, so every code that occurs in deliveries has a colour."""
    codes = coded.codes()
    leaves = [codes.get(code) for code in codes.leaves()]
    fill: Expression = ["match", ["get", coded.field]]
    for entry in leaves:
        fill += [entry.code, entry.color]
    fill.append(UNKNOWN_COLOR)
    legend: CodesLegend = {
        "title": coded.title,
        "field": coded.field,
        "kind": "codes",
        "items": [{"code": e.code, "label": e.label, "short_label": e.short_label, "color": e.color} for e in leaves],
    }
    return _style(coded.name, coded.title, coded.layer, url, fill, legend)


def _style(name: str, title: str, layer: Layer, url: str, fill: Expression, legend: Legend) -> Style:
    """The document shared by every style: one vector source named and layered as the collection, fill + outline."""
    source = layer.collection_id
    return {
        "version": 8,
        "name": title,
        "metadata": {"ocsge:style": name, "ocsge:collection": source, "ocsge:legend": legend},
        "sources": {
            source: {"type": "vector", "tiles": [url], "minzoom": 0, "maxzoom": MAX_ZOOM, "attribution": ATTRIBUTION},
        },
        "layers": [
            {
                "id": f"{name}-fill",
                "type": "fill",
                "source": source,
                "source-layer": source,
                "paint": {"fill-color": fill},
            },
            {
                "id": f"{name}-outline",
                "type": "line",
                "source": source,
                "source-layer": source,
                "minzoom": OUTLINE_MIN_ZOOM,
                "paint": {"line-color": "#000000", "line-opacity": 0.25, "line-width": 0.5},
            },
        ],
    }


def _tile_url(base_url: str, tiles: str, layer: Layer) -> str:
    """The tile URL of ``layer``; refuses what MapLibre could not fetch rather than write a style that shows nothing."""
    parts = urlsplit(base_url)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise InvalidInputError(f"base URL {base_url!r} must be an http(s) URL without query, e.g. {DEFAULT_BASE_URL}")
    missing = [p for p in ("{z}", "{x}", "{y}") if p not in tiles]
    if missing:
        raise InvalidInputError(f"tile URL template {tiles!r} lacks {', '.join(missing)}; e.g. {DEFAULT_TILES}")
    return tiles.replace("{base}", base_url.rstrip("/")).replace("{id}", layer.collection_id)


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
