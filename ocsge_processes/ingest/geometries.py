"""CRS of a source layer and its geometries as the store wants them: valid, non-empty, 2D MultiPolygons."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely
from pyproj import CRS
from shapely.geometry import GeometryCollection, MultiPolygon, Polygon
from shapely.geometry.base import BaseGeometry

from ..errors import DeliveryError
from .names import crs_token
from .placement import refuse_nonfinite

_POLYGON, _MULTIPOLYGON = shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON


def source_crs(file_crs: CRS | None, names: Sequence[str], source: str) -> CRS:
    """The file's CRS, else the one its IGN name announces (old SHP deliveries have no .prj); both must agree."""
    token = crs_token(names)
    if file_crs is None:
        if token is None:
            raise DeliveryError(
                f"{source}: no CRS: the file has none (a shapefile without .prj?) and its name has no CRS token "
                "(LAMB93, RGAF09UTM20, RGFG95UTM22, RGR92UTM40S, RGM04UTM38S); add the .prj or keep IGN's file name"
            )
        return CRS.from_epsg(token[1])
    if token is not None and not _same_crs(file_crs, token[1]):
        raise DeliveryError(
            f"{source}: the file's CRS ({file_crs.name}) contradicts the token {token[0]} (EPSG:{token[1]}) in its name"
        )
    return file_crs


def polygonal(geometries: np.ndarray, crs: CRS, source: str) -> tuple[np.ndarray, int]:
    """MultiPolygons of ``geometries``, None where nothing polygonal is left; and how many were repaired.

    Invalid geometries go through ``shapely.make_valid``, which may return collections with lines or points:
    only their polygons are kept. Infinite or NaN coordinates are refused first, since a repair would hide them.
    """
    geoms = np.array(geometries, dtype=object)
    if shapely.has_z(geoms).any():
        geoms = shapely.force_2d(geoms)
    invalid = ~shapely.is_valid(geoms) & ~shapely.is_missing(geoms)
    refuse_nonfinite(geoms, invalid, crs, source)
    if invalid.any():
        geoms[invalid] = shapely.make_valid(geoms[invalid])
    types = shapely.get_type_id(geoms)
    single = types == _POLYGON
    if single.any():
        geoms[single] = shapely.multipolygons(geoms[single], indices=np.arange(int(single.sum())))
    other = ~single & (types != _MULTIPOLYGON) & ~shapely.is_missing(geoms)
    geoms[other] = [_polygon_parts(geometry) for geometry in geoms[other]]
    geoms[shapely.is_missing(geoms) | shapely.is_empty(geoms)] = None
    return geoms, int(invalid.sum())


def _polygon_parts(geometry: BaseGeometry) -> MultiPolygon | None:
    parts: list[Polygon] = []
    pending = [geometry]
    while pending:
        current = pending.pop()
        if isinstance(current, Polygon) and not current.is_empty:
            parts.append(current)
        elif isinstance(current, (MultiPolygon, GeometryCollection)):
            pending.extend(reversed(current.geoms))
    return MultiPolygon(parts) if parts else None


def _same_crs(crs: CRS, epsg: int) -> bool:
    return crs.to_epsg() == epsg or crs.equals(CRS.from_epsg(epsg), ignore_axis_order=True)
