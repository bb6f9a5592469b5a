"""The artificialisation indicators of a territory, read from a store: what the `artificialisation` process and
`ocsge artificialisation` return.

Stocks come from OCCUPATION_SOL (or IGN's ARTIF layer, method `ign`), flows from the difference layers. Where a
millésime has no stock layer for the territory (only a DIFF was ingested, as for SYBARVAL), the stock fields say so
instead of failing or inventing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict

import geopandas as gpd

from ..artificialisation import DECREE, IGN, METHODS, Flows, Stock, Territory, compute_flows, compute_stock, \
    consistency_gap_ha, with_decree_status
from ..errors import InvalidInputError
from ..layers import ARTIF, ARTIF_DIFFERENCE, DIFFERENCE, OCCUPATION_SOL, Layer
from ..stores import FeatureStore, table_name
from .territories import resolve

#: Share of a territory the stock layer must cover for a rate to be given (real layers are partitions).
MIN_COVERAGE = 0.98

#: Neighbours read around a territory so that the decree's 2 500 m² clusters are not cut at its border.
DECREE_MARGIN_M = 1000.0


def run(store: FeatureStore, territoire: object, millesimes: object, methode: str | None = None,
        detail_communes: bool = False, progress: Callable[[int], None] | None = None) -> dict:
    """The indicators document for one request (validated here: the process passes its inputs as received).

    ``progress`` is called with the number of communes done, for progress bars and job status.
    """
    years = _millesimes(millesimes)
    if methode is not None and methode not in METHODS:
        raise InvalidInputError(f"unknown methode {methode!r}; expected one of {', '.join(METHODS)}")
    resolved = resolve(store, territoire)
    if detail_communes and not resolved.communes:
        raise InvalidInputError("detail_communes needs a territory made of communes (communes, epci or departement)")
    data = LayerCache(store, resolved.territory)
    available = available_millesimes(data)
    missing = [y for y in years if y not in available["stock"] and y not in available["difference"]]
    if missing:
        raise InvalidInputError(
            f"millésime {missing[0]} is not ingested for this territory; stock millésimes: "
            f"{_listing(available['stock'])}; difference millésimes: {_listing(available['difference'])}")
    if len(years) == 2 and (years[0], years[1]) not in available["pairs"] and not (
            years[0] in available["stock"] and years[1] in available["stock"]):
        raise InvalidInputError(f"no flows can be computed between {years[0]} and {years[1]}: no difference layer "
                                f"for that pair (pairs: {_listing(available['pairs'])}) and no stock for both")
    entries = [_entry(data, resolved.territory, years, methode)]
    document = {"millesimes": years, "territoires": entries}
    if detail_communes:
        document["communes"] = []
        for commune in resolved.communes:
            document["communes"].append(_entry(data, commune, years, methode))
            if progress:
                progress(len(document["communes"]))
    return document


def available_millesimes(data: LayerCache) -> dict[str, list]:
    """Stock millésimes, difference millésimes and pairs held for the CRSs of the territory.

    The difference layers are read through the cache, so the flows computed next reuse them.
    """
    stock: set[int] = set()
    tables = data.store.tables()
    for epsg in data.territory.epsgs:
        for layer in (OCCUPATION_SOL, ARTIF):
            if table_name(layer, epsg) in tables:
                stock |= set(data.store.distinct(layer, epsg, "millesime"))
    pairs = {pair for layer in (DIFFERENCE, ARTIF_DIFFERENCE) for frame in data.frames(layer)
             for pair in zip(frame.millesime_avant.dropna().astype(int), frame.millesime_apres.dropna().astype(int))}
    return {"stock": sorted(stock), "pairs": sorted(pairs), "difference": sorted({y for p in pairs for y in p})}


def territory_bbox(territory: Territory, epsg: int, margin_m: float = 0.0) -> tuple[float, float, float, float]:
    """Bounds of the parts of ``territory`` in ``epsg``, widened by ``margin_m``."""
    minx, miny, maxx, maxy = gpd.GeoSeries([p.geometry for p in territory.parts_in(epsg)]).total_bounds
    return minx - margin_m, miny - margin_m, maxx + margin_m, maxy + margin_m


class LayerCache:
    """Layers read once per request for the whole territory, then shared by its communes."""

    def __init__(self, store: FeatureStore, territory: Territory) -> None:
        self.store = store
        self.territory = territory
        self._cache: dict[tuple[str, int, float], gpd.GeoDataFrame] = {}
        self._stock_cache: dict[tuple[str, int, str], list[gpd.GeoDataFrame]] = {}

    def stock_frames(self, year: int, method: str) -> list[gpd.GeoDataFrame]:
        """OCCUPATION_SOL of ``year``; with the decree method, its status is decided once for all communes."""
        key = ("stock", year, method)
        if key not in self._stock_cache:
            margin = DECREE_MARGIN_M if method == DECREE else 0.0
            frames = [f[f.millesime == year] for f in self.frames(OCCUPATION_SOL, margin)]
            if method == DECREE:
                frames = [with_decree_status(f) if len(f) else f for f in frames]
            self._stock_cache[key] = frames
        return self._stock_cache[key]

    def frames(self, layer: Layer, margin_m: float = 0.0) -> list[gpd.GeoDataFrame]:
        tables = self.store.tables()
        frames = []
        for epsg in self.territory.epsgs:
            if table_name(layer, epsg) not in tables:
                continue
            key = (layer.table, epsg, margin_m)
            if key not in self._cache:
                bbox = territory_bbox(self.territory, epsg, margin_m)
                self._cache[key] = self.store.read_frame(layer, epsg, bbox)
            frames.append(self._cache[key])
        return frames


def _entry(data: LayerCache, territory: Territory, years: list[int], methode: str | None) -> dict:
    entry: dict = {"code": territory.code, "nom": territory.nom, "type": territory.kind,
                   "surface_ha": round(territory.surface_m2 / 10_000, 4)}
    stocks = {year: _stock(data, territory, year, methode) for year in years}
    entry["stocks"] = {str(year): (_stock_fields(s) if s else None) for year, s in stocks.items()}
    latest = stocks[years[-1]]
    entry["surface_artificialisee_ha"] = latest.surface_artificialisee_ha if latest else None
    entry["taux_artificialisation"] = latest.taux_artificialisation if latest else None
    entry["stock_disponible"] = latest is not None
    if latest is None:
        entry["stock_message"] = (f"no OCCUPATION_SOL or ARTIF layer covering the territory is ingested for "
                                  f"millésime {years[-1]}: the stock cannot be computed, only flows from the "
                                  "difference layer")
    if len(years) == 2:
        flows = _flows(data, territory, years, methode)
        entry.update(_flow_fields(flows))
        before, after = stocks[years[0]], stocks[years[1]]
        entry["ecart_coherence_ha"] = (round(consistency_gap_ha(flows, before, after), 4)
                                       if flows and before and after else None)
    return entry


def _stock(data: LayerCache, territory: Territory, year: int, methode: str | None) -> Stock | None:
    use_ign = methode in (None, IGN)
    artif = [f[f.millesime == year] for f in data.frames(ARTIF)] if use_ign else []
    if artif and all(len(f) for f in artif):
        return compute_stock(artif, territory, IGN)
    if methode == IGN:
        raise InvalidInputError(f"methode ign needs IGN's ARTIF layer for {year}, which is not ingested; "
                                "use decree or matrix")
    method = methode or DECREE
    frames = data.stock_frames(year, method)
    if not frames or not all(len(f) for f in frames):
        return None
    stock = compute_stock(frames, territory, method)
    return stock if _coverage(stock) >= MIN_COVERAGE else None


def _coverage(stock: Stock) -> float:
    """Share of the territory covered by the layer's polygons."""
    covered = sum(split.surface_ha for split in stock.par_categorie.values())
    return covered / stock.surface_ha if stock.surface_ha else 0.0


