"""Overlaps and gaps of a layer that should be a partition (OCCUPATION_SOL, ARTIF), measured at ingest.

Real files can overlap by a few percent of their area, which inflates every sum of areas computed from them. The
check must cost little next to reading the layer, so it starts from the edges: in a partition every edge inside
the covered area is shared by exactly two polygons, run in opposite directions once the rings are oriented. Edges
that are not (found by hashing the segments, in numpy) mark the only polygons that can overlap a neighbour or border
a gap; only their pairs from an STR-tree get an exact intersection, and only the unshared edges are polygonised
to find the holes of the covered area.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely
from numpy.typing import NDArray

from ..parallel import threaded

#: Overlaps and gaps of at most this area (m²) each are rounding, not mapping: OCS GE coordinates are given to the
#: centimetre, so a sliver thinner than 1 cm along a 1 m edge stays below it; IGN's smallest mapped polygons are
#: tens of m².
SLIVER_M2 = 0.01

_INTERIORS_MEET = "T********"
#: Snap-rounding grid (m) for noding when GEOS's floating-point noder fails: OCS GE coordinates are written to the
#: millimetre, so it changes nothing the data can tell.
NODING_GRID_M = 0.001


@dataclass(frozen=True)
class PartitionReport:
    """Overlaps and gaps of one layer slice; areas in m² of the layer's CRS."""

    polygons: int
    area_m2: float
    #: Σ of the pairwise intersections above ``SLIVER_M2`` and how many pairs they are.
    overlap_m2: float
    overlap_pairs: int
    #: Σ of the holes of the covered area above ``SLIVER_M2`` and how many holes they are.
    gap_m2: float
    gaps: int
    #: Polygons that overlap another or border a gap.
    involved: int

    @property
    def clean(self) -> bool:
        """No overlap and no gap above ``SLIVER_M2``."""
        return self.overlap_pairs == 0 and self.gaps == 0

    def summary(self) -> str:
        """One line for the ingest log: overlapping area and share, gaps, polygons involved."""
        covered = self.area_m2 - self.overlap_m2
        return (
            f"{self.polygons} polygons, overlaps {self.overlap_m2 / 10_000:.4f} ha "
            f"({_share(self.overlap_m2, self.area_m2)} of the polygons' area) in {self.overlap_pairs} pair(s), "
            f"gaps {self.gap_m2 / 10_000:.4f} ha ({_share(self.gap_m2, covered + self.gap_m2)} of the covered "
            f"extent) in {self.gaps} hole(s), {self.involved} polygon(s) involved"
        )


def partition_report(geometries: np.ndarray) -> PartitionReport:
    """Overlaps and gaps of ``geometries`` (valid MultiPolygons in a projected CRS, as ingest makes them)."""
    geoms = np.asarray(geometries, dtype=object)
    if not len(geoms):
        return PartitionReport(0, 0.0, 0.0, 0, 0.0, 0, 0)
    area = float(shapely.area(geoms).sum())
    unshared, owners = _unshared_edges(geoms)
    tree = shapely.STRtree(geoms)
    first, second, overlap = _overlaps(geoms, tree, np.unique(owners))
    holes, bordering = _holes(unshared, geoms, tree)
    involved = np.unique(np.concatenate([first, second, bordering]))
    return PartitionReport(
        len(geoms),
        area,
        float(overlap.sum()),
        len(overlap),
        float(shapely.area(holes).sum()),
        len(holes),
        len(involved),
    )


