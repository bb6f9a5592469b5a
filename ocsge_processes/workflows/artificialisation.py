"""The artificialisation indicators of a territory, read from a store: what the `artificialisation` process and
`ocsge artificialisation` return.

Stocks come from OCCUPATION_SOL (or IGN's ARTIF layer, method `ign`), flows from the difference layers. Each
département of the territory is read at its own millésimes, matched by rank (``artificialisation.millesimes``).
Where a millésime has no stock layer for the territory (only a DIFF was ingested, as for SYBARVAL), the stock fields
say so instead of failing or inventing.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Literal, NotRequired, TypedDict, cast, get_args

import geopandas as gpd

from ..artificialisation import (
    DECREE,
    IGN,
    METHODS,
    Flows,
    Stock,
    Territory,
    aggregate_flows,
    aggregate_stocks,
    compute_all_flows,
    compute_all_stocks,
    consistency_gap_ha,
)
from ..artificialisation.measure import overlay_layers
from ..artificialisation.millesimes import Label, Selection
from ..artificialisation.stock import coverage
from ..errors import InvalidInputError
from ..ingest.versions import Version, patched_versions
from ..layers import ARTIF, ARTIF_DIFFERENCE, DIFFERENCE, OCCUPATION_SOL, ZONE_URBA
from ..parallel import each_in_thread
from ..stores import FeatureStore
from .exemptions import (
    ExemptionFields,
    GapFields,
    decree_gaps,
    exemption_fields,
    exemption_figures,
    exemption_positions,
    gap_fields,
)
from .holdings import Holdings, checked_selection, holdings

# Re-exported: batch, exports and the benchmark read the layers through this module.
from .layer_cache import DECREE_MARGIN_M as DECREE_MARGIN_M
from .layer_cache import LayerCache as LayerCache
from .layer_cache import margin
from .layer_cache import territory_bbox as territory_bbox
from .territories import ResolvedTerritory, resolve
from .zoning import INLINE, Zoning, inline_zoning, zoning_breakdown

#: Share of a territory the stock layer must cover for a rate to be given (real layers are partitions; 2 % absorbs
#: commune contours drawn from another source than the layer's limits). Covered area as ``stock.coverage`` measures
#: it, the rate's own denominator: above the maximum, the layer's polygons overlap.
MIN_COVERAGE = 0.98
MAX_COVERAGE = 1.02

#: Most millésimes one request may name: IGN delivers two or three per département.
MAX_MILLESIMES = 10


class FlowFields(TypedDict, total=False):
    """The flow figures between two millésimes; ``flux_message`` says why they are None."""

    artificialisation_ha: float | None
    desartificialisation_ha: float | None
    artificialisation_nette_ha: float | None
    artificialisation_pct: float | None
    desartificialisation_pct: float | None
    artificialisation_nette_pct: float | None
    impermeabilisation_ha: float | None
    desimpermeabilisation_ha: float | None
    impermeabilisation_nette_ha: float | None
    impermeabilisation_pct: float | None
    desimpermeabilisation_pct: float | None
    impermeabilisation_nette_pct: float | None
    methode_flux: str
    flux_non_classes_ha: float
    #: ``Transition`` fields, one mapping per CS/US transition.
    flux_par_transition: list[dict[str, Any]]
    flux_message: str
    #: Change of artificialised stock minus net flow (ha), None without both stocks.
    ecart_coherence_ha: float | None


class Entry(FlowFields):
    """The indicators of one territory (or commune), as the document gives them: the flat flow fields are those of
    the last pair of millésimes, ``flux`` has every consecutive pair."""

    code: str
    nom: str
    type: str
    surface_ha: float
    #: By millésime label (as a string): the ``Stock`` fields less ``territoire``, or None where no rate can be given.
    stocks: dict[str, dict[str, Any] | None]
    surface_artificialisee_ha: float | None
    taux_artificialisation: float | None
    surface_impermeabilisee_ha: float | None
    taux_impermeabilisation: float | None
    stock_disponible: bool
    stock_message: NotRequired[str]
    #: By pair of consecutive millésimes ("2018-2021"): the flow fields.
    flux: NotRequired[dict[str, FlowFields]]
    #: Where IGN's exemption layer is used: the area the exemptions take out, the stock and net flow that remain.
    exemptions: NotRequired[ExemptionFields]
    #: With ``ecart_ign_decree``: IGN's artificialised area against the decree's, per millésime.
    ecart_ign_decree: NotRequired[dict[str, GapFields]]


class Indicators(TypedDict):
    """The document the `artificialisation` process returns."""

    #: One label per millésime: the year, or "M<rank>" where the départements' years differ and none was named.
    millesimes: list[Label]
    #: The rank of each millésime in its département (1st, 2nd, 3rd), as the official tool indexes them.
    rangs_millesimes: list[int]
    #: The year each département used at each of ``millesimes``.
    millesimes_par_departement: dict[str, list[int]]
    #: The consecutive pairs of ``millesimes`` whose flows are given ("2018-2021").
    periodes: list[str]
    territoires: list[Entry]
    communes: NotRequired[list[Entry]]
    #: With the ``zonage`` input: the same indicators per zone of the local urban plans and per zone type.
    zonage: NotRequired[Zoning]
    #: The millésimes at which IGN's exemption layer (``ocsge-artif-exemptions``) was used; absent when none.
    exemptions_millesimes: NotRequired[list[Label]]
    #: By département and year, the OCCUPATION_SOL version read where a corrective patch replaced the first
    #: (``ingest.versions``); absent when none did.
    versions_corrigees: NotRequired[dict[str, dict[str, Version]]]


@dataclass(frozen=True)
class Request:
    """A request's inputs, each checked (the process passes them as received); ``years`` None: every millésime."""

    store: FeatureStore
    years: list[int] | None
    resolved: ResolvedTerritory
    methode: str | None


