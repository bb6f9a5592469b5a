"""The three ways to decide whether a polygon is artificialised, and which one applies by default.

* ``ign``: IGN's OCS GE Artificialisation layer, where IGN applied the decree thresholds (field ``artif``); this is what
  the official tool publishes (sparte ``occupation_du_sol_with_artif.sql``).
* ``decree``: our own application of the thresholds of the annex to R.101-1 to OCCUPATION_SOL (``thresholds``).
* ``matrix``: the CS × US matrix alone, without thresholds.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import pandas as pd

from ..errors import InvalidInputError
from .rules import artificial_flags
from .thresholds import CODE_COLUMNS, apply_thresholds

IGN, DECREE, MATRIX = "ign", "decree", "matrix"
METHODS: tuple[str, ...] = (IGN, DECREE, MATRIX)

#: Values of IGN's ``artif`` field.
IGN_ARTIF_VALUES: dict[str, bool] = {"artif": True, "non artif": False}


def resolve_method(frames: Sequence[gpd.GeoDataFrame], method: str | None) -> str:
    """``method`` checked, or the default: ``ign`` when every layer carries IGN's ``artif`` field, else ``decree``."""
    if method is None:
        return IGN if all("artif" in frame.columns for frame in frames) else DECREE
    if method not in METHODS:
        raise InvalidInputError(f"unknown artificialisation method {method!r}; expected one of {', '.join(METHODS)}")
    return method


def artificial_status(polygons: gpd.GeoDataFrame, method: str) -> pd.Series:
    """Whether each polygon is artificialised under ``method``: nullable booleans, NA where it cannot be told."""
    if method == IGN:
        return _ign_status(polygons)
    missing = [column for column in CODE_COLUMNS if column not in polygons.columns]
    if missing:
        raise InvalidInputError(f"the {method} method needs columns {', '.join(missing)}")
    if method == DECREE:
        if "artif" in polygons.columns and pd.api.types.is_bool_dtype(polygons["artif"]):
            return polygons["artif"].astype("boolean")  # already decided by apply_thresholds (see with_decree_status)
        return apply_thresholds(polygons)["artif"]
    return artificial_flags(polygons["code_cs"], polygons["code_us"])


def with_decree_status(polygons: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``polygons`` with the decree's boolean ``artif`` column, so that many territories cut from one layer (every
    commune of a département) share one run of the thresholds instead of one each."""
    return polygons.assign(artif=apply_thresholds(polygons)["artif"])


def _ign_status(polygons: gpd.GeoDataFrame) -> pd.Series:
    if "artif" not in polygons.columns:
        raise InvalidInputError(
            "the ign method needs IGN's `artif` field (OCS GE Artificialisation layer); "
            "use method 'decree' on OCCUPATION_SOL"
        )
    values = polygons["artif"]
    if pd.api.types.is_bool_dtype(values):
        return values.astype("boolean")
    unknown = sorted(set(values.dropna()) - set(IGN_ARTIF_VALUES))
    if unknown:
        raise InvalidInputError(f"unexpected `artif` values {unknown}; IGN writes {', '.join(IGN_ARTIF_VALUES)}")
    return values.map(IGN_ARTIF_VALUES).astype("boolean")
