"""Artificialised stock of a territory at one millésime: areas, rate, and their breakdowns.

Rate = Σ area(artificialised polygons ∩ territory) / area(territory) × 100, planar in each part's CRS (sparte
``merge_ocsge_commune.sql``); a larger territory is Σ areas / Σ areas, never a mean of rates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from .measure import M2_PER_HA, Layers, areas_inside, layers_by_epsg, percent
from .methods import artificial_status, resolve_method
from .rules import decree_categories
from .territory import Territory
from .thresholds import CODE_COLUMNS

#: Key of the polygons whose code is missing (CS, US) or whose codes give no decree category.
NOT_CLASSIFIED = "non classé"


@dataclass(frozen=True)
class AreaSplit:
    """Area of one class in the territory, and how much of it is artificialised (ha)."""

    surface_ha: float
    surface_artificialisee_ha: float


@dataclass(frozen=True)
class Stock:
    """The artificialisation indicators of one territory at one millésime."""

    territoire: str
    methode: str
    surface_ha: float
    surface_artificialisee_ha: float
    taux_artificialisation: float
    #: Area whose artificialisation cannot be told (missing or unknown codes); counted as not artificialised.
    surface_non_classee_ha: float
    #: By category of the annex to R.101-1 ("1" to "10"), by CS code and by US code.
    par_categorie: dict[str, AreaSplit]
    par_couverture: dict[str, AreaSplit]
    par_usage: dict[str, AreaSplit]


def compute_stock(layers: Layers, territory: Territory, method: str | None = None) -> Stock:
    """Stock of ``territory`` from OCCUPATION_SOL (or IGN ARTIF) polygons, one layer per CRS of the territory.

    ``method``: ``ign``, ``decree`` or ``matrix``; by default ``ign`` when the layers carry IGN's ``artif``, else
    ``decree``. The thresholds look at neighbours, so give whole départements (or a margin), not clipped polygons.
    """
    frames = layers_by_epsg(layers, territory)
    method = resolve_method(list(frames.values()), method)
    table = pd.concat([_measure(frame, territory, epsg, method) for epsg, frame in frames.items()], ignore_index=True)
    surface_ha = territory.surface_m2 / M2_PER_HA
    artificial_ha = float(table["artificial_m2"].sum()) / M2_PER_HA
    return Stock(
        territoire=territory.code,
        methode=method,
        surface_ha=surface_ha,
        surface_artificialisee_ha=artificial_ha,
        taux_artificialisation=percent(artificial_ha, surface_ha),
        surface_non_classee_ha=float(table.loc[table["unclassified"], "area_m2"].sum()) / M2_PER_HA,
        par_categorie=_split(table, "category"),
        par_couverture=_split(table, "code_cs"),
        par_usage=_split(table, "code_us"),
    )


def aggregate_stocks(stocks: Sequence[Stock], territoire: str) -> Stock:
    """Stock of a territory made of non-overlapping ones (communes of an EPCI): Σ areas / Σ areas."""
    methods = {stock.methode for stock in stocks}
    if len(methods) != 1:
        raise InvalidInputError(f"cannot aggregate stocks computed with different methods: {sorted(methods)}")
    surface_ha = sum(stock.surface_ha for stock in stocks)
    artificial_ha = sum(stock.surface_artificialisee_ha for stock in stocks)
    return Stock(
        territoire=territoire,
        methode=methods.pop(),
        surface_ha=surface_ha,
        surface_artificialisee_ha=artificial_ha,
        taux_artificialisation=percent(artificial_ha, surface_ha),
        surface_non_classee_ha=sum(stock.surface_non_classee_ha for stock in stocks),
        par_categorie=_sum_splits([stock.par_categorie for stock in stocks]),
        par_couverture=_sum_splits([stock.par_couverture for stock in stocks]),
        par_usage=_sum_splits([stock.par_usage for stock in stocks]),
    )


def _measure(frame: gpd.GeoDataFrame, territory: Territory, epsg: int, method: str) -> pd.DataFrame:
    """One row per polygon inside the territory: its area there, its artificialised area, codes and category."""
    missing = [column for column in CODE_COLUMNS if column not in frame.columns]
    if missing:
        raise InvalidInputError(f"the stock needs the OCS GE codes {', '.join(missing)} for its breakdowns")
    status = artificial_status(frame, method)
    area = areas_inside(frame, territory.parts_in(epsg))
    inside = (area > 0).to_numpy()
    status, frame, area = status[inside], frame[inside], area[inside]
    category = decree_categories(frame["code_cs"], frame["code_us"]).astype("string")
    return pd.DataFrame({
        "area_m2": area.to_numpy(),
        "artificial_m2": area.to_numpy() * status.fillna(False).to_numpy(dtype=bool),
        "unclassified": status.isna().to_numpy(),
        "category": _keys(category),
        "code_cs": _keys(frame["code_cs"]),
        "code_us": _keys(frame["code_us"]),
    })


def _keys(values: pd.Series) -> np.ndarray:
    return values.astype("string").fillna(NOT_CLASSIFIED).to_numpy(dtype=object)


def _split(table: pd.DataFrame, key: str) -> dict[str, AreaSplit]:
    sums = table.groupby(key)[["area_m2", "artificial_m2"]].sum() / M2_PER_HA
    splits = {str(name): AreaSplit(float(row.area_m2), float(row.artificial_m2)) for name, row in sums.iterrows()}
    return {name: splits[name] for name in sorted(splits, key=_order)}


def _sum_splits(splits: Sequence[dict[str, AreaSplit]]) -> dict[str, AreaSplit]:
    keys = sorted({key for split in splits for key in split}, key=_order)
    return {
        key: AreaSplit(
            sum(split[key].surface_ha for split in splits if key in split),
            sum(split[key].surface_artificialisee_ha for split in splits if key in split),
        )
        for key in keys
    }


def _order(key: str) -> tuple:
    """Categories in annex order (1 to 10), codes alphabetically, "non classé" last."""
    return (key == NOT_CLASSIFIED, int(key) if key.isdigit() else 0, key)