def run(
    store: FeatureStore,
    territoire: object,
    millesimes: object,
    methode: str | None = None,
    detail_communes: bool = False,
    progress: Callable[[int, int], None] | None = None,
    zonage: object = False,
    exemptions: object = False,
    ecart_ign_decree: object = False,
) -> Indicators:
    """The indicators document for one request (validated here: the process passes its inputs as received).

    ``progress(done, total)`` is called after each step (a stock per millésime, then the flows of each pair), for
    progress bars and job status. ``zonage``: also break the indicators down by zone of the ingested urban plans
    (true), or of the zones it gives (a GeoJSON FeatureCollection with the CNIG fields).
    ``exemptions``: True requires IGN's exemption layer, None uses it where held, False ignores it (the per-commune
    collection's default); ``ecart_ign_decree``: also give IGN's figure against the decree's.
    """
    if not (exemptions is None or isinstance(exemptions, bool)) or not isinstance(ecart_ign_decree, bool):
        raise InvalidInputError(
            f"exemptions must be true, false or absent and ecart_ign_decree true or false, got {exemptions!r} and "
            f"{ecart_ign_decree!r}"
        )
    request = checked_request(store, territoire, millesimes, methode, detail_communes)
    resolved = request.resolved
    inline = None if isinstance(zonage, bool) else inline_zoning(zonage, resolved.territory)
    with LayerCache(store, resolved.territory) as data:
        found, selection = checked_millesimes(data, request)
        _prefetch(data, selection, methode, found)
        used = exemption_positions(data, selection, exemptions)
        document: Indicators = {
            "millesimes": list(selection.labels),
            "rangs_millesimes": list(selection.ranks),
            "millesimes_par_departement": {d: list(years) for d, years in selection.years.items()},
            "periodes": [selection.pair_label(*pair) for pair in selection.pairs()],
            "territoires": [],
        }
        patched = patched_versions(store, OCCUPATION_SOL, selection.years)
        if patched:
            document["versions_corrigees"] = patched
        if zonage:
            document["zonage"] = zoning_breakdown(
                inline if inline is not None else data.frames(ZONE_URBA),
                resolved.territory,
                INLINE if inline is not None else ZONE_URBA.collection_id,
                lambda zones: _entries(data, zones, selection, methode, None),
                lambda territory, figures: _entry(territory, selection, *figures),
                _aggregate,
            )
        if detail_communes:
            communes = _entries(data, list(resolved.communes), selection, methode, progress)
            if resolved.members:  # a list: each listed territory measured whole, its communes given once
                listed = _entries(data, list(resolved.members), selection, methode, None)
                document["territoires"] = [
                    _entry(t, selection, *f) for t, f in zip(resolved.members, listed, strict=True)
                ]
            else:
                whole = _aggregate(resolved.territory, communes)
                document["territoires"] = [_entry(resolved.territory, selection, *whole)]
            document["communes"] = [
                _entry(commune, selection, *figures)
                for commune, figures in zip(resolved.communes, communes, strict=True)
            ]
            return _with_exemptions(document, data, resolved, selection, used, ecart_ign_decree)
        # a list: one answer per listed territory, as the official tool gives one per territory; no union
        territories = list(resolved.members) or [resolved.territory]
        entries = _entries(data, territories, selection, methode, progress)
        document["territoires"] = [_entry(t, selection, *f) for t, f in zip(territories, entries, strict=True)]
        return _with_exemptions(document, data, resolved, selection, used, ecart_ign_decree)


