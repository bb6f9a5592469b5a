"""A commune cut into OCS GE-sized polygons: jittered seeds, Voronoi cells, clipping, minimum-unit fixes.

Seeds are dense in the built-up envelope and sparse elsewhere; the roads are cut out first, so cells never cross
them. Cells under their minimum mapping unit lose their seed (neighbours take the ground) until none is left;
leftover fragments (commune-border slivers, pieces cut off by a road) join the neighbour they share most border with.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely import Geometry

from .layout import CommuneLayout

#: IGN minimum mapping units (legend "OCS GE socle – Couverture du sol", UMI), in m².
MIN_AREA_BUILDING_M2 = 200.0
MIN_AREA_BUILT_UP_M2 = 500.0
MIN_AREA_M2 = 2500.0

#: Polygon kinds: a cell outside the envelope, a cell inside it, a road surface.
RURAL, URBAN, ROAD = 0, 1, 2
#: Seeds move by up to this fraction of the grid spacing in each direction.
JITTER = 0.35
#: Every n-th row and column of the built-up seed grid is a street.
STREET_EVERY = 6
_MAX_ROUNDS = 12
#: Width in metres of the band used to measure how much border two polygons share.
_CONTACT_M = 0.05


@dataclass(frozen=True)
class CommunePartition:
    """Polygons that tile one commune, with what the land-cover step needs to know about each."""

    geometry: np.ndarray
    #: RURAL, URBAN or ROAD.
    kind: np.ndarray
    #: Index of the nucleus a built-up cell belongs to in the layout; -1 elsewhere.
    nucleus: np.ndarray
    #: True for built-up cells on the street lattice.
    street: np.ndarray


def minimum_area_m2(is_building: np.ndarray, in_built_up: np.ndarray) -> np.ndarray:
    """IGN minimum mapping unit of each polygon: 200 m² for buildings, 500 m² in a zone construite, else 2 500."""
    return np.where(is_building, MIN_AREA_BUILDING_M2, np.where(in_built_up, MIN_AREA_BUILT_UP_M2, MIN_AREA_M2))


def jittered_grid(
    bounds: tuple[float, float, float, float], spacing_m: float, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Seed points on a grid aligned to multiples of ``spacing_m``, each moved at random; also their (col, row)."""
    minx, miny, maxx, maxy = bounds
    cols = np.arange(np.floor(minx / spacing_m), np.ceil(maxx / spacing_m), dtype=np.int64)
    rows = np.arange(np.floor(miny / spacing_m), np.ceil(maxy / spacing_m), dtype=np.int64)
    ij = np.stack(np.meshgrid(cols, rows), axis=-1).reshape(-1, 2)
    xy = (ij + 0.5 + rng.uniform(-JITTER, JITTER, ij.shape)) * spacing_m
    return xy, ij


def voronoi_cells(xy: np.ndarray, region: Geometry) -> np.ndarray:
    """Voronoi cell of each point (in the points' order), clipped to ``region``."""
    if len(xy) == 1:
        return np.array([region], dtype=object)
    minx, miny, maxx, maxy = shapely.bounds(region)
    pad = max(maxx - minx, maxy - miny)
    frame = shapely.box(minx - pad, miny - pad, maxx + pad, maxy + pad)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(xy), extend_to=frame, ordered=True))
    shapely.prepare(region)
    inside = shapely.contains(region, cells)
    cells[~inside] = shapely.intersection(cells[~inside], region)
    return cells


