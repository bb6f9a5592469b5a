"""Artificialised stock of a territory at one millésime: areas, rate, and their breakdowns.

Every area here is one measure: Σ area(polygon ∩ territory) over the layer's polygons, planar in each part's CRS
(sparte ``merge_ocsge_commune.sql``). The covered area is that sum over all polygons, and both the coverage (covered
/ territory) and the rate (Σ over artificialised polygons / covered area × 100) use it, so that polygons overlapping
each other (reported at ingest) count in both terms alike instead of inflating the rate; on a partition the
covered area is the territory's. A larger territory is Σ areas / Σ areas, never a mean of rates.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from .impermeable import impermeable_codes
from .measure import M2_PER_HA, Layers, Pieces, measured, percent
from .methods import artificial_status, resolve_method
from .rules import CodePairs, rules
from .territory import Territory
from .thresholds import CODE_COLUMNS

#: Key of the polygons whose code is missing (CS, US) or whose codes give no decree category.
NOT_CLASSIFIED = "non classé"


@dataclass(frozen=True)
class AreaSplit:
    """Area of one class in the territory, and how much of it is artificialised and sealed (ha)."""

    surface_ha: float
    surface_artificialisee_ha: float
    surface_impermeabilisee_ha: float


@dataclass(frozen=True)
class Stock:
    """The artificialisation indicators of one territory at one millésime."""

    territoire: str
    methode: str
    surface_ha: float
    #: Σ of the layer's polygon areas inside the territory: the territory's area where the layer is a partition.
    surface_couverte_ha: float
    surface_artificialisee_ha: float
    #: surface_artificialisee_ha / surface_couverte_ha × 100.
    taux_artificialisation: float
    #: Area whose artificialisation cannot be told (missing or unknown codes); counted as not artificialised.
    surface_non_classee_ha: float
    #: Sealed area (couverture CS1.1.1.1 or CS1.1.1.2, ``impermeable``), whatever the method.
    surface_impermeabilisee_ha: float
    #: surface_impermeabilisee_ha / surface_couverte_ha × 100.
    taux_impermeabilisation: float
    #: By category of the annex to R.101-1 ("1" to "10"), by CS code and by US code.
    par_categorie: dict[str, AreaSplit]
    par_couverture: dict[str, AreaSplit]
    par_usage: dict[str, AreaSplit]


def compute_stock(layers: Layers, territory: Territory, method: str | None = None) -> Stock:
    """Stock of ``territory`` from OCCUPATION_SOL (or IGN ARTIF) polygons, one layer per CRS of the territory.

    ``method``: ``ign``, ``decree`` or ``matrix``; by default ``ign`` when the layers carry IGN's ``artif``, else
    ``decree``. The thresholds look at neighbours, so give whole départements (or a margin), not clipped polygons.
    """
    return compute_all_stocks(layers, [territory], method)[0]


def compute_all_stocks(
    layers: Layers,
    territories: Sequence[Territory],
    method: str | None = None,
    overlaid: Mapping[int, Pieces] | None = None,
) -> list[Stock]:
    """The stock of each of ``territories`` (every commune of a département) from one pass over the layers;
    ``overlaid``: their pieces, already cut (``measure.measured``)."""
    if not territories:
        return []
    measures = measured(layers, territories, method, resolve_method, _measure, overlaid)
    table = measures.table
    artificial_ha = measures.per_territory(table["artificial_m2"].to_numpy()) / M2_PER_HA
    covered_ha = measures.per_territory(table["area_m2"].to_numpy()) / M2_PER_HA
    unclassified_ha = measures.per_territory(table["area_m2"].to_numpy() * table["unclassified"].to_numpy()) / M2_PER_HA
    sealed_ha = measures.per_territory(table["impermeable_m2"].to_numpy()) / M2_PER_HA
    splits = {key: _splits(table, key, measures.count) for key in ("category", "code_cs", "code_us")}
    stocks = []
    for position, territory in enumerate(territories):
        surface_ha = territory.surface_m2 / M2_PER_HA
        stocks.append(
            Stock(
                territoire=territory.code,
                methode=measures.method,
                surface_ha=surface_ha,
                surface_couverte_ha=float(covered_ha[position]),
                surface_artificialisee_ha=float(artificial_ha[position]),
                taux_artificialisation=percent(float(artificial_ha[position]), float(covered_ha[position])),
                surface_non_classee_ha=float(unclassified_ha[position]),
                surface_impermeabilisee_ha=float(sealed_ha[position]),
                taux_impermeabilisation=percent(float(sealed_ha[position]), float(covered_ha[position])),
                par_categorie=splits["category"][position],
                par_couverture=splits["code_cs"][position],
                par_usage=splits["code_us"][position],
            )
        )
    return stocks


def aggregate_stocks(stocks: Sequence[Stock], territoire: str) -> Stock:
    """Stock of a territory made of non-overlapping ones (communes of an EPCI): Σ areas / Σ areas."""
    methods = {stock.methode for stock in stocks}
    if len(methods) != 1:
        raise InvalidInputError(f"cannot aggregate stocks computed with different methods: {sorted(methods)}")
    covered_ha = sum(stock.surface_couverte_ha for stock in stocks)
    artificial_ha = sum(stock.surface_artificialisee_ha for stock in stocks)
    sealed_ha = sum(stock.surface_impermeabilisee_ha for stock in stocks)
    return Stock(
        territoire=territoire,
        methode=methods.pop(),
        surface_ha=sum(stock.surface_ha for stock in stocks),
        surface_couverte_ha=covered_ha,
        surface_artificialisee_ha=artificial_ha,
        taux_artificialisation=percent(artificial_ha, covered_ha),
        surface_non_classee_ha=sum(stock.surface_non_classee_ha for stock in stocks),
        surface_impermeabilisee_ha=sealed_ha,
        taux_impermeabilisation=percent(sealed_ha, covered_ha),
        par_categorie=_sum_splits([stock.par_categorie for stock in stocks]),
        par_couverture=_sum_splits([stock.par_couverture for stock in stocks]),
        par_usage=_sum_splits([stock.par_usage for stock in stocks]),
    )


def coverage(stock: Stock) -> float:
    """Share of the territory its layer covers, by the same measure as the rate (above 1 where polygons overlap)."""
    return stock.surface_couverte_ha / stock.surface_ha if stock.surface_ha else 0.0


def _measure(frame: gpd.GeoDataFrame, pieces: Pieces, method: str) -> pd.DataFrame:
    """One row per piece of polygon inside a territory: which territory, its area there, artificialised area, codes
    and category."""
    missing = [column for column in CODE_COLUMNS if column not in frame.columns]
    if missing:
        raise InvalidInputError(f"the stock needs the OCS GE codes {', '.join(missing)} for its breakdowns")
    status = artificial_status(frame, method)
    known = ~status.isna().to_numpy()[pieces.row]
    flag = status.fillna(False).to_numpy(dtype=bool)[pieces.row]
    codes = CodePairs.of(frame["code_cs"], frame["code_us"]).take(pieces.row)
    category = codes.lookup(rules().category)  # 1 to 10, -1 where the codes leave a doubt
    return pd.DataFrame(
        {
            "territory": pieces.territory,
            "area_m2": pieces.area_m2,
            "artificial_m2": pieces.area_m2 * flag,
            "impermeable_m2": pieces.area_m2 * codes.couverture_in(impermeable_codes()),
            "unclassified": ~known,
            "category": _keys(np.where(category > 0, category - 1, -1), range(1, max(rules().categories) + 1)),
            "code_cs": _keys(codes.cs, codes.cs_values),
            "code_us": _keys(codes.us, codes.us_values),
        }
    )


def _keys(positions: np.ndarray, names: Iterable[object]) -> pd.Categorical[str]:
    """Positions among ``names`` as a categorical, -1 as "non classé": grouping a million rows by it is cheap."""
    categories = pd.Index([*map(str, names), NOT_CLASSIFIED])
    missing = len(categories) - 1
    return pd.Categorical.from_codes(
        np.where(positions < 0, missing, positions).astype(np.intp, copy=False), categories
    )


def _splits(table: pd.DataFrame, key: str, count: int) -> list[dict[str, AreaSplit]]:
    """Area, artificialised and sealed area by ``key`` value, for each territory."""
    columns = ["area_m2", "artificial_m2", "impermeable_m2"]
    sums = table.groupby(["territory", key], sort=False, observed=True)[columns].sum() / M2_PER_HA
    found: list[dict[str, AreaSplit]] = [{} for _ in range(count)]
    for (position, name), area, artificial, sealed in zip(sums.index, *(sums[c] for c in columns), strict=True):
        found[position][str(name)] = AreaSplit(float(area), float(artificial), float(sealed))
    return [{name: split[name] for name in sorted(split, key=_order)} for split in found]


def _sum_splits(splits: Sequence[dict[str, AreaSplit]]) -> dict[str, AreaSplit]:
    keys = sorted({key for split in splits for key in split}, key=_order)
    return {
        key: AreaSplit(
            sum(split[key].surface_ha for split in splits if key in split),
            sum(split[key].surface_artificialisee_ha for split in splits if key in split),
            sum(split[key].surface_impermeabilisee_ha for split in splits if key in split),
        )
        for key in keys
    }


def _order(key: str) -> tuple[bool, int, str]:
    """Categories in annex order (1 to 10), codes alphabetically, "non classé" last."""
    return (key == NOT_CLASSIFIED, int(key) if key.isdigit() else 0, key)