def _with_exemptions(
    document: Indicators,
    data: LayerCache,
    resolved: ResolvedTerritory,
    selection: Selection,
    used: list[bool],
    gap: bool,
) -> Indicators:
    """``document`` with the exemption figures of each entry at the millésimes ``used``, and IGN's figure against the
    decree's when ``gap`` is asked (``workflows.exemptions``)."""
    groups = [(document["territoires"], list(resolved.members) or [resolved.territory])]
    if "communes" in document:
        groups.append((document["communes"], list(resolved.communes)))
    if any(used):
        document["exemptions_millesimes"] = [label for label, use in zip(selection.labels, used, strict=True) if use]
    for entries, territories in groups:
        if any(used):
            figures = exemption_figures(data, territories, selection, used)
            for entry, figure in zip(entries, figures, strict=True):
                nets = {pair: flow.get("artificialisation_nette_ha") for pair, flow in entry.get("flux", {}).items()}
                entry["exemptions"] = exemption_fields(figure, selection, nets)
        if gap:
            for entry, stocks in zip(entries, decree_gaps(data, territories, selection), strict=True):
                entry["ecart_ign_decree"] = gap_fields(stocks)
    return document


def checked_request(
    store: FeatureStore, territoire: object, millesimes: object, methode: str | None, detail_communes: bool
) -> Request:
    """The millésimes and the territory of a request, each input checked (the process passes them as received)."""
    years = _millesimes(millesimes)
    if methode is not None and methode not in METHODS:
        raise InvalidInputError(f"unknown methode {methode!r}; expected one of {', '.join(METHODS)}")
    resolved = resolve(store, territoire)
    if detail_communes and not resolved.communes:
        raise InvalidInputError("detail_communes needs a territory made of communes (communes, epci or departement)")
    return Request(store, years, resolved, methode)


def checked_millesimes(data: LayerCache, request: Request) -> tuple[Holdings, Selection]:
    """What the store holds for each département of the request's territory, and the millésimes each one uses."""
    found = holdings(data, request.resolved.departements)
    return found, checked_selection(found, request.years)


def _prefetch(data: LayerCache, selection: Selection, methode: str | None, found: Holdings) -> None:
    """Queue the stock layers in the order they will be computed."""
    for position in range(len(selection.labels)):
        years = selection.at(position)
        if methode in (None, IGN) and all(y in found.ign.get(d, set()) for d, y in years.items()):
            data.prefetch_at(ARTIF, years)
        else:
            data.prefetch_stock(years, methode or DECREE)


#: The figures of one territory: its stock per millésime label (None: no stock layer) and its flows per pair label
#: (None: no flows).
Figures = tuple[dict[str, Stock | None], dict[str, Flows | None]]


def _entries(
    data: LayerCache,
    territories: list[Territory],
    selection: Selection,
    methode: str | None,
    progress: Callable[[int, int], None] | None,
) -> list[Figures]:
    """Stocks and flows of every territory, each layer measured once for all of them.

    Each millésime's stock and each pair's flows run at once, each as soon as its layers are read: cores left idle
    by one step (a read, a single-threaded sum) go to another. ``progress`` counts them in order.
    """
    labels = [str(label) for label in selection.labels]
    pairs = {
        selection.pair_label(first, second): {d: (years[first], years[second]) for d, years in selection.years.items()}
        for first, second in selection.pairs()
    }
    calls: list[Callable[[], Sequence[Stock | None] | Sequence[Flows | None]]] = [
        *(functools.partial(_stocks, data, territories, selection.at(p), methode) for p in range(len(labels))),
        *(functools.partial(_flows, data, territories, chosen, methode) for chosen in pairs.values()),
    ]
    found = []
    for done, figures in enumerate(each_in_thread(calls, "ocsge-measure"), start=1):
        found.append(figures)
        if progress:
            progress(done, len(calls))
    stocks = cast(list[Sequence[Stock | None]], found[: len(labels)])
    flows = cast(list[Sequence[Flows | None]], found[len(labels) :])
    return [
        (
            {label: values[position] for label, values in zip(labels, stocks, strict=True)},
            {label: values[position] for label, values in zip(pairs, flows, strict=True)},
        )
        for position in range(len(territories))
    ]


