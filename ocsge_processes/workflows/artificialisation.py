"""The artificialisation indicators of a territory, read from a store: what the `artificialisation` process and
`ocsge artificialisation` return.

Stocks come from OCCUPATION_SOL (or IGN's ARTIF layer, method `ign`), flows from the difference layers. Where a
millésime has no stock layer for the territory (only a DIFF was ingested, as for SYBARVAL), the stock fields say so
instead of failing or inventing.
"""

from __future__ import annotations

import contextvars
import math
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Any, NotRequired, TypedDict

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
    with_decree_status,
)
from ..artificialisation.stock import coverage
from ..errors import InvalidInputError
from ..layers import ARTIF, ARTIF_DIFFERENCE, DIFFERENCE, OCCUPATION_SOL, Layer
from ..stores import FeatureStore, table_name
from .territories import ResolvedTerritory, resolve

#: Share of a territory the stock layer must cover for a rate to be given (real layers are partitions; 2 % absorbs
#: commune contours drawn from another source than the layer's limits). Covered area as ``stock.coverage`` measures
#: it, the rate's own denominator: above the maximum, the layer's polygons overlap.
MIN_COVERAGE = 0.98
MAX_COVERAGE = 1.02

#: Neighbours read around a territory so that the decree's 2 500 m² clusters are not cut at its border.
DECREE_MARGIN_M = 1000.0


class FlowFields(TypedDict, total=False):
    """The flow figures of an entry, there with two millésimes; ``flux_message`` says why they are None."""

    artificialisation_ha: float | None
    desartificialisation_ha: float | None
    artificialisation_nette_ha: float | None
    artificialisation_pct: float | None
    desartificialisation_pct: float | None
    artificialisation_nette_pct: float | None
    methode_flux: str
    flux_non_classes_ha: float
    #: ``Transition`` fields, one mapping per CS/US transition.
    flux_par_transition: list[dict[str, Any]]
    flux_message: str


class Entry(FlowFields):
    """The indicators of one territory (or commune), as the document gives them."""

    code: str
    nom: str
    type: str
    surface_ha: float
    #: By millésime (as a string): the ``Stock`` fields less ``territoire``, or None where no rate can be given.
    stocks: dict[str, dict[str, Any] | None]
    surface_artificialisee_ha: float | None
    taux_artificialisation: float | None
    stock_disponible: bool
    stock_message: NotRequired[str]
    ecart_coherence_ha: NotRequired[float | None]


class Indicators(TypedDict):
    """The document the `artificialisation` process returns."""

    millesimes: list[int]
    territoires: list[Entry]
    communes: NotRequired[list[Entry]]


class Available(TypedDict):
    """The millésimes held for a territory's CRSs."""

    #: Stock millésimes (OCCUPATION_SOL or ARTIF), and those of IGN's ARTIF layer alone.
    stock: list[int]
    ign: list[int]
    #: (before, after) of the difference layers, and every year they name.
    pairs: list[tuple[int, int]]
    difference: list[int]


@dataclass(frozen=True)
class Request:
    """A request's inputs, each checked (the process passes them as received)."""

    store: FeatureStore
    years: list[int]
    resolved: ResolvedTerritory
    methode: str | None