def _flows(data: LayerCache, territory: Territory, years: list[int], methode: str | None) -> Flows | None:
    y1, y2 = years
    for layer, method in ((ARTIF_DIFFERENCE, IGN), (DIFFERENCE, "matrix")):
        if methode == IGN and layer is DIFFERENCE:
            continue
        frames = [f[(f.millesime_avant == y1) & (f.millesime_apres == y2)] for f in data.frames(layer)]
        if frames and all(len(f) for f in frames):
            return compute_flows(frames, territory, method)
    return None


def _stock_fields(stock: Stock) -> dict:
    fields = asdict(stock)
    fields.pop("territoire")
    return fields


def _flow_fields(flows: Flows | None) -> dict:
    names = ("artificialisation_ha", "desartificialisation_ha", "artificialisation_nette_ha", "artificialisation_pct",
             "desartificialisation_pct", "artificialisation_nette_pct")
    if flows is None:
        return {name: None for name in names} | {"flux_message": "no difference layer for this pair of millésimes"}
    fields = {name: getattr(flows, name) for name in names}
    fields["methode_flux"] = flows.methode
    fields["flux_non_classes_ha"] = flows.surface_non_classee_ha
    fields["flux_par_transition"] = [asdict(t) for t in flows.transitions]
    return fields


def _millesimes(value: object) -> list[int]:
    if not isinstance(value, list) or not 1 <= len(value) <= 2 or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in value):
        raise InvalidInputError("millesimes must be a list of one year (stock) or two years (stocks and flows), "
                                f"e.g. [2018] or [2015, 2018]; got {value!r}")
    if len(value) == 2 and value[0] >= value[1]:
        raise InvalidInputError(f"millesimes must be increasing, got {value}")
    return list(value)


def _listing(values: list) -> str:
    return ", ".join(map(str, values)) or "none"
