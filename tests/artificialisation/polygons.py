"""Hand-built OCS GE polygons whose areas are exact (integer coordinates, rectangles)."""

from __future__ import annotations

import geopandas as gpd
from shapely.geometry.base import BaseGeometry


def layer(
    rows: list[tuple[str | None, str | None, BaseGeometry]], epsg: int = 2154, **columns: list
) -> gpd.GeoDataFrame:
    """An OCCUPATION_SOL-like layer from (code_cs, code_us, geometry) rows, plus any extra columns."""
    return gpd.GeoDataFrame(
        {"code_cs": [row[0] for row in rows], "code_us": [row[1] for row in rows], **columns},
        geometry=[row[2] for row in rows],
        crs=epsg,
    )