def run(
    store: FeatureStore,
    territoire: object,
    millesimes: object,
    methode: str | None = None,
    detail_communes: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Indicators:
    """The indicators document for one request (validated here: the process passes its inputs as received).

    ``progress(done, total)`` is called after each step (a stock per millésime, then the flows), for progress bars
    and job status.
    """
    request = checked_request(store, territoire, millesimes, methode, detail_communes)
    years, resolved = request.years, request.resolved
    with LayerCache(store, resolved.territory) as data:
        available = checked_available(data, years)
        _prefetch(data, years, methode, available["ign"])
        if detail_communes:
            communes = _entries(data, list(resolved.communes), years, methode, progress)
            whole = _aggregate(resolved.territory, communes)
            return {
                "millesimes": years,
                "territoires": [_entry(resolved.territory, years, *whole)],
                "communes": [
                    _entry(commune, years, *figures)
                    for commune, figures in zip(resolved.communes, communes, strict=True)
                ],
            }
        figures = _entries(data, [resolved.territory], years, methode, progress)[0]
        return {"millesimes": years, "territoires": [_entry(resolved.territory, years, *figures)]}


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


def checked_available(data: LayerCache, years: list[int]) -> Available:
    """``available_millesimes``, after checking that ``years`` can be computed from them."""
    available = available_millesimes(data)
    missing = [y for y in years if y not in available["stock"] and y not in available["difference"]]
    if missing:
        raise InvalidInputError(
            f"millésime {missing[0]} is not ingested for this territory; stock millésimes: "
            f"{_listing(available['stock'])}; difference millésimes: {_listing(available['difference'])}"
        )
    if (
        len(years) == 2
        and (years[0], years[1]) not in available["pairs"]
        and not (years[0] in available["stock"] and years[1] in available["stock"])
    ):
        raise InvalidInputError(
            f"no flows can be computed between {years[0]} and {years[1]}: no difference layer "
            f"for that pair (pairs: {_listing(available['pairs'])}) and no stock for both"
        )
    return available


def available_millesimes(data: LayerCache) -> Available:
    """Stock millésimes (all, and those of IGN's ARTIF layer), difference millésimes and pairs held for the CRSs
    of the territory.

    The difference layers are read through the cache, so the flows computed next reuse them.
    """
    held: dict[str, set[int]] = {OCCUPATION_SOL.table: set(), ARTIF.table: set()}
    tables = data.store.tables()
    for epsg in data.territory.epsgs:
        for layer in (OCCUPATION_SOL, ARTIF):
            if table_name(layer, epsg) in tables:
                held[layer.table] |= _integers(data.store.distinct(layer, epsg, "millesime"))
    pairs = {
        pair
        for layer in (DIFFERENCE, ARTIF_DIFFERENCE)
        for frame in data.frames(layer)
        for pair in zip(
            frame.millesime_avant.dropna().astype(int), frame.millesime_apres.dropna().astype(int), strict=False
        )
    }
    return {
        "stock": sorted(held[OCCUPATION_SOL.table] | held[ARTIF.table]),
        "ign": sorted(held[ARTIF.table]),
        "pairs": sorted(pairs),
        "difference": sorted({y for p in pairs for y in p}),
    }


def territory_bbox(territory: Territory, epsg: int, margin_m: float = 0.0) -> tuple[float, float, float, float]:
    """Bounds of the parts of ``territory`` in ``epsg``, widened by ``margin_m``."""
    minx, miny, maxx, maxy = gpd.GeoSeries([p.geometry for p in territory.parts_in(epsg)]).total_bounds
    return minx - margin_m, miny - margin_m, maxx + margin_m, maxy + margin_m


#: A read of the cache: table, CRS, margin (m) and the ``equals`` filter.
_ReadKey = tuple[str, int, float, tuple[tuple[str, object], ...]]


class LayerCache:
    """Layers read once per request for the whole territory, then shared by its communes.

    Reads run one after the other in a background thread, so a millésime is read while the previous one is
    computed (reading holds the GIL, the geometry work mostly does not). Use it as a context manager.
    """

    def __init__(self, store: FeatureStore, territory: Territory) -> None:
        self.store = store
        self.territory = territory
        self._reads: dict[_ReadKey, Future[gpd.GeoDataFrame]] = {}
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="ocsge-read")
        self._stock_cache: dict[tuple[int, str], list[gpd.GeoDataFrame]] = {}

    def __enter__(self) -> LayerCache:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._reader.shutdown(wait=False, cancel_futures=True)

    def stock_frames(self, year: int, method: str) -> list[gpd.GeoDataFrame]:
        """OCCUPATION_SOL of ``year``; with the decree method, its status is decided once for all communes."""
        key = (year, method)
        if key not in self._stock_cache:
            frames = self.frames(OCCUPATION_SOL, _margin(method), millesime=year)
            if method == DECREE:
                frames = [with_decree_status(f) if len(f) else f for f in frames]
            self._stock_cache[key] = frames
        return self._stock_cache[key]

    def prefetch(self, layer: Layer, margin_m: float = 0.0, **equals: object) -> None:
        """Start reading ``layer`` (features with the ``equals`` values) in every CRS of the territory."""
        tables = self.store.tables()
        for epsg in self.territory.epsgs:
            key: _ReadKey = (layer.table, epsg, margin_m, tuple(sorted(equals.items())))
            if table_name(layer, epsg) in tables and key not in self._reads:
                bbox = territory_bbox(self.territory, epsg, margin_m)
                # in the caller's context: a job's reads keep its lifted store time limit (stores/timeout.py)
                self._reads[key] = self._reader.submit(
                    contextvars.copy_context().run, self.store.read_frame, layer, epsg, bbox, equals
                )

    def frames(self, layer: Layer, margin_m: float = 0.0, **equals: object) -> list[gpd.GeoDataFrame]:
        """``layer`` in every CRS of the territory where the store has it."""
        self.prefetch(layer, margin_m, **equals)
        keys: list[_ReadKey] = [
            (layer.table, epsg, margin_m, tuple(sorted(equals.items()))) for epsg in self.territory.epsgs
        ]
        return [self._reads[key].result() for key in keys if key in self._reads]


