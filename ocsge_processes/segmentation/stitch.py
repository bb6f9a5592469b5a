"""OCS GE polygons of a class raster of any size, tile by tile, stitched so that the result does not depend on the
tiles: the whole-raster vectoriser's rules (``vectorise``), in bounded memory.

1. **Units judged with a halo.** Each tile is read with ``halo`` px of its neighbours' pixels and the minimum units
   are applied there; only the tile's own pixels are kept. A patch that reaches the edge of that wider window (it
   goes on outside) is taken to meet every unit: a patch cut by a tile edge is judged on its whole area as long as
   it fits in the halo. The default halo is twice the side of the largest unit plus the zone construite's reach
   (700 px at 0.2 m), so a patch under its unit that reaches a tile's pixels is seen whole unless it is a strip
   longer than that (a thin road or hedge); only such strips can be judged otherwise than by the whole-raster
   vectoriser. Ties (a patch sharing as much boundary with two neighbours) go to the lower code in both.
2. **Pieces traced per tile** in the mosaic's pixel coordinates (exact integers), simplified as a coverage with the
   tile's outline fixed: every pixel corner on the tile's edges is kept, so that pieces on both sides of an edge
   meet vertex for vertex.
3. **Stitched**: pieces of one code touching across a tile edge are one polygon (their union, exact on integer
   coordinates): no seam line along tile edges. Tiles run row by row, and a polygon is given out as soon as no piece
   of it touches the row below, so memory holds one row of tiles' open pieces, not the whole result.

What differs from the whole-raster vectoriser: along a tile edge the simplification keeps the pixel corners and the
point where a boundary crosses the edge (the shape moves by less than the tolerance, one pixel by default; with
``tolerance_m=0`` the polygons are equal), and the strips of point 1.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator, MutableMapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import rasterio
import rasterio.features
import shapely
from affine import Affine
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from ..errors import InvalidInputError
from .vectorise import (
    BUILDING,
    COLLINEAR_PX,
    MAX_PIXELS,
    NONE,
    MinimumUnits,
    apply_units,
    canonical_order,
    index_codes,
    label_patches,
    projected_crs,
    to_world,
)

#: OCS GE's units, as ``vectorise`` applies them by default.
UNITS = MinimumUnits()
#: Tile sides are multiples of this (the COG's block side): tiles then read whole blocks.
TILE_STEP = 512


@dataclass
class StitchTimings:
    """Seconds spent reading, applying units and tracing per tile (``vectorise``), and stitching across tiles; the
    same in CPU seconds of the process (``cpu``), the measure of a stage's cost per core on a loaded machine."""

    read: float = 0.0
    vectorise: float = 0.0
    stitch: float = 0.0
    pixels: int = 0
    polygons: int = 0
    cpu: dict[str, float] = field(default_factory=dict)

    def add(self, name: str, since: tuple[float, float]) -> tuple[float, float]:
        """Adds the time since ``since`` (a :func:`clocks` reading) to ``name``; the clocks now."""
        now = clocks()
        setattr(self, name, getattr(self, name) + now[0] - since[0])
        self.cpu[name] = self.cpu.get(name, 0.0) + now[1] - since[1]
        return now


def clocks() -> tuple[float, float]:
    """Wall-clock and CPU time of the process, now."""
    return time.perf_counter(), time.process_time()


def default_halo(pixel_side: float, units: MinimumUnits = UNITS) -> int:
    """Pixels of context around a tile: twice the side of the largest unit's square plus the zone construite's
    reach (700 px at 0.2 m). Twice, because a patch under its unit is seldom square: the model's patches measured
    on the test dalles stretch up to 1.5 times the side of the square of their area."""
    largest = max(units.building_m2, units.built_up_m2, units.open_m2)
    return math.ceil(2 * (math.sqrt(largest) + units.built_up_reach_m) / pixel_side)


