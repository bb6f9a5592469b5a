"""The true shape, in the storage CRS, of a bbox or filter geometry a client sends in another CRS.

A straight edge in one CRS is a curve in another (a rectangle in degrees is bounded by arcs in Lambert-93), so
transforming only the vertices (or a bbox's two corners) selects the wrong features near the edges. Here each edge
is split until its transformed pieces follow the true curve to within :data:`MAX_DEVIATION`, after clipping the
shape to the region the storage CRS can hold data in (its area of use, with a margin), where every transform is
finite and smooth.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from ..errors import InvalidInputError

#: Rows of (x, y) coordinates.
Coordinates = NDArray[np.float64]

#: Largest distance, in storage CRS units (metres for every OCS GE territory CRS), between a transformed edge and
#: the true image of the client's edge: 0.1 mm, ten times finer than the millimetre to which IGN's OCS GE
#: coordinates are written, so no stored vertex can fall between the two.
MAX_DEVIATION = 1e-4
#: Degrees added around a storage CRS's area of use: data stored there lies inside the area of use (ingest
#: checks it), so clipping to this region keeps every feature a shape could meet, far from any edge effect.
AREA_MARGIN_DEG = 1.0
#: Bisection rounds at most (2**40 pieces an edge): edges inside the clip region converge in about 15.
_MAX_ROUNDS = 40
#: Vertices added to one shape at most: a bbox over all of France needs about 33 000; beyond this, a 400.
MAX_VERTICES = 500_000


def to_storage(geometry: BaseGeometry, source: pyproj.CRS, target: pyproj.CRS) -> BaseGeometry:
    """``geometry`` (coordinates in ``source``'s axis order) as the same set of places in ``target``.

    The shape is clipped to where ``target`` can hold data, then each edge is densified and transformed; the
    result is empty when the shape lies away from every place ``target`` covers.
    """
    if source == target:
        return geometry
    region = storage_region(source.to_wkt(), target.to_wkt())
    clipped = geometry if region.contains(geometry) else shapely.intersection(geometry, region)
    if clipped.is_empty:
        return clipped
    forward = _transformer(source.to_wkt(), target.to_wkt())
    budget = [MAX_VERTICES]
    return _transform_parts(clipped, lambda coords: _densified(coords, forward, budget))


def covers_storage_region(geometry: BaseGeometry, source: pyproj.CRS, target: pyproj.CRS) -> bool:
    """Whether ``geometry`` (in ``source``) covers every place ``target`` can hold data in: then it selects all."""
    return source != target and geometry.covers(storage_region(source.to_wkt(), target.to_wkt()))


@functools.lru_cache(maxsize=64)
def storage_region(source_wkt: str, target_wkt: str) -> BaseGeometry:
    """The area of use of ``target`` widened by :data:`AREA_MARGIN_DEG`, as a polygon in ``source`` coordinates.

    Its exact outline does not matter (no data lies near it), so its edges are simply cut every 0.1 degree.
    """
    area = pyproj.CRS.from_wkt(target_wkt).area_of_use
    if area is None:
        raise InvalidInputError("the storage CRS has no area of use: cannot reproject a query shape into it")
    region = shapely.segmentize(
        shapely.box(
            max(-180.0, area.west - AREA_MARGIN_DEG),
            max(-89.0, area.south - AREA_MARGIN_DEG),
            min(180.0, area.east + AREA_MARGIN_DEG),
            min(89.0, area.north + AREA_MARGIN_DEG),
        ),
        0.1,
    )
    forward = _transformer(pyproj.CRS.from_user_input("OGC:CRS84").to_wkt(), source_wkt)
    return shapely.transform(region, lambda c: np.column_stack(forward.transform(c[:, 0], c[:, 1])))


@functools.lru_cache(maxsize=64)
def _transformer(source_wkt: str, target_wkt: str) -> pyproj.Transformer:
    """Authority axis order on both sides (EPSG:4326 is latitude, longitude), as clients send and read them."""
    return pyproj.Transformer.from_crs(pyproj.CRS.from_wkt(source_wkt), pyproj.CRS.from_wkt(target_wkt))


def _transform_parts(geometry: BaseGeometry, transform: Callable[[Coordinates], Coordinates]) -> BaseGeometry:
    """``geometry`` with each ring and line rebuilt from ``transform`` of its coordinates (vertex counts change)."""
    if isinstance(geometry, shapely.Polygon):
        return _polygon(geometry, transform)
    if isinstance(geometry, shapely.LineString):
        return shapely.LineString(transform(_xy(geometry)))
    if isinstance(geometry, shapely.Point):
        return shapely.Point(transform(_xy(geometry))[0])
    if isinstance(geometry, shapely.MultiPolygon):
        return shapely.MultiPolygon([_polygon(part, transform) for part in geometry.geoms])
    if isinstance(geometry, shapely.MultiLineString):
        return shapely.MultiLineString([transform(_xy(part)) for part in geometry.geoms])
    if isinstance(geometry, shapely.MultiPoint):
        return shapely.MultiPoint([transform(_xy(part))[0] for part in geometry.geoms])
    if isinstance(geometry, shapely.GeometryCollection):
        return shapely.GeometryCollection([_transform_parts(part, transform) for part in geometry.geoms])
    raise InvalidInputError(f"cannot reproject a {geometry.geom_type} query shape")


def _polygon(polygon: shapely.Polygon, transform: Callable[[Coordinates], Coordinates]) -> shapely.Polygon:
    return shapely.Polygon(transform(_xy(polygon.exterior)), [transform(_xy(ring)) for ring in polygon.interiors])


def _xy(geometry: BaseGeometry) -> Coordinates:
    """The x, y columns of a point's, line's or ring's coordinates."""
    return np.asarray(geometry.coords, dtype=np.float64)[:, :2]


def _densified(source: Coordinates, forward: pyproj.Transformer, budget: list[int]) -> Coordinates:
    """The transformed vertices of a line, its edges bisected until each transformed piece lies within
    :data:`MAX_DEVIATION` of the true image of its edge, judged at the piece's midpoint (where a smooth curve
    departs most from its chord). ``budget`` counts the vertices still allowed for the whole shape."""
    target = _apply(forward, source)
    for _ in range(_MAX_ROUNDS):
        if len(source) < 2:
            return target
        mid_source = (source[:-1] + source[1:]) / 2
        mid_target = _apply(forward, mid_source)
        chord = target[1:] - target[:-1]
        offset = mid_target - target[:-1]
        length = np.hypot(chord[:, 0], chord[:, 1])
        cross = np.abs(chord[:, 0] * offset[:, 1] - chord[:, 1] * offset[:, 0])
        # Distance of the true midpoint from the transformed chord (from its start when the chord is a point).
        deviation = np.where(length > 0, cross / np.maximum(length, 1e-300), np.hypot(offset[:, 0], offset[:, 1]))
        split = np.flatnonzero(deviation > MAX_DEVIATION)
        if split.size == 0:
            return target
        budget[0] -= split.size
        if budget[0] < 0:
            raise InvalidInputError(
                f"a query shape needs more than {MAX_VERTICES} added vertices to be reprojected "
                "exactly; send it in the collection's storage CRS or make it smaller"
            )
        source = np.insert(source, split + 1, mid_source[split], axis=0)
        target = np.insert(target, split + 1, mid_target[split], axis=0)
    raise InvalidInputError(
        "a query shape cannot be reprojected exactly into the storage CRS (its edges do not "
        "converge); send it in the collection's storage CRS"
    )


def _apply(forward: pyproj.Transformer, coords: Coordinates) -> Coordinates:
    x, y = forward.transform(coords[:, 0], coords[:, 1])
    out = np.column_stack([x, y])
    if not np.isfinite(out).all():
        raise InvalidInputError("a query shape reprojects to infinite coordinates in the storage CRS")
    return out
