"""The area of polygons inside half-planes, for many polygons at once.

Most polygons across a commune border meet only one or two consecutive segments of it within their box. There
the commune is the half-plane on the segment's inner side, or the wedge between two: their intersection where
the border turns towards the commune, their union where it turns away. A polygon is clipped by a half-plane edge
by edge (Sutherland–Hodgman); convex or not, the result may have edges doubled along the line, which add no area,
so the area is the piece's to float rounding. numpy does it for every polygon at once, where a GEOS overlay
costs about 20 µs a pair.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import shapely

#: A line per polygon: its start and end points, rows of x, y.
Line = tuple[np.ndarray, np.ndarray]


@dataclass(frozen=True)
class Rings:
    """The rings of many polygons (Polygons or MultiPolygons), each piece's exterior first, and their points."""

    geometries: np.ndarray
    owner: np.ndarray  # the polygon of each ring
    exterior: np.ndarray  # whether each ring is its piece's exterior
    points: np.ndarray  # x, y of every ring's points, ring after ring, each ring closed
    ring: np.ndarray  # the ring of each point


def rings_of(polygons: np.ndarray) -> Rings:
    """The rings of ``polygons`` with their points: the clipping here and the commune borders both walk them."""
    pieces, polygon = shapely.get_parts(polygons, return_index=True)
    rings, piece = shapely.get_rings(pieces, return_index=True)
    points, ring = shapely.get_coordinates(rings, return_index=True)
    return Rings(rings, polygon[piece], np.r_[True, piece[1:] != piece[:-1]], points, ring)


def area_left_of_all(polygons: np.ndarray, lines: Sequence[Line]) -> np.ndarray:
    """The area of each of ``polygons`` (Polygons or MultiPolygons) left of every one of ``lines``."""
    rings = rings_of(polygons)
    owner, ring, count = rings.owner, rings.ring, len(rings.geometries)
    # coordinates from the first line's start: rounding stays relative to the polygon's size, not to Lambert-93's
    origin = lines[0][0]
    points = rings.points - origin[owner[ring]]
    whole = _shoelace(points, ring, count)
    for start, end in lines:
        points, ring = _clip(points, ring, (start - origin)[owner[ring]], (end - start)[owner[ring]])
    # each ring's clipped area signed to add its exterior and take its holes away, whichever way it turns
    kept = _shoelace(points, ring, count) * np.sign(whole) * np.where(rings.exterior, 1.0, -1.0)
    return np.bincount(owner, weights=kept, minlength=len(polygons))


def _clip(
    points: np.ndarray, ring: np.ndarray, start: np.ndarray, direction: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Each ring (points grouped by ring, closing on its first) clipped to the left of its point's line."""
    if not len(points):
        return points, ring
    side = direction[:, 0] * (points[:, 1] - start[:, 1]) - direction[:, 1] * (points[:, 0] - start[:, 0])
    inside = side >= 0
    following = _following(ring)
    p, q = points, points[following]
    crosses, keeps = inside != inside[following], inside[following]
    # an edge across the line gives the point where it crosses, then each edge gives its end if that is inside
    t = np.divide(side, side - side[following], out=np.zeros(len(side)), where=crosses)
    count = crosses.astype(np.int64) + keeps
    first = np.cumsum(count) - count
    clipped = np.empty((int(count.sum()), 2))
    clipped[first[crosses]] = (p + t[:, None] * (q - p))[crosses]
    clipped[(first + crosses)[keeps]] = q[keeps]
    return clipped, np.repeat(ring, count)


def _following(ring: np.ndarray) -> np.ndarray:
    """The position of the next point of each point's ring, the last going back to the first."""
    starts = np.flatnonzero(np.r_[True, ring[1:] != ring[:-1]])
    following = np.arange(1, len(ring) + 1)
    following[np.r_[starts[1:], len(ring)] - 1] = starts
    return following


def _shoelace(points: np.ndarray, ring: np.ndarray, count: int) -> np.ndarray:
    """The signed area of each of ``count`` rings given as points grouped by ring, each closing on its first."""
    if not len(points):
        return np.zeros(count)
    following = _following(ring)
    cross = points[:, 0] * points[following, 1] - points[:, 1] * points[following, 0]
    return 0.5 * np.bincount(ring, weights=cross, minlength=count)