def _margin(method: str) -> float:
    return DECREE_MARGIN_M if method == DECREE else 0.0


def _prefetch(data: LayerCache, years: list[int], methode: str | None, ign_years: list[int]) -> None:
    """Queue the stock layers in the order they will be computed."""
    for year in years:
        if year in ign_years and methode in (None, IGN):
            data.prefetch(ARTIF, millesime=year)
        else:
            data.prefetch(OCCUPATION_SOL, _margin(methode or DECREE), millesime=year)


#: The figures of one territory: its stock per millésime (None: no stock layer) and its flows (None: no flows).
Figures = tuple[dict[int, Stock | None], Flows | None]


def _entries(
    data: LayerCache,
    territories: list[Territory],
    years: list[int],
    methode: str | None,
    progress: Callable[[int, int], None] | None,
) -> list[Figures]:
    """Stocks and flows of every territory, each layer measured once for all of them."""
    steps = len(years) + (len(years) == 2)
    stocks: dict[int, Sequence[Stock | None]] = {}
    for done, year in enumerate(years):
        stocks[year] = _stocks(data, territories, year, methode)
        if progress:
            progress(done + 1, steps)
    flows: Sequence[Flows | None] = [None] * len(territories)
    if len(years) == 2:
        flows = _flows(data, territories, years, methode)
        if progress:
            progress(steps, steps)
    return [({year: stocks[year][position] for year in years}, flows[position]) for position in range(len(territories))]


def _aggregate(territory: Territory, parts: list[Figures]) -> Figures:
    """Figures of a territory from those of its communes: Σ areas / Σ areas, as the official tool aggregates."""
    stocks: dict[int, Stock | None] = {}
    for year in parts[0][0]:
        found = _every([p[0][year] for p in parts])
        stocks[year] = None if found is None else aggregate_stocks(found, territory.code)
    flows = _every([p[1] for p in parts])
    return stocks, None if flows is None else aggregate_flows(flows, territory.code)


def _every[T](items: list[T | None]) -> list[T] | None:
    """``items`` when each is there (then they can be aggregated), else None."""
    present = [item for item in items if item is not None]
    return present if len(present) == len(items) else None


def _entry(territory: Territory, years: list[int], stocks: dict[int, Stock | None], flows: Flows | None) -> Entry:
    refusals = {year: _refusal(year, stock) for year, stock in stocks.items()}
    stocks = {year: (None if refusals[year] else stock) for year, stock in stocks.items()}
    latest, refusal = stocks[years[-1]], refusals[years[-1]]
    entry: Entry = {
        "code": territory.code,
        "nom": territory.nom,
        "type": territory.kind,
        "surface_ha": round(territory.surface_m2 / 10_000, 4),
        "stocks": {str(year): (_stock_fields(s) if s else None) for year, s in stocks.items()},
        "surface_artificialisee_ha": latest.surface_artificialisee_ha if latest else None,
        "taux_artificialisation": latest.taux_artificialisation if latest else None,
        "stock_disponible": latest is not None,
    }
    if refusal is not None:  # exactly when there is no latest stock: _refusal gives a reason for a missing one
        entry["stock_message"] = refusal + (
            "; the flows come from the difference layer" if len(years) == 2 and flows else ""
        )
    if len(years) == 2:
        _set_flow_fields(entry, flows)
        before, after = stocks[years[0]], stocks[years[1]]
        entry["ecart_coherence_ha"] = (
            round(consistency_gap_ha(flows, before, after), 4) if flows and before and after else None
        )
    return entry


def _stocks(data: LayerCache, territories: list[Territory], year: int, methode: str | None) -> Sequence[Stock | None]:
    """Stocks before the coverage check, so that communes can be aggregated first."""
    source = stock_layers(data, year, methode)
    if source is None:
        return [None] * len(territories)
    frames, method = source
    return compute_all_stocks(frames, territories, method)