def _aggregate(territory: Territory, parts: list[Figures]) -> Figures:
    """Figures of a territory from those of its communes: Σ areas / Σ areas, as the official tool aggregates."""
    stocks: dict[str, Stock | None] = {}
    for label in parts[0][0]:
        found = _every([p[0][label] for p in parts])
        stocks[label] = None if found is None else aggregate_stocks(found, territory.code)
    flows: dict[str, Flows | None] = {}
    for label in parts[0][1]:
        present = _every([p[1][label] for p in parts])
        flows[label] = None if present is None else aggregate_flows(present, territory.code)
    return stocks, flows


def _every[T](items: list[T | None]) -> list[T] | None:
    """``items`` when each is there (then they can be aggregated), else None."""
    present = [item for item in items if item is not None]
    return present if len(present) == len(items) else None


def _entry(
    territory: Territory, selection: Selection, stocks: dict[str, Stock | None], flows: dict[str, Flows | None]
) -> Entry:
    refusals = {label: _refusal(label, stock) for label, stock in stocks.items()}
    stocks = {label: (None if refusals[label] else stock) for label, stock in stocks.items()}
    last = str(selection.labels[-1])
    latest, refusal = stocks[last], refusals[last]
    every: dict[str, FlowFields] = {}
    for first, second in selection.pairs():
        label = selection.pair_label(first, second)
        figures = (flows[label], stocks[str(selection.labels[first])], stocks[str(selection.labels[second])])
        every[label] = {}
        _fill_flow_fields(every[label], *figures)
    entry: Entry = {
        "code": territory.code,
        "nom": territory.nom,
        "type": territory.kind,
        "surface_ha": round(territory.surface_m2 / 10_000, 4),
        "stocks": {label: (_stock_fields(s) if s else None) for label, s in stocks.items()},
        "surface_artificialisee_ha": latest.surface_artificialisee_ha if latest else None,
        "taux_artificialisation": latest.taux_artificialisation if latest else None,
        "surface_impermeabilisee_ha": latest.surface_impermeabilisee_ha if latest else None,
        "taux_impermeabilisation": latest.taux_impermeabilisation if latest else None,
        "stock_disponible": latest is not None,
    }
    if every:
        _fill_flow_fields(entry, *figures)  # flat: the last pair's, as with two millésimes
        entry["flux"] = every
    if refusal is not None:  # exactly when there is no latest stock: _refusal gives a reason for a missing one
        from_difference = entry.get("artificialisation_ha") is not None
        entry["stock_message"] = refusal + ("; the flows come from the difference layer" if from_difference else "")
    return entry


def _stocks(
    data: LayerCache, territories: list[Territory], years: dict[str, int], methode: str | None
) -> Sequence[Stock | None]:
    """Stocks before the coverage check, so that communes can be aggregated first.

    The polygons are cut by the territories while the decree's thresholds decide their status (in the layer
    cache's own thread): the pieces do not depend on it.
    """
    artif = _artif_frames(data, years, methode)
    if artif:
        return compute_all_stocks(artif, territories, IGN)
    method = methode or DECREE
    polygons = data.frames_at(OCCUPATION_SOL, years, margin(method))
    if not polygons or not all(len(f) for f in polygons):
        return [None] * len(territories)
    overlaid = overlay_layers(polygons, territories)
    return compute_all_stocks(data.stock_frames(years, method), territories, method, overlaid)


def stock_layers(
    data: LayerCache, years: dict[str, int], methode: str | None
) -> tuple[list[gpd.GeoDataFrame], str] | None:
    """The layers a stock is computed from, each département at its millésime of ``years``, and the method that
    applies; None when none is ingested."""
    artif = _artif_frames(data, years, methode)
    if artif:
        return artif, IGN
    method = methode or DECREE
    frames = data.stock_frames(years, method)
    if not frames or not all(len(f) for f in frames):
        return None
    return frames, method


