"""Areas of OCS GE polygons inside a territory, each layer measured in its own projected CRS.

As the official tool does (sparte ``occupation_du_sol_commune.sql``): intersect the polygons with the territory,
take the planar area in the département's CRS. A polygon across two communes is split between them.
"""

from __future__ import annotations

from collections.abc import Sequence

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InvalidInputError
from .territory import Territory, TerritoryPart

Layers = gpd.GeoDataFrame | Sequence[gpd.GeoDataFrame]

M2_PER_HA = 10_000.0


def layers_by_epsg(layers: Layers, territory: Territory) -> dict[int, gpd.GeoDataFrame]:
    """The layers for each CRS of ``territory``, concatenated per CRS; a CRS of the territory with no layer fails."""
    frames = [layers] if isinstance(layers, gpd.GeoDataFrame) else list(layers)
    grouped: dict[int, list[gpd.GeoDataFrame]] = {}
    for frame in frames:
        epsg = frame.crs.to_epsg() if frame.crs is not None else None
        if epsg is None:
            raise InvalidInputError(f"an OCS GE layer has no EPSG CRS ({frame.crs}); areas need the département's "
                                    "projected CRS")
        grouped.setdefault(epsg, []).append(frame)
    missing = [epsg for epsg in territory.epsgs if epsg not in grouped]
    if missing:
        raise InvalidInputError(
            f"territory {territory.code} has parts in EPSG:{', EPSG:'.join(map(str, missing))} but no layer in that "
            f"CRS was given (layers in: {', '.join(f'EPSG:{e}' for e in grouped) or 'none'})"
        )
    return {
        epsg: group[0] if len(group) == 1 else pd.concat(group, ignore_index=True)
        for epsg, group in grouped.items()
        if epsg in territory.epsgs
    }


def areas_inside(frame: gpd.GeoDataFrame, parts: Sequence[TerritoryPart]) -> pd.Series:
    """Area in m² of each polygon of ``frame`` inside ``parts`` (summed over parts), 0 outside."""
    geoms = np.asarray(frame.geometry.array, dtype=object)
    area = np.zeros(len(geoms))
    tree = shapely.STRtree(geoms)
    for part in parts:
        inside = tree.query(part.geometry, predicate="contains_properly")
        area[inside] += shapely.area(geoms[inside])
        crossing = np.setdiff1d(tree.query(part.geometry, predicate="intersects"), inside, assume_unique=True)
        area[crossing] += shapely.area(shapely.intersection(geoms[crossing], part.geometry))
    return pd.Series(area, index=frame.index, name="area_m2")


def percent(part_ha: float, whole_ha: float) -> float:
    """``part_ha`` as a % of ``whole_ha`` (0 for an empty territory)."""
    return part_ha / whole_ha * 100 if whole_ha else 0.0
