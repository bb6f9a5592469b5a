"""Cartographic generalisation of a layer for one zoomed-out tile, the way a 1:500 000 land-cover map is drawn.

A zoomed-out tile over a département would hold ~100 000 polygons, most of them smaller than a screen pixel. Here
the polygons of one class (the same values of every attribute a tile carries but the identifier) are dissolved
inside the tile and simplified to a fraction of a rendered pixel. The patches smaller than a pixel, and those
narrower than two tile units (roads and hedges at low zooms, which the tile grid would collapse), are not drawn one
by one but aggregated: per class and per cell of :data:`CELL_PIXELS` pixels, one square of the area they hold in
that cell, at their area-weighted centre (a dot map of scattered buildings, kept inside its cell). So the area of
each class in a tile stays that of the full-resolution data (only simplification moves boundaries) while a tile
holds a few features per class, which bounds its size. The most zoomed-out zooms (:func:`level_of`) are coarser:
a pixel of simplification, and every patch narrower than two pixels aggregated, so that a tile over a dense
département stays under the size budget.

Tiles are generalised from the tile's own polygons at the deepest cached zoom and from their four children's
generalised features above it (a pyramid): a zoom-0 tile never reads the 1.75 M polygons under it. Geometries are
in EPSG:3857 and clipped to the tile's exact bounds, so that the children of a tile fit edge to edge.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from .matrix import EXTENT, RENDERED_PIXELS, tile_bounds, tile_span

#: Names the generalisation the cached tiles were made by: a build empties a cache made by another (its tiles stay
#: fresh until their data changes, so a change of method alone would never reach them). Change it with the method.
METHOD = "2026-12-05: zooms 0-9 coarse"
#: Side, in rendered pixels, of the cells in which sub-pixel patches of one class are aggregated into one square.
CELL_PIXELS = 8
#: Douglas–Peucker tolerance in rendered pixels: one tile unit (4096 units on 512 pixels), the grid the encoder
#: rounds to anyway. Half a pixel (the live tiles') cannot be seen, but on the corridors a few units wide that make
#: some classes (roads, rivers, hedges) it cuts corners on both sides and takes 5-25 % of their area per zoom,
#: compounding up the pyramid; one unit keeps each class's area within a few percent (tests/tiles/test_generalise.py).
TOLERANCE_PIXELS = 1 / 8
#: A class's properties: the values of the tile's fields but the identifier, in field order.
ClassKey = tuple[object, ...]
#: Shapely geometries in a numpy object array.
Geometries = NDArray[np.object_]


@dataclass(frozen=True)
class Level:
    """How coarse a zoom's generalisation is: the simplification tolerance, the side of the aggregation cells (both
    in rendered pixels) and the area (in square pixels) under which a patch is aggregated rather than drawn."""

    tolerance_pixels: float = TOLERANCE_PIXELS
    cell_pixels: int = CELL_PIXELS
    min_pixels: float = 1.0
    #: Mean width (in pixels) under which a patch is aggregated, judged before simplifying; None: judged after
    #: simplifying, at two tile units.
    width_pixels: float | None = None


#: Zooms up to this one are generalised coarsely (:data:`COARSE`): at full scale (1.75 M polygons over Gironde) their
#: densest tiles held 520 KiB to 1.3 MiB, mostly the 100 m steps of large patches' boundaries, which the fine
#: tolerance (a tile unit, 19-76 m at zooms 9-7) keeps; zoom 10's densest tile held 412 KiB.
LAST_COARSE_ZOOM = 9
#: Simplified by a whole pixel, which smooths those steps away; simplifying thin patches so would take 10-20 % of
#: some classes' area (measured on Gironde), so patches narrower than two pixels, judged before simplifying, go to
#: the squares with their whole area (bench/tile_budget.py: 953 KiB to 396 KiB at 9/255/184, class areas still
#: within 5 %).
COARSE = Level(tolerance_pixels=1.0, width_pixels=2.0)


def level_of(z: int) -> Level:
    """The generalisation of zoom ``z``."""
    return COARSE if z <= LAST_COARSE_ZOOM else Level()


@dataclass(frozen=True)
class Generalised:
    """The features of one generalised tile: per feature its class's properties and a geometry (EPSG:3857)."""

    fields: tuple[str, ...]
    keys: list[ClassKey]
    geometries: Geometries

    def properties(self) -> list[dict[str, object]]:
        return [dict(zip(self.fields, key, strict=True)) for key in self.keys]


