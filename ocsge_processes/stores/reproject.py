"""Bulk reprojection of a page of geometries, with the axis order each CRS defines (OGC API Features Part 2)."""

from __future__ import annotations

import functools

import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray


@functools.lru_cache(maxsize=64)
def transformer(source_epsg: int, target_wkt: str) -> pyproj.Transformer:
    """A cached transformer; the authority axis order is kept, so EPSG:4326 comes out as latitude, longitude."""
    return pyproj.Transformer.from_crs(pyproj.CRS.from_epsg(source_epsg), pyproj.CRS.from_wkt(target_wkt))


def reproject(geoms: NDArray[np.object_], source_epsg: int, target: pyproj.CRS | None) -> NDArray[np.object_]:
    """``geoms`` from ``source_epsg`` to ``target`` in one vectorised call (unchanged when target is None)."""
    if target is None or target == pyproj.CRS.from_epsg(source_epsg):
        return geoms
    return transform(geoms, transformer(source_epsg, target.to_wkt()))


def transform(geoms: NDArray[np.object_], tr: pyproj.Transformer) -> NDArray[np.object_]:
    """``geoms`` through ``tr``, every coordinate of the array in one call."""

    def apply(coords: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = tr.transform(coords[:, 0], coords[:, 1])
        return np.column_stack([x, y])

    moved: NDArray[np.object_] = shapely.transform(geoms, apply)
    return moved
