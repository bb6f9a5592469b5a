"""The WebMercatorQuad tile matrix set (OGC Two Dimensional Tile Matrix Set, EPSG:3857, y counted from the top).

Tiles are addressed in Web Mercator but the layers are stored in their territory's CRS (Lambert-93 mostly): the
store is queried with the tile's box reprojected to that CRS, widened by the MVT buffer so that features crossing
a tile edge are clipped there rather than missing from the neighbour's margin.
"""

from __future__ import annotations

import functools
import math

import pyproj

from ..errors import InvalidInputError

TILE_MATRIX_SET = "WebMercatorQuad"
#: Half the width of the Web Mercator square (m): the matrix spans [-ORIGIN, ORIGIN] in x and y.
ORIGIN = 20037508.342789244
MAX_ZOOM = 24
MERCATOR_EPSG = 3857
#: Tile units per tile side and margin around it (tile units), as in ST_AsMVTGeom's defaults.
EXTENT = 4096
BUFFER = 64
#: Rendered size of a vector tile in screen pixels (MapLibre draws vector tiles at 512 px).
RENDERED_PIXELS = 512


def validate_tile(z: int, x: int, y: int) -> None:
    """Raise InvalidInputError naming the valid range unless z/x/y address a tile of the matrix set."""
    for name, value in (("zoom", z), ("column", x), ("row", y)):
        if not isinstance(value, int) or isinstance(value, bool):
            raise InvalidInputError(f"tile {name} must be an integer, got {value!r}")
    if not 0 <= z <= MAX_ZOOM:
        raise InvalidInputError(f"tile matrix {z} is out of range: {TILE_MATRIX_SET} has tile matrices 0 to {MAX_ZOOM}")
    last = 2**z - 1
    for name, value in (("column", x), ("row", y)):
        if not 0 <= value <= last:
            raise InvalidInputError(f"tile {name} {value} is out of range: tile matrix {z} has {name}s 0 to {last}")


def tile_span(z: int) -> float:
    """Side of a tile at zoom ``z`` in Web Mercator metres."""
    return 2 * ORIGIN / (1 << z)


def tile_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """(minx, miny, maxx, maxy) of a tile in EPSG:3857; validates z/x/y first.

    Computed on zoom ``z``'s grid of tile units (:func:`grid_x`, :func:`grid_y`), so that the edge two neighbours
    share is the same float in both: the generalised pyramid unions pieces clipped on either side of it.
    """
    validate_tile(z, x, y)
    return grid_x(z, x * EXTENT), grid_y(z, (y + 1) * EXTENT), grid_x(z, (x + 1) * EXTENT), grid_y(z, y * EXTENT)


def grid_x(z: int, units: float) -> float:
    """Web Mercator x of a position ``units`` tile units of zoom ``z`` east of the matrix's west edge."""
    return -ORIGIN + units * (2 * ORIGIN / (EXTENT << z))


def grid_y(z: int, units: float) -> float:
    """Web Mercator y of a position ``units`` tile units of zoom ``z`` south of the matrix's north edge."""
    return ORIGIN - units * (2 * ORIGIN / (EXTENT << z))


def buffered_bounds(
    z: int, x: int, y: int, buffer: int = BUFFER, extent: int = EXTENT
) -> tuple[float, float, float, float]:
    """Tile bounds widened by ``buffer`` tile units on each side, in EPSG:3857."""
    minx, miny, maxx, maxy = tile_bounds(z, x, y)
    margin = tile_span(z) * buffer / extent
    return minx - margin, miny - margin, maxx + margin, maxy + margin


def simplify_tolerance(z: int) -> float:
    """Douglas–Peucker tolerance at zoom ``z`` (m): half a rendered pixel, below which detail cannot be seen."""
    return tile_span(z) / RENDERED_PIXELS / 2


def tile_query_bbox(z: int, x: int, y: int, epsg: int) -> tuple[float, float, float, float]:
    """The buffered tile as a bbox in the layer CRS ``epsg``, for the store's index query.

    The edges are densified before reprojection: a Mercator box is not a box in Lambert-93.
    """
    bounds = buffered_bounds(z, x, y)
    if epsg == MERCATOR_EPSG:
        return bounds
    minx, miny, maxx, maxy = _to_layer(epsg).transform_bounds(*bounds, densify_pts=21)
    if not all(map(math.isfinite, (minx, miny, maxx, maxy))):
        raise InvalidInputError(f"tile {z}/{x}/{y} lies outside the domain of EPSG:{epsg}")
    return minx, miny, maxx, maxy


@functools.lru_cache(maxsize=16)
def _to_layer(epsg: int) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(MERCATOR_EPSG, epsg, always_xy=True)