def generalise(
    fields: Sequence[str],
    keys: Sequence[ClassKey],
    geometries: Geometries,
    z: int,
    x: int,
    y: int,
    level: Level | None = None,
) -> Generalised:
    """The generalised features of tile z/x/y from polygons (EPSG:3857) and the class of each.

    The polygons may be the layer's own or the generalised features of the four child tiles: both are clipped to the
    tile, dissolved per class, simplified and their sub-pixel patches aggregated.
    """
    bounds = tile_bounds(z, x, y)
    clipped = shapely.clip_by_rect(np.asarray(geometries, dtype=object), *bounds)
    # clipping can leave lines and points beside the polygons (in a collection): only the polygons are drawn
    parts, index = shapely.get_parts(clipped, return_index=True)
    keep = (shapely.get_type_id(parts) == shapely.GeometryType.POLYGON.value) & (shapely.area(parts) > 0)
    parts, index = parts[keep], index[keep]
    classes: dict[ClassKey, list[int]] = {}
    for position, feature in enumerate(index.tolist()):
        classes.setdefault(tuple(keys[feature]), []).append(position)
    pixel = tile_span(z) / RENDERED_PIXELS
    level = level or level_of(z)
    tolerance = pixel * level.tolerance_pixels
    unit = tile_span(z) / EXTENT
    out_keys: list[ClassKey] = []
    out_geoms: list[shapely.Geometry] = []
    for key in sorted(classes, key=repr):
        merged = _dissolve(parts[classes[key]])
        if level.width_pixels is not None:
            polygons, large = _coarse(merged, pixel, level)
        else:
            polygons = _polygons(shapely.simplify(merged, tolerance, preserve_topology=True))
            # drawn as they are: at least a pixel, and a mean width (2 · area / perimeter) of at least two tile units
            large = (shapely.area(polygons) >= level.min_pixels * pixel * pixel) & (
                shapely.area(polygons) >= unit * shapely.length(polygons)
            )
        areas = shapely.area(polygons)
        if large.any():
            out_keys.append(key)
            out_geoms.append(shapely.MultiPolygon(list(polygons[large])))
        if (~large & (areas > 0)).any():
            out_keys.append(key)
            out_geoms.append(_aggregate(polygons[~large], bounds, pixel * level.cell_pixels))
    return Generalised(tuple(fields), out_keys, np.array(out_geoms, dtype=object))


def _polygons(geometry: shapely.Geometry) -> Geometries:
    """The polygons of a geometry (a simplification can leave lines beside them)."""
    parts = shapely.get_parts(geometry)
    polygons: Geometries = parts[shapely.get_type_id(parts) == shapely.GeometryType.POLYGON.value]
    return polygons


def _coarse(merged: shapely.Geometry, pixel: float, level: Level) -> tuple[Geometries, NDArray[np.bool_]]:
    """A class's patches for a coarse zoom, and which are drawn as they are: the patches narrower than
    ``level.width_pixels`` (mean width) or smaller than ``level.min_pixels`` are picked before simplifying, so they
    go to the squares with their whole area; only the wide ones are simplified, which a coarse tolerance barely
    changes in area (it cuts and fills the boundary's small steps alike)."""
    patches = _polygons(merged)
    areas = shapely.area(patches)
    wide = (areas >= level.min_pixels * pixel * pixel) & (
        2 * areas >= (level.width_pixels or 0) * pixel * shapely.length(patches)
    )
    simplified = (
        _polygons(
            shapely.simplify(
                shapely.MultiPolygon(list(patches[wide])), pixel * level.tolerance_pixels, preserve_topology=True
            )
        )
        if wide.any()
        else patches[:0]
    )
    polygons: Geometries = np.concatenate([simplified, patches[~wide]])
    large = np.arange(len(polygons)) < len(simplified)
    return polygons, large