def default_tile(halo: int, max_pixels: int = MAX_PIXELS) -> int:
    """Largest multiple of :data:`TILE_STEP` whose square with its halo on ONE side the vectoriser holds: 4 096 px at
    0.2 m, read as 5 496 px with the halo (30 Mpx, about 0.9 GB at the vectoriser's 30 bytes per pixel)."""
    return max((math.isqrt(max_pixels) - halo) // TILE_STEP, 1) * TILE_STEP


def stitch_file(
    path: str | Path,
    classes: Sequence[str | None] | None = None,
    *,
    units: MinimumUnits = UNITS,
    tolerance_m: float | None = None,
    tile: int | None = None,
    halo: int | None = None,
    timings: StitchTimings | None = None,
) -> Iterator[gpd.GeoDataFrame]:
    """The polygons (``code_cs``, ``surface_m2``) of band 1 of the class raster ``path``, in chunks given out as
    they are final (one chunk per row of tiles at most); ``classes`` defaults to the file's own legend."""
    with rasterio.open(path) as dataset:
        if classes is None:
            tags = dataset.tags()
            if tags.get("OCSGE_OUTPUT") != "cs" or "OCSGE_VALUES" not in tags:
                raise InvalidInputError(f"{path} carries no CS legend (OCSGE_VALUES tag of a 'cs' raster)")
            values = {int(value): code for value, code in json.loads(tags["OCSGE_VALUES"]).items()}
            classes = tuple(values.get(value) for value in range(max(values) + 1))
        crs = projected_crs(dataset.crs)
        transform = dataset.transform
        pixel_side = min(math.hypot(transform.a, transform.d), math.hypot(transform.b, transform.e))
        halo = default_halo(pixel_side, units) if halo is None else halo
        tile = default_tile(halo) if tile is None else tile
        if tile <= 0 or halo < 0:
            raise InvalidInputError(f"tile side must be > 0 and halo ≥ 0 px; got {tile} and {halo}")
        nodata = None if dataset.nodata is None else int(dataset.nodata)
        tolerance_px = 1.0 if tolerance_m is None else tolerance_m / pixel_side
        stitcher = _Stitcher(dataset.width, dataset.height, tile, transform, crs, list(classes))
        context = _Context(dataset, classes, nodata, units, halo, tolerance_px, timings or StitchTimings())
        for row in range(stitcher.rows):
            for col in range(stitcher.cols):
                stitcher.add(row, col, _tile_pieces(context, stitcher.window(row, col)), context.timings)
            chunk = stitcher.close_row(row, context.timings)
            if len(chunk):
                yield chunk


@dataclass
class _Context:
    dataset: rasterio.io.DatasetReader
    classes: Sequence[str | None]
    nodata: int | None
    units: MinimumUnits
    halo: int
    tolerance_px: float
    timings: StitchTimings


@dataclass
class _Pieces:
    """A tile's pieces: polygons in mosaic pixel coordinates, their code index, and the piece of each pixel on the
    tile's four edges (-1 where unclassified)."""

    polygons: np.ndarray
    codes: np.ndarray
    top: np.ndarray
    bottom: np.ndarray
    left: np.ndarray
    right: np.ndarray
    below: set[int] = field(default_factory=set)


def _tile_pieces(context: _Context, window: Window) -> _Pieces:
    """Read ``window`` with its halo, apply the units there, trace the tile's own pixels."""
    started = clocks()
    dataset, halo = context.dataset, context.halo
    left = max(int(window.col_off) - halo, 0)
    top = max(int(window.row_off) - halo, 0)
    right = min(int(window.col_off + window.width) + halo, dataset.width)
    bottom = min(int(window.row_off + window.height) + halo, dataset.height)
    wide = Window(left, top, right - left, bottom - top)
    pixels = dataset.read(1, window=wide)
    started = context.timings.add("read", started)
    codes, code_raster = index_codes(pixels, context.classes, context.nodata)
    cut = np.zeros(code_raster.shape, dtype=bool)
    cut[0, :], cut[-1, :], cut[:, 0], cut[:, -1] = top > 0, bottom < dataset.height, left > 0, right < dataset.width
    building = codes.index(BUILDING) if BUILDING in codes else -1
    merged = apply_units(code_raster, dataset.window_transform(wide), building, context.units, cut)
    row0, col0 = int(window.row_off) - top, int(window.col_off) - left
    own = np.ascontiguousarray(merged[row0 : row0 + int(window.height), col0 : col0 + int(window.width)])
    pieces = _trace_tile(own, int(window.col_off), int(window.row_off), context.tolerance_px)
    context.timings.pixels += own.size
    context.timings.add("vectorise", started)
    return pieces


def _trace_tile(codes: np.ndarray, col_off: int, row_off: int, tolerance_px: float) -> _Pieces:
    classified = codes != NONE
    patches = label_patches(codes, classified)
    present = np.zeros(int(patches.max()) + 1, dtype=bool)
    present[patches[classified]] = True
    number = (np.cumsum(present) - 1).astype(np.int32)  # classified patches numbered 0, 1, 2, ... in scan order
    labels = np.where(classified, number[patches], -1).astype(np.int32)
    shapes = list(rasterio.features.shapes(labels, mask=classified, connectivity=4))
    count = int(present.sum())
    polygons = np.empty(count, dtype=object)
    for geometry, value in shapes:
        polygons[int(value)] = shapely.geometry.shape(geometry)
    piece_code = np.full(count, NONE, dtype=np.uint8)
    piece_code[labels[classified]] = codes[classified]
    if count:
        polygons = shapely.transform(shapely.segmentize(polygons, 1.0), np.round)
        order = canonical_order(polygons)
        # The tile's outline keeps every pixel corner (simplify_boundary=False): neighbours meet vertex for vertex.
        polygons = shapely.coverage_simplify(polygons[order], COLLINEAR_PX, simplify_boundary=False)
        if tolerance_px > COLLINEAR_PX:
            polygons = shapely.coverage_simplify(polygons, tolerance_px, simplify_boundary=False)
        polygons[order] = polygons.copy()  # back in label order
        polygons = shapely.transform(polygons, lambda xy: xy + np.array([col_off, row_off]))
    bottom = labels[-1].copy()
    return _Pieces(
        polygons, piece_code, labels[0].copy(), bottom, labels[:, 0].copy(), labels[:, -1].copy(), set(bottom.tolist())
    )


class _Stitcher:
    """Pieces of the tiles done so far that touch a tile not done yet, joined across edges (a union-find)."""

    def __init__(
        self, width: int, height: int, tile: int, transform: Affine, crs: pyproj.CRS, classes: list[str | None]
    ) -> None:
        self.width, self.height, self.tile = width, height, tile
        self.rows, self.cols = math.ceil(height / tile), math.ceil(width / tile)
        self.transform, self.crs = transform, crs
        self.codes: list[str] = []
        for code in classes:
            if code is not None and code not in self.codes:
                self.codes.append(code)
        self.parent: dict[tuple[int, int, int], tuple[int, int, int]] = {}
        self.open: dict[tuple[int, int, int], BaseGeometry] = {}
        self.open_code: dict[tuple[int, int, int], int] = {}
        self.tiles: MutableMapping[tuple[int, int], _Pieces] = {}
        self.done: list[tuple[BaseGeometry, int]] = []

    def window(self, row: int, col: int) -> Window:
        left, top = col * self.tile, row * self.tile
        return Window(left, top, min(self.tile, self.width - left), min(self.tile, self.height - top))

    def add(self, row: int, col: int, pieces: _Pieces, timings: StitchTimings) -> None:
        started = clocks()
        edge = set(pieces.top[pieces.top >= 0].tolist()) if row else set()
        if col:
            edge |= set(pieces.left[pieces.left >= 0].tolist())
        if row < self.rows - 1:
            edge |= set(pieces.bottom[pieces.bottom >= 0].tolist())
        if col < self.cols - 1:
            edge |= set(pieces.right[pieces.right >= 0].tolist())
        for index in range(len(pieces.polygons)):
            if index in edge:
                key = (row, col, index)
                self.parent[key] = key
                self.open[key] = pieces.polygons[index]
                self.open_code[key] = int(pieces.codes[index])
            else:
                self.done.append((pieces.polygons[index], int(pieces.codes[index])))
        self.tiles[(row, col)] = pieces
        if col:
            self._join((row, col - 1), self.tiles[(row, col - 1)].right, (row, col), pieces.left)
        if row:
            self._join((row - 1, col), self.tiles[(row - 1, col)].bottom, (row, col), pieces.top)
        # Only the edges are kept for the neighbours still to come; the polygons are in ``open`` or ``done``.
        pieces.polygons = np.empty(0, dtype=object)
        timings.add("stitch", started)

    def _join(self, one: tuple[int, int], one_edge: np.ndarray, other: tuple[int, int], other_edge: np.ndarray) -> None:
        """Union of the pieces facing each other across an edge when they are of one code."""
        facing = (one_edge >= 0) & (other_edge >= 0)
        a, b = one_edge[facing], other_edge[facing]
        same = self.tiles[one].codes[a] == self.tiles[other].codes[b]
        for first, second in set(zip(a[same].tolist(), b[same].tolist(), strict=True)):
            root_a, root_b = self._find((*one, first)), self._find((*other, second))
            if root_a != root_b:
                self.parent[max(root_a, root_b)] = min(root_a, root_b)

    def _find(self, key: tuple[int, int, int]) -> tuple[int, int, int]:
        root = key
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[key] != root:
            self.parent[key], key = root, self.parent[key]
        return root

    def close_row(self, row: int, timings: StitchTimings) -> gpd.GeoDataFrame:
        """The polygons final once ``row`` is done: those of no group still touching the row below."""
        started = clocks()
        pending = {
            self._find(key) for key in self.open if key[0] == row and row < self.rows - 1 and self._touches_below(key)
        }
        groups: dict[tuple[int, int, int], list[tuple[int, int, int]]] = {}
        for key in list(self.open):
            root = self._find(key)
            if root not in pending:
                groups.setdefault(root, []).append(key)
        polygons = [polygon for polygon, _ in self.done]
        values = [code for _, code in self.done]
        for root, keys in groups.items():
            polygons.append(shapely.union_all([self.open.pop(key) for key in keys]))
            values.append(self.open_code[root])
            for key in keys:  # a group's keys point only at each other: all go, so memory stays one row's
                del self.open_code[key], self.parent[key]
        self.done = []
        if row:
            for col in range(self.cols):
                self.tiles.pop((row - 1, col), None)
        timings.add("stitch", started)
        geometries = shapely.transform(np.array(polygons, dtype=object), lambda xy: to_world(self.transform, xy))
        timings.polygons += len(geometries)
        return gpd.GeoDataFrame(
            {
                "code_cs": np.array(self.codes, dtype=object)[np.array(values, dtype=np.int64)].tolist()
                if values
                else [],
                "surface_m2": shapely.area(geometries),
            },
            geometry=geometries,
            crs=self.crs,
        )

    def _touches_below(self, key: tuple[int, int, int]) -> bool:
        row, col, index = key
        return index in self.tiles[(row, col)].below
