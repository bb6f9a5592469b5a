"""Where a generated commune is built up and where its roads run, before any polygon exists.

The built-up envelope is a few blobs around the commune centre and some hamlets; the roads (the OCS GE
"ossature") link commune centres across the territory and each hamlet to its centre. Lengths are in metres of the
territory's projected CRS.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from shapely import Geometry

#: Width of the roads between commune centres and of the local roads to hamlets, in metres.
MAIN_ROAD_WIDTH_M = 12.0
LOCAL_ROAD_WIDTH_M = 8.0
#: Share of hamlets that are activity zones (industry, logistics) rather than residential.
ACTIVITY_SHARE = 0.3
#: Buffers are drawn with this many segments per quarter circle: blobs need no more.
_QUAD_SEGS = 4


@dataclass(frozen=True)
class CommuneLayout:
    """The built-up nuclei and the roads of one commune."""

    commune: Geometry
    #: (k, 2) nucleus centres; the first one is the commune centre.
    centres: np.ndarray
    #: (k,) nominal radius of each nucleus, in metres.
    radii_m: np.ndarray
    #: (k,) True where a nucleus is an activity zone.
    activity: np.ndarray
    #: Union of the nuclei, inside the commune: where seeds are dense.
    envelope: Geometry
    #: Road surfaces inside the commune; they cut the partition like IGN's ossature.
    roads: Geometry


def commune_centres(geometries: np.ndarray) -> np.ndarray:
    """(n, 2) centre of each commune: a point surely inside it, the same at every run."""
    return shapely.get_coordinates(shapely.point_on_surface(geometries))


def road_network(centres: np.ndarray) -> np.ndarray:
    """Lines between neighbouring commune centres (Delaunay edges, long hull edges dropped)."""
    if len(centres) < 2:
        return np.empty(0, dtype=object)
    if len(centres) == 2:
        return np.array([shapely.linestrings(centres)], dtype=object)
    edges = shapely.get_parts(shapely.delaunay_triangles(shapely.multipoints(centres), only_edges=True))
    lengths = shapely.length(edges)
    return edges[lengths <= 2.5 * np.median(lengths)]


def plan_commune(commune: Geometry, centre: np.ndarray, network: np.ndarray, rng: np.random.Generator) -> CommuneLayout:
    """Nuclei, envelope and roads of one commune; ``network`` holds the département lines that may cross it."""
    area_m2 = float(shapely.area(commune))
    radius0 = float(np.clip(np.sqrt(area_m2) * rng.uniform(0.06, 0.15), 120.0, 2000.0))
    hamlets = _random_points_inside(commune, min(int(rng.poisson(area_m2 / 6e6)), 6), rng)
    centres = np.vstack([centre[None, :], hamlets])
    radii = np.concatenate([[radius0], rng.uniform(60.0, 170.0, len(hamlets))])
    activity = np.concatenate([[False], rng.random(len(hamlets)) < ACTIVITY_SHARE])

    # The main nucleus is a blob of discs around the centre, hamlets are single discs.
    lobes = centre + rng.normal(0.0, radius0 / 2, (5, 2))
    disc_xy = np.vstack([centres, lobes])
    disc_r = np.concatenate([radii * np.r_[0.8, np.ones(len(hamlets))], radius0 * rng.uniform(0.4, 0.7, 5)])
    discs = shapely.buffer(shapely.points(disc_xy), disc_r, quad_segs=_QUAD_SEGS)
    envelope = shapely.intersection(shapely.union_all(discs), commune)

    local = shapely.linestrings(np.stack([np.repeat(centre[None, :], len(hamlets), axis=0), hamlets], axis=1))
    lines = np.concatenate([network, local])
    widths = np.r_[np.full(len(network), MAIN_ROAD_WIDTH_M), np.full(len(hamlets), LOCAL_ROAD_WIDTH_M)]
    surfaces = shapely.buffer(lines, widths / 2, quad_segs=1, cap_style="flat")
    roads = shapely.intersection(shapely.union_all(surfaces), commune)
    return CommuneLayout(commune, centres, radii, activity, envelope, roads)


def _random_points_inside(geometry: Geometry, count: int, rng: np.random.Generator) -> np.ndarray:
    if count == 0:
        return np.empty((0, 2))
    minx, miny, maxx, maxy = shapely.bounds(geometry)
    found = np.empty((0, 2))
    for _ in range(20):  # rejection sampling; thin communes may need several draws
        xy = rng.uniform((minx, miny), (maxx, maxy), (8 * count, 2))
        found = np.vstack([found, xy[shapely.contains_xy(geometry, xy[:, 0], xy[:, 1])]])
        if len(found) >= count:
            break
    return found[:count]
