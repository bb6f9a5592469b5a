"""A commune cut into OCS GE-sized polygons: jittered seeds, Voronoi cells, clipping, minimum-unit fixes.

Seeds are dense in the built-up envelope and sparse elsewhere; the roads are cut out first, so cells never cross
them. Cells under their minimum mapping unit lose their seed (neighbours take the ground) until none is left;
leftover fragments (commune-border slivers, pieces cut off by a road) join the neighbour they share most border with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely import Geometry

from ..nomenclature import MIN_AREA_BUILDING_M2, MIN_AREA_BUILT_UP_M2, MIN_AREA_M2
from .layout import CommuneLayout

#: Polygon kinds: a cell outside the envelope, a cell inside it, a road surface.
RURAL, URBAN, ROAD = 0, 1, 2
#: Seeds move by up to this fraction of the grid spacing in each direction.
JITTER = 0.35
#: The outside of a commune is cut into tiles of this many rural cells a side before clipping.
TILE_CELLS = 10
_MAX_ROUNDS = 12
#: Width in metres of the band used to measure how much border two polygons share.
_CONTACT_M = 0.05
#: Vertices closer than this (metres) are one node when shared edges are matched: floating-point noise only.
_SNAP_M = 1e-6


@dataclass(frozen=True)
class CommunePartition:
    """Polygons that tile one commune, with what the land-cover step needs to know about each."""

    geometry: np.ndarray
    #: RURAL, URBAN (a cell of the built-up envelope) or ROAD.
    kind: np.ndarray
    #: Part of the zone construite: the built-up cells and the road stretches inside the envelope.
    built_up: np.ndarray
    #: Index of the nucleus a built-up cell belongs to in the layout; -1 elsewhere.
    nucleus: np.ndarray
    #: (n, 2) column and row of a built-up cell's seed on the built-up grid; -1 elsewhere.
    lattice: np.ndarray


def minimum_area_m2(is_building: np.ndarray, in_built_up: np.ndarray) -> np.ndarray:
    """IGN minimum mapping unit of each polygon: 200 m² for buildings, 500 m² in a zone construite, else 2 500."""
    return np.where(is_building, MIN_AREA_BUILDING_M2, np.where(in_built_up, MIN_AREA_BUILT_UP_M2, MIN_AREA_M2))


def polygon_parts(geometry: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Non-empty polygons inside ``geometry``, with the row each comes from.

    Multi-parts and collections are flattened; overlay by-products such as lines and points are dropped.
    """
    parts, index = shapely.get_parts(geometry, return_index=True)
    while (nested := shapely.get_type_id(parts) >= 4).any():
        inner, inner_index = shapely.get_parts(parts[nested], return_index=True)
        parts = np.concatenate([parts[~nested], inner])
        index = np.concatenate([index[~nested], index[nested][inner_index]])
    keep = (shapely.get_type_id(parts) == 3) & (shapely.area(parts) > 0)
    order = np.argsort(index[keep], kind="stable")
    return parts[keep][order], index[keep][order]