def _dissolve(polygons: Geometries) -> shapely.Geometry:
    """The union of one class's polygons: a coverage union when they tile the plane edge to edge (a partition such as
    OCS GE, clipped on the tile's grid: ten times faster), a full overlay otherwise (a child tile's pieces meeting
    their neighbours' at other vertices, or invalid input, repaired first)."""
    try:
        merged = shapely.coverage_union_all(polygons)
        if shapely.is_valid(merged):
            return merged
    except shapely.errors.GEOSException:
        pass
    try:
        return shapely.union_all(polygons)
    except shapely.errors.GEOSException:
        return shapely.union_all(shapely.make_valid(polygons))


def _aggregate(parts: Geometries, bounds: tuple[float, float, float, float], cell: float) -> shapely.Geometry:
    """One square per cell of side ``cell`` holding the area of the patches (or pieces of a thin network) centred
    there, at their area-weighted centre moved as little as needed to keep the square inside its cell (squares of one
    class never overlap, so the area drawn is the area summed)."""
    minx, miny = bounds[0], bounds[1]
    parts = _split_by_cells(parts, bounds, cell)
    areas = shapely.area(parts)
    centres = shapely.get_coordinates(shapely.centroid(parts))
    cells = np.floor((centres - (minx, miny)) / cell).astype(np.int64)
    columns = int(np.ceil((bounds[2] - minx) / cell))
    ids = cells[:, 1] * columns + cells[:, 0]
    unique, inverse = np.unique(ids, return_inverse=True)
    total = np.bincount(inverse, weights=areas)
    cx = np.bincount(inverse, weights=areas * centres[:, 0]) / total
    cy = np.bincount(inverse, weights=areas * centres[:, 1]) / total
    half = np.sqrt(total) / 2
    left = minx + (unique % columns) * cell
    bottom = miny + (unique // columns) * cell
    cx = np.clip(cx, left + half, left + cell - half)
    cy = np.clip(cy, bottom + half, bottom + cell - half)
    squares = shapely.box(cx - half, cy - half, cx + half, cy + half)
    multi = shapely.MultiPolygon(list(squares))
    # a class that fills a cell (coarse zooms aggregate whole patches) draws a square touching its neighbours
    # along an edge: merged, as a valid multipolygon must be
    return multi if shapely.is_valid(multi) else _dissolve(squares)


def _split_by_cells(parts: Geometries, bounds: tuple[float, float, float, float], cell: float) -> Geometries:
    """``parts`` cut along the cell grid where they span several cells (a thin network), so that each cell gets the
    area it holds."""
    minx, miny = bounds[0], bounds[1]
    box = shapely.bounds(parts)
    first = np.floor((box[:, :2] - (minx, miny)) / cell)
    last = np.floor((box[:, 2:] - (minx, miny)) / cell)
    single = (first == last).all(axis=1)
    pieces = [parts[single]]
    for part, (i0, j0), (i1, j1) in zip(parts[~single], first[~single], last[~single], strict=True):
        for i, j in itertools.product(range(int(i0), int(i1) + 1), range(int(j0), int(j1) + 1)):
            x0, y0 = minx + i * cell, miny + j * cell
            pieces.append(np.array([_clip(part, (x0, y0, x0 + cell, y0 + cell))], dtype=object))
    split = np.concatenate(pieces)
    return split[shapely.area(split) > 0]


def _clip(polygon: shapely.Geometry, box: tuple[float, float, float, float]) -> shapely.Geometry:
    """``polygon`` inside ``box``: the fast rectangle clip, or a full intersection where the fast one cannot build
    a ring (a degenerate one left by simplification)."""
    try:
        return shapely.clip_by_rect(polygon, *box)
    except shapely.errors.GEOSException:
        return shapely.intersection(shapely.make_valid(polygon), shapely.box(*box))