def _artif_frames(data: LayerCache, years: dict[str, int], methode: str | None) -> list[gpd.GeoDataFrame]:
    """IGN's ARTIF layers when the stock comes from them (method ``ign``, or by default where they are ingested),
    else none; ``ign`` without them is refused."""
    artif = data.frames_at(ARTIF, years) if methode in (None, IGN) else []
    if artif and all(len(f) for f in artif):
        return artif
    if methode == IGN:
        raise InvalidInputError(
            f"methode ign needs IGN's ARTIF layer for {_years(years)}, which is not ingested; use decree or matrix"
        )
    return []


def _refusal(label: str, stock: Stock | None) -> str | None:
    """Why ``stock`` gives no rate (the coverage found), or None when its layer covers the territory."""
    needed = f"a rate needs {MIN_COVERAGE * 100:g} %"
    if stock is None:
        return f"no OCCUPATION_SOL or ARTIF polygon of millésime {label} is ingested over the territory; {needed}"
    share, layer = coverage(stock) * 100, "ARTIF" if stock.methode == IGN else "OCCUPATION_SOL"
    if share < MIN_COVERAGE * 100:
        return f"{math.floor(share * 10) / 10:.1f} % of the territory is covered by {layer} {label}; {needed}"
    if share > MAX_COVERAGE * 100:
        return (
            f"the {layer} {label} polygons add up to {math.ceil(share * 10) / 10:.1f} % of the territory: they "
            f"overlap (ocsge ingest reports overlaps per layer); {needed} to {MAX_COVERAGE * 100:g} %"
        )
    return None


def _flows(
    data: LayerCache, territories: list[Territory], pairs: dict[str, tuple[int, int]], methode: str | None
) -> Sequence[Flows | None]:
    """The flows of each territory, each département between its pair of ``pairs``: IGN's ARTIF DIFF when it is
    there for every CRS, else the OCS GE DIFF with the matrix."""
    for layer, method in ((ARTIF_DIFFERENCE, IGN), (DIFFERENCE, "matrix")):
        if methode == IGN and layer is DIFFERENCE:
            continue
        frames = data.pairs_at(layer, pairs)
        if frames and all(len(f) for f in frames):
            return compute_all_flows(frames, territories, method)
    return [None] * len(territories)


def _stock_fields(stock: Stock) -> dict[str, Any]:
    fields = asdict(stock)
    fields.pop("territoire")
    return fields


#: The flow figures copied from :class:`Flows` into an answer, in its order (hectares, then percentages).
_FlowName = Literal[
    "artificialisation_ha",
    "desartificialisation_ha",
    "artificialisation_nette_ha",
    "artificialisation_pct",
    "desartificialisation_pct",
    "artificialisation_nette_pct",
    "impermeabilisation_ha",
    "desimpermeabilisation_ha",
    "impermeabilisation_nette_ha",
    "impermeabilisation_pct",
    "desimpermeabilisation_pct",
    "impermeabilisation_nette_pct",
]
_FLOW_FIELDS: tuple[_FlowName, ...] = get_args(_FlowName)


def _fill_flow_fields(target: FlowFields, flows: Flows | None, before: Stock | None, after: Stock | None) -> None:
    """Write the flow fields into ``target`` (a pair of ``flux``, or an entry whose flat fields are its last pair)."""
    for name in _FLOW_FIELDS:
        target[name] = getattr(flows, name) if flows else None
    if flows is None:
        target["flux_message"] = "no difference layer for this pair of millésimes"
    else:
        target["methode_flux"] = flows.methode
        target["flux_non_classes_ha"] = flows.surface_non_classee_ha
        target["flux_par_transition"] = [asdict(t) for t in flows.transitions]
    target["ecart_coherence_ha"] = (
        round(consistency_gap_ha(flows, before, after), 4) if flows and before and after else None
    )


def _millesimes(value: object) -> list[int] | None:
    """The years asked for, increasing; None (or an empty list): every millésime ingested."""
    if value is None or value == []:
        return None
    if (
        not isinstance(value, list)
        or len(value) > MAX_MILLESIMES
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise InvalidInputError(
            f"millesimes must be a list of up to {MAX_MILLESIMES} years (one for a stock, more for the flows "
            f"between each consecutive pair), e.g. [2018] or [2018, 2021, 2024], or none for every millésime "
            f"ingested; got {value!r}"
        )
    if any(a >= b for a, b in itertools.pairwise(value)):
        raise InvalidInputError(f"millesimes must be increasing, got {value}")
    return list(value)


def _years(years: dict[str, int]) -> str:
    """Each département's millésime, for a message."""
    return ", ".join(f"{year} (département {departement})" for departement, year in sorted(years.items()))