def jittered_grid(
    bounds: NDArray[np.float64], spacing_m: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Seed points on a grid aligned to multiples of ``spacing_m``, each moved at random; also their (col, row).

    ``bounds``: (minx, miny, maxx, maxy) as ``shapely.bounds`` gives them, NaN for an empty geometry.
    """
    minx, miny, maxx, maxy = bounds
    if np.isnan(minx):  # the bounds of an empty geometry
        return np.empty((0, 2)), np.empty((0, 2), dtype=np.int64)
    cols = np.arange(np.floor(minx / spacing_m), np.ceil(maxx / spacing_m), dtype=np.int64)
    rows = np.arange(np.floor(miny / spacing_m), np.ceil(maxy / spacing_m), dtype=np.int64)
    ij = np.stack(np.meshgrid(cols, rows), axis=-1).reshape(-1, 2)
    xy = (ij + 0.5 + rng.uniform(-JITTER, JITTER, ij.shape)) * spacing_m
    return xy, ij


def voronoi_cells(xy: np.ndarray, clipper: Clipper) -> np.ndarray:
    """Voronoi cell of each point (in the points' order), clipped to the clipper's region."""
    if len(xy) == 1:
        return np.array([clipper.region], dtype=object)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=clipper.frame, ordered=True))
    # Outer cells reach beyond the frame; they are convex, so the fast rectangle clip is exact for them.
    fminx, fminy, fmaxx, fmaxy = shapely.bounds(clipper.frame)
    bounds = shapely.bounds(cells)
    beyond = (bounds[:, 0] < fminx) | (bounds[:, 1] < fminy) | (bounds[:, 2] > fmaxx) | (bounds[:, 3] > fmaxy)
    cells[beyond] = shapely.clip_by_rect(cells[beyond], fminx, fminy, fmaxx, fmaxy)
    return clipper.clip(cells)


@dataclass(frozen=True)
class Clipper:
    """Cuts polygons to a region fast: what lies outside it, in a frame, is pre-cut into small tiles.

    Clipping a cell to a whole commune costs as much as the commune has vertices; removing the few tiles of the
    outside that the cell touches costs only their local vertices.
    """

    region: Geometry
    frame: Geometry
    outside: shapely.STRtree
    pieces: np.ndarray

    @classmethod
    def around(cls, region: Geometry, pad_m: float, tile_m: float) -> Clipper:
        """A clipper for ``region``, whose frame extends ``pad_m`` beyond its bounds."""
        minx, miny, maxx, maxy = shapely.bounds(region)
        frame = shapely.box(minx - pad_m, miny - pad_m, maxx + pad_m, maxy + pad_m)
        xs = np.arange(minx - pad_m, maxx + pad_m, tile_m)
        ys = np.arange(miny - pad_m, maxy + pad_m, tile_m)
        x0, y0 = (a.ravel() for a in np.meshgrid(xs, ys))
        tiles = shapely.box(x0, y0, x0 + tile_m, y0 + tile_m)
        pieces = shapely.intersection(shapely.difference(frame, region), tiles)
        pieces, _ = polygon_parts(pieces)
        return cls(region, frame, shapely.STRtree(pieces), pieces)

    def clip(self, polygons: np.ndarray) -> np.ndarray:
        """``polygons`` less whatever of them lies outside the region."""
        hit, piece = self.outside.query(polygons, predicate="intersects")
        result = polygons.copy()
        order = np.argsort(hit, kind="stable")
        hit, piece = hit[order], piece[order]
        rank = np.arange(len(hit)) - np.searchsorted(hit, hit)
        for level in range(int(rank.max()) + 1 if len(rank) else 0):
            at = rank == level
            result[hit[at]] = shapely.difference(result[hit[at]], self.pieces[piece[at]])
        return result


def partition_commune(
    layout: CommuneLayout, *, cell_size_m: float, urban_cell_size_m: float, rng: np.random.Generator
) -> CommunePartition:
    """Cut ``layout.commune`` into cells and road surfaces that each meet their minimum mapping unit."""
    seeds = _seeds(layout, cell_size_m, urban_cell_size_m, rng)
    region = layout.commune if shapely.is_empty(layout.roads) else shapely.difference(layout.commune, layout.roads)
    if len(seeds.xy) == 0:  # a commune smaller than a cell, with no grid point inside: one polygon
        seeds = _Seeds(
            shapely.get_coordinates(shapely.point_on_surface(region)),
            np.zeros(1, bool),
            np.full((1, 2), -1),
            np.full(1, -1, np.int16),
        )
    clipper = Clipper.around(region, pad_m=cell_size_m, tile_m=TILE_CELLS * cell_size_m)
    cells, kept_seeds = _fit_cells(seeds.xy, seeds.urban, clipper)
    parts, owner = polygon_parts(cells)
    seed = kept_seeds[owner]

    # Roads inside the envelope belong to the zone construite: cut them there.
    roads_in, _ = polygon_parts(np.array([shapely.intersection(layout.roads, layout.envelope)]))
    roads_out, _ = polygon_parts(np.array([shapely.difference(layout.roads, layout.envelope)]))
    geometry = np.concatenate([parts, roads_in, roads_out])
    roads = len(roads_in) + len(roads_out)
    kind = np.concatenate([np.where(seeds.urban[seed], URBAN, RURAL), np.full(roads, ROAD)]).astype(np.int8)
    built_up = np.concatenate([seeds.urban[seed], np.ones(len(roads_in), bool), np.zeros(len(roads_out), bool)])
    unit = np.where(kind == URBAN, MIN_AREA_BUILDING_M2, np.where(built_up, MIN_AREA_BUILT_UP_M2, MIN_AREA_M2))
    geometry, kept = _absorb_small(geometry, shapely.area(geometry) < unit, kind == ROAD)
    geometry = _match_edges(geometry, clipper.pieces, kind[kept] == ROAD)
    return CommunePartition(
        geometry=geometry,
        kind=kind[kept],
        built_up=built_up[kept],
        nucleus=np.concatenate([seeds.nucleus[seed], np.full(roads, -1, np.int16)])[kept],
        lattice=np.concatenate([seeds.lattice[seed], np.full((roads, 2), -1)])[kept],
    )


@dataclass(frozen=True)
class _Seeds:
    xy: np.ndarray
    urban: np.ndarray
    lattice: np.ndarray
    nucleus: np.ndarray


def _seeds(layout: CommuneLayout, cell_size_m: float, urban_cell_size_m: float, rng: np.random.Generator) -> _Seeds:
    """Dense seeds in the envelope, sparse ones in the rest of the commune."""
    envelope = layout.envelope
    shapely.prepare(envelope)
    urban_xy, lattice = jittered_grid(shapely.bounds(envelope), urban_cell_size_m, rng)
    inside = shapely.contains_xy(envelope, urban_xy[:, 0], urban_xy[:, 1])
    urban_xy, lattice = urban_xy[inside], lattice[inside]
    rural_xy, _ = jittered_grid(shapely.bounds(layout.commune), cell_size_m, rng)
    rural_xy = rural_xy[
        shapely.contains_xy(layout.commune, rural_xy[:, 0], rural_xy[:, 1])
        & ~shapely.contains_xy(envelope, rural_xy[:, 0], rural_xy[:, 1])
    ]
    nearest = np.linalg.norm(urban_xy[:, None, :] - layout.centres[None, :, :], axis=-1).argmin(axis=1)
    return _Seeds(
        xy=np.vstack([urban_xy, rural_xy]),
        urban=np.r_[np.ones(len(urban_xy), bool), np.zeros(len(rural_xy), bool)],
        lattice=np.vstack([lattice, np.full((len(rural_xy), 2), -1)]),
        nucleus=np.r_[nearest, np.full(len(rural_xy), -1)].astype(np.int16),
    )


def _fit_cells(xy: np.ndarray, urban: np.ndarray, clipper: Clipper) -> tuple[np.ndarray, np.ndarray]:
    """Drop the seeds of undersized cells until every cell meets the unit of its seed; returns cells and seed rows."""
    index = np.arange(len(xy))
    threshold = np.where(urban, MIN_AREA_BUILDING_M2, MIN_AREA_M2)
    for _ in range(_MAX_ROUNDS):
        cells = voronoi_cells(xy[index], clipper)
        area = shapely.area(cells)
        small = area < threshold[index]
        if not small.any() or len(index) == 1:
            break
        if small.all():  # keep the largest cell so that the commune is never left without one
            small[np.argmax(area)] = False
        index = index[~small]
    return cells, index


def _absorb_small(geometry: np.ndarray, small: np.ndarray, is_road: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Union each undersized polygon into the neighbour it shares most border with (a road only if nothing else).

    Returns the polygons and the mask of the input rows that remain. Fragments touching only other fragments wait
    for a neighbour to grow over a few rounds; one that touches nothing (an island) joins the nearest polygon.
    """
    geometry = geometry.copy()
    alive = np.ones(len(geometry), dtype=bool)
    pending = np.flatnonzero(small)
    targets = np.flatnonzero(~small)
    if len(targets) == 0:
        return geometry, alive
    for last_round in (False, False, False, True):
        if len(pending) == 0:
            break
        tree = shapely.STRtree(geometry[targets])
        touched = shapely.buffer(geometry[pending], _CONTACT_M, quad_segs=1)
        source, target = tree.query(touched, predicate="intersects")
        score = shapely.area(shapely.intersection(touched[source], geometry[targets[target]]))
        score = np.where(is_road[targets[target]], score * 1e-6, score)
        order = np.lexsort((-score, source))
        first = order[np.r_[True, source[order][1:] != source[order][:-1]]] if len(order) else order
        into = np.full(len(pending), -1)
        into[source[first]] = targets[target[first]]
        if last_round and (into < 0).any():
            lonely = np.flatnonzero(into < 0)
            near_source, near_target = tree.query_nearest(geometry[pending[lonely]], all_matches=False)
            into[lonely[near_source]] = targets[near_target]
        merged = into >= 0
        _union_into(geometry, pending[merged], into[merged])
        alive[pending[merged]] = False
        pending = pending[~merged]
    return geometry[alive], alive


def _match_edges(geometry: np.ndarray, outside: np.ndarray, is_road: np.ndarray) -> np.ndarray:
    """The polygons with identical shared edges, so that unions are exact and later overlays robust.

    Clipping and merging leave edges that differ in their last bits, or with a vertex on one side only (roads).
    Only the polygons along the roads and the commune border (``outside``), and their neighbours, came out of an
    overlay; Voronoi edges between the others already match, so only that band is cleaned (a third of the cost).
    """
    tree = shapely.STRtree(geometry)
    # Clipped edges may stop a hair's breadth short of what they touch: look a little further.
    touched = np.union1d(tree.query(outside, predicate="dwithin", distance=_SNAP_M)[1], np.flatnonzero(is_road))
    band = np.unique(tree.query(geometry[touched], predicate="dwithin", distance=_SNAP_M)[1])
    cleaned = geometry.copy()
    cleaned[band] = shapely.coverage_clean(  # type: ignore[attr-defined]  # new in shapely 2.2; types-shapely is 2.1
        geometry[band], snapping_distance=_SNAP_M
    )
    return cleaned


def _union_into(geometry: np.ndarray, sources: np.ndarray, targets: np.ndarray) -> None:
    if len(targets) == 0:
        return
    order = np.argsort(targets, kind="stable")
    sources, targets = sources[order], targets[order]
    starts = np.flatnonzero(np.r_[True, targets[1:] != targets[:-1]])
    for start, end in zip(starts, [*starts[1:], len(targets)], strict=True):
        dest = targets[start]
        geometry[dest] = shapely.union_all(np.append(geometry[sources[start:end]], geometry[dest]))