def partition_commune(
    layout: CommuneLayout, *, cell_size_m: float, urban_cell_size_m: float, rng: np.random.Generator
) -> CommunePartition:
    """Cut ``layout.commune`` into cells and road surfaces that each meet their minimum mapping unit."""
    commune, envelope = layout.commune, layout.envelope
    shapely.prepare(envelope)
    urban_xy, urban_ij = jittered_grid(shapely.bounds(envelope), urban_cell_size_m, rng)
    urban_xy, urban_ij = _inside(envelope, urban_xy, urban_ij)
    rural_xy, _ = jittered_grid(shapely.bounds(commune), cell_size_m, rng)
    (rural_xy,) = _inside(commune, rural_xy)
    rural_xy = rural_xy[~shapely.contains_xy(envelope, rural_xy[:, 0], rural_xy[:, 1])]

    xy = np.vstack([urban_xy, rural_xy])
    urban = np.arange(len(xy)) < len(urban_xy)
    street = np.zeros(len(xy), dtype=bool)
    street[: len(urban_xy)] = (urban_ij % STREET_EVERY == 0).any(axis=1)
    nucleus = np.full(len(xy), -1, dtype=np.int16)
    nucleus[urban] = _nearest(layout.centres, urban_xy)

    region = shapely.difference(commune, layout.roads) if not shapely.is_empty(layout.roads) else commune
    if len(xy) == 0:  # a commune smaller than one cell and outside any grid point: one polygon
        xy, urban, street, nucleus = shapely.get_coordinates(shapely.point_on_surface(region)), \
            np.zeros(1, bool), np.zeros(1, bool), np.full(1, -1, np.int16)
    cells, keep = _fit_cells(xy, urban, region)

    parts, owner = shapely.get_parts(cells, return_index=True)
    seed = np.flatnonzero(keep)[owner]
    roads = shapely.get_parts(layout.roads)
    geometry = np.concatenate([parts, roads])
    kind = np.concatenate([np.where(urban[seed], URBAN, RURAL), np.full(len(roads), ROAD)]).astype(np.int8)
    is_small = shapely.area(geometry) < np.where(kind == URBAN, MIN_AREA_BUILDING_M2, MIN_AREA_M2)
    geometry, kept = _absorb_small(geometry, is_small, kind == ROAD)
    pad = np.zeros(len(roads), dtype=bool)
    return CommunePartition(
        geometry=geometry,
        kind=kind[kept],
        nucleus=np.concatenate([nucleus[seed], np.full(len(roads), -1, np.int16)])[kept],
        street=np.concatenate([street[seed], pad])[kept],
    )


def _inside(geometry: Geometry, xy: np.ndarray, *extra: np.ndarray) -> tuple[np.ndarray, ...]:
    mask = shapely.contains_xy(geometry, xy[:, 0], xy[:, 1])
    return (xy[mask], *(a[mask] for a in extra))


def _nearest(centres: np.ndarray, xy: np.ndarray) -> np.ndarray:
    distance = np.linalg.norm(xy[:, None, :] - centres[None, :, :], axis=-1)
    return distance.argmin(axis=1).astype(np.int16)


def _fit_cells(xy: np.ndarray, urban: np.ndarray, region: Geometry) -> tuple[np.ndarray, np.ndarray]:
    """Drop the seeds of undersized cells until every cell meets the unit of its seed; returns cells and kept seeds."""
    keep = np.ones(len(xy), dtype=bool)
    threshold = np.where(urban, MIN_AREA_BUILDING_M2, MIN_AREA_M2)
    for _ in range(_MAX_ROUNDS):
        index = np.flatnonzero(keep)
        cells = voronoi_cells(xy[index], region)
        small = shapely.area(cells) < threshold[index]
        if not small.any() or len(index) == 1:
            break
        if small.all():  # keep the largest cell so that the commune is never left without one
            small[np.argmax(shapely.area(cells))] = False
        keep[index[small]] = False
    return cells, keep


def _absorb_small(
    geometry: np.ndarray, small: np.ndarray, is_road: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Union each undersized polygon into the neighbour it shares most border with (not a road if it can).

    Returns the polygons and the mask of the input rows that remain. A fragment that touches no polygon of its
    size class (an island) joins the nearest one, which then becomes a multipolygon.
    """
    geometry = geometry.copy()
    small = small.copy()
    alive = np.ones(len(geometry), dtype=bool)
    for final_round in (False, False, False, True):
        sources = np.flatnonzero(small & alive)
        targets = np.flatnonzero(~small & alive)
        if len(sources) == 0 or len(targets) == 0:
            break
        tree = shapely.STRtree(geometry[targets])
        touched = shapely.buffer(geometry[sources], _CONTACT_M, quad_segs=1)
        src, dst = tree.query(touched, predicate="intersects")
        src, dst = sources[src], targets[dst]
        score = shapely.area(shapely.intersection(touched[np.searchsorted(sources, src)], geometry[dst]))
        score = np.where(is_road[dst], score * 1e-6, score)
        order = np.lexsort((-score, src))
        src, dst = src[order], dst[order]
        first = np.r_[True, src[1:] != src[:-1]]
        target = dict(zip(src[first].tolist(), dst[first].tolist(), strict=True))
        if final_round:
            lonely = np.array([s for s in sources if s not in target], dtype=np.int64)
            if len(lonely):
                near_src, near_dst = tree.query_nearest(geometry[lonely], all_matches=False)
                target.update(zip(lonely[near_src].tolist(), targets[near_dst].tolist(), strict=True))
        _union_into(geometry, target)
        for s in target:
            alive[s] = False
    return geometry[alive], alive


def _union_into(geometry: np.ndarray, target: dict[int, int]) -> None:
    groups: dict[int, list[int]] = {}
    for source, dest in target.items():
        groups.setdefault(dest, [dest]).append(source)
    for dest, members in groups.items():
        geometry[dest] = shapely.union_all(geometry[members])