def _unshared_edges(geoms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Segments not run exactly once in each direction by two polygons, as (n, 2, 2) coordinates, and their
    polygons. Read from shapely's ragged arrays (no geometry objects made); rings count as oriented with shells
    counter-clockwise and holes clockwise, whatever their order in the file."""
    kind, coords, (ring_offsets, part_offsets, geom_offsets) = shapely.to_ragged_array(geoms)
    if kind != shapely.GeometryType.MULTIPOLYGON:
        raise ValueError(f"expected MultiPolygons, got {kind!r}")
    ring_count = np.diff(ring_offsets)
    ring_of = np.repeat(np.arange(len(ring_count)), ring_count)
    owner_of_ring = np.repeat(np.repeat(np.arange(len(geoms)), np.diff(geom_offsets)), np.diff(part_offsets))
    is_shell = np.zeros(len(ring_count), dtype=bool)
    is_shell[part_offsets[:-1]] = True
    x, y = coords[:, 0], coords[:, 1]
    inside = np.ones(len(coords) - 1, dtype=bool)
    inside[ring_offsets[1:-1] - 1] = False
    x0, y0, x1, y1 = x[:-1][inside], y[:-1][inside], x[1:][inside], y[1:][inside]
    ring = ring_of[:-1][inside]
    twice_area = np.bincount(ring, weights=x0 * y1 - x1 * y0, minlength=len(ring_count))
    flipped = (twice_area > 0) != is_shell
    forward = (x0 < x1) | ((x0 == x1) & (y0 < y1))
    columns = [
        np.where(forward, x0, x1),
        np.where(forward, y0, y1),
        np.where(forward, x1, x0),
        np.where(forward, y1, y0),
    ]
    digest = _hash(columns)
    order = np.argsort(digest)
    sorted_digest = digest[order]
    group = np.cumsum(np.r_[True, sorted_digest[1:] != sorted_digest[:-1]]) - 1
    count = np.bincount(group)
    sense = np.where(forward != flipped[ring], 1.0, -1.0)
    direction = np.bincount(group, weights=sense[order])
    unshared = order[((count != 2) | (direction != 0))[group]]
    segments = np.stack([np.stack([x0, y0], axis=1)[unshared], np.stack([x1, y1], axis=1)[unshared]], axis=1)
    return segments, owner_of_ring[ring[unshared]]


def _hash(columns: list[np.ndarray]) -> np.ndarray:
    """One 64-bit digest per segment from the bits of its coordinates: equal segments (same bits) collide, others
    almost never do."""
    digest = np.zeros(len(columns[0]), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for column in columns:
            digest ^= (
                column.view(np.uint64) * np.uint64(0xFF51AFD7ED558CCD)
                + np.uint64(0x9E3779B97F4A7C15)
                + (digest << np.uint64(6))
                + (digest >> np.uint64(2))
            )
    return digest


def _overlaps(
    geoms: np.ndarray, tree: shapely.STRtree, suspects: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs (first, second) among which one is a suspect whose interiors meet, and their intersection areas."""
    if not len(suspects):
        empty = np.empty(0, dtype=np.int64)
        return empty, empty, np.empty(0)
    query, found = tree.query(geoms[suspects])
    a, b = suspects[query], found
    a, b = np.minimum(a, b)[a != b], np.maximum(a, b)[a != b]
    pairs = np.unique(np.stack([a, b], axis=1), axis=0)
    a, b = pairs[:, 0], pairs[:, 1]
    meet = threaded(_interiors_meet, geoms[a], geoms[b]).astype(bool)
    a, b = a[meet], b[meet]
    area = shapely.area(threaded(shapely.intersection, geoms[a], geoms[b])) if len(a) else np.empty(0)
    above = area > SLIVER_M2
    return a[above], b[above], area[above]


def _interiors_meet(first: np.ndarray, second: np.ndarray) -> NDArray[np.bool_]:
    return shapely.relate_pattern(first, second, _INTERIORS_MEET)


def _holes(unshared: np.ndarray, geoms: np.ndarray, tree: shapely.STRtree) -> tuple[np.ndarray, np.ndarray]:
    """Faces enclosed by unshared edges that no polygon covers (above ``SLIVER_M2``), and the polygons around them.

    Unshared edges are the boundary of the covered area (plus overlap and noding defects), so they enclose the
    covered area itself and its holes; a face is a hole when its inner point lies in no polygon.
    """
    if not len(unshared):
        return np.empty(0, dtype=object), np.empty(0, dtype=np.int64)
    faces = shapely.get_parts(shapely.polygonize(noded(unshared)))
    faces = faces[shapely.area(faces) > SLIVER_M2]
    if not len(faces):
        return faces, np.empty(0, dtype=np.int64)
    covered = np.zeros(len(faces), dtype=bool)
    covered[np.unique(tree.query(shapely.point_on_surface(faces), predicate="intersects")[0])] = True
    holes = faces[~covered]
    bordering = np.unique(tree.query(holes, predicate="touches")[1]) if len(holes) else np.empty(0, np.int64)
    return holes, bordering


def noded(segments: np.ndarray) -> np.ndarray:
    """The segments as lines cut at every crossing. GEOS's floating-point noder can fail to converge on nearly
    collinear segments (a generated Gironde has such runs, e.g. four edges within 1e-9 m of one line); snap-rounding
    to ``NODING_GRID_M`` always converges and moves no vertex further than the precision the data is written to."""
    lines = shapely.linestrings(segments)
    assert isinstance(lines, np.ndarray), "segments of shape (n, 2, 2) give an array of n lines"
    try:
        return shapely.get_parts(shapely.node(shapely.multilinestrings(lines)))
    except shapely.errors.GEOSException:
        return shapely.get_parts(shapely.union_all(lines, grid_size=NODING_GRID_M))


def _share(part: float, whole: float) -> str:
    return f"{part / whole * 100:.3f} %" if whole else "0 %"