def stock_layers(data: LayerCache, year: int, methode: str | None) -> tuple[list[gpd.GeoDataFrame], str] | None:
    """The layers a stock of ``year`` is computed from and the method that applies; None when none is ingested."""
    artif = data.frames(ARTIF, millesime=year) if methode in (None, IGN) else []
    if artif and all(len(f) for f in artif):
        return artif, IGN
    if methode == IGN:
        raise InvalidInputError(
            f"methode ign needs IGN's ARTIF layer for {year}, which is not ingested; use decree or matrix"
        )
    method = methode or DECREE
    frames = data.stock_frames(year, method)
    if not frames or not all(len(f) for f in frames):
        return None
    return frames, method


def _refusal(year: int, stock: Stock | None) -> str | None:
    """Why ``stock`` gives no rate (the coverage found), or None when its layer covers the territory."""
    needed = f"a rate needs {MIN_COVERAGE * 100:g} %"
    if stock is None:
        return f"no OCCUPATION_SOL or ARTIF polygon of millésime {year} is ingested over the territory; {needed}"
    share, layer = coverage(stock) * 100, "ARTIF" if stock.methode == IGN else "OCCUPATION_SOL"
    if share < MIN_COVERAGE * 100:
        return f"{math.floor(share * 10) / 10:.1f} % of the territory is covered by {layer} {year}; {needed}"
    if share > MAX_COVERAGE * 100:
        return (
            f"the {layer} {year} polygons add up to {math.ceil(share * 10) / 10:.1f} % of the territory: they "
            f"overlap (ocsge ingest reports overlaps per layer); {needed} to {MAX_COVERAGE * 100:g} %"
        )
    return None


def _flows(
    data: LayerCache, territories: list[Territory], years: list[int], methode: str | None
) -> Sequence[Flows | None]:
    y1, y2 = years
    for layer, method in ((ARTIF_DIFFERENCE, IGN), (DIFFERENCE, "matrix")):
        if methode == IGN and layer is DIFFERENCE:
            continue
        frames = [f[(f.millesime_avant == y1) & (f.millesime_apres == y2)] for f in data.frames(layer)]
        if frames and all(len(f) for f in frames):
            return compute_all_flows(frames, territories, method)
    return [None] * len(territories)


def _stock_fields(stock: Stock) -> dict[str, Any]:
    fields = asdict(stock)
    fields.pop("territoire")
    return fields


def _set_flow_fields(entry: Entry, flows: Flows | None) -> None:
    entry["artificialisation_ha"] = flows.artificialisation_ha if flows else None
    entry["desartificialisation_ha"] = flows.desartificialisation_ha if flows else None
    entry["artificialisation_nette_ha"] = flows.artificialisation_nette_ha if flows else None
    entry["artificialisation_pct"] = flows.artificialisation_pct if flows else None
    entry["desartificialisation_pct"] = flows.desartificialisation_pct if flows else None
    entry["artificialisation_nette_pct"] = flows.artificialisation_nette_pct if flows else None
    if flows is None:
        entry["flux_message"] = "no difference layer for this pair of millésimes"
        return
    entry["methode_flux"] = flows.methode
    entry["flux_non_classes_ha"] = flows.surface_non_classee_ha
    entry["flux_par_transition"] = [asdict(t) for t in flows.transitions]


def _millesimes(value: object) -> list[int]:
    if (
        not isinstance(value, list)
        or not 1 <= len(value) <= 2
        or not all(isinstance(v, int) and not isinstance(v, bool) for v in value)
    ):
        raise InvalidInputError(
            "millesimes must be a list of one year (stock) or two years (stocks and flows), "
            f"e.g. [2018] or [2015, 2018]; got {value!r}"
        )
    if len(value) == 2 and value[0] >= value[1]:
        raise InvalidInputError(f"millesimes must be increasing, got {value}")
    return list(value)


def _integers(values: Iterable[object]) -> set[int]:
    """The values of an integer column (``millesime`` is one in every store)."""
    found = set()
    for value in values:
        if not isinstance(value, int):
            raise TypeError(f"expected the integers of an integer column, got {value!r}")
        found.add(value)
    return found


def _listing(values: Iterable[object]) -> str:
    return ", ".join(map(str, values)) or "none"
