"""Vertex matching of the decree method (``thresholds._share_a_vertex``): exact coordinates, and only those.

Hand-made cases for each way the array shortcut could go wrong (a point met only at a ring's closing vertex, a
hole, a polygon that has a point twice, a true collision of the coordinates' hash, -0.0 against 0.0), and random
polygons on a coarse grid checked pair by pair against sets of coordinate tuples.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import numpy as np
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from ocsge_processes.artificialisation.thresholds import _MIX_X, _point_hashes, _share_a_vertex


def shared(geoms: Sequence[shapely.Geometry], pairs: list[tuple[int, int]]) -> list[bool]:
    first, second = np.array(pairs, dtype=np.int64).reshape(-1, 2).T
    result: list[bool] = _share_a_vertex(np.array(geoms, dtype=object), first, second).tolist()
    return result


def test_a_common_corner_is_shared_and_a_t_junction_is_not() -> None:
    square = box(0, 0, 1, 1)  # its ring starts and ends at (1, 0)
    geoms = [square, box(1, 1, 2, 2), box(1, 0.25, 2, 0.75), Polygon([(1, 0), (2, -1), (2, 0)])]
    # the third one touches the square along its edge, with no vertex in common; the fourth meets it at (1, 0),
    # the point whose closing vertex is left out of the sort
    assert shared(geoms, [(0, 1), (0, 2), (1, 2), (0, 3)]) == [True, False, False, True]
    assert shared([*geoms, Polygon()], [(0, 4), (3, 4)]) == [False, False]  # an empty polygon meets nothing
    assert shared([Polygon(), Polygon()], [(0, 1)]) == [False]
    assert shared(geoms, []) == []


def test_an_island_meets_its_hole_at_a_vertex() -> None:
    hole = [(4, 4), (4, 6), (6, 6), (6, 4)]
    holed = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)], [hole])
    touching = Polygon([(4, 4), (5, 5), (5, 4)])  # at the hole's first (and closing) vertex, the polygon's last one
    inside = Polygon([(4.5, 4.5), (5.5, 5.5), (5.5, 4.5)])  # in the hole, apart
    around = box(10, 0, 12, 10)  # along the shell
    assert shared([holed, touching, inside, around], [(0, 1), (0, 2), (0, 3), (1, 2)]) == [True, False, True, False]


def test_a_polygon_with_a_point_twice_pairs_only_with_others() -> None:
    parts = MultiPolygon([box(0, 0, 1, 1), box(1, 1, 2, 2)])  # two parts touching at (1, 1)
    spiked = Polygon([(5, 5), (6, 5), (6, 5), (6, 6), (5, 6)])  # (6, 5) twice in a row
    geoms = [parts, spiked, box(2, 2, 3, 3), Polygon([(1, 1), (1, 0.5), (1.5, 1)]), box(6, 6, 7, 7)]
    assert shared(geoms, [(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (1, 4)]) == [False, True, True, False, False, True]


def colliding_points() -> tuple[complex, complex]:
    """Two different points with the same 64-bit hash.

    The hash mixes x's bits (times an odd constant) with y's rotated by 32 bits, by xor: an x whose product differs
    from another's by a word whose rotation leaves the top 12 bits alone gives a y of the same sign and exponent as
    the first y (so an ordinary coordinate) that makes the mix equal.
    """
    x1, y1 = np.array([400_000.0]), np.array([6_400_000.0])
    candidates = x1 + 0.5 * np.arange(1, 200_000)
    differ = x1.view(np.uint64) * _MIX_X ^ candidates.view(np.uint64) * _MIX_X
    rotated = differ << np.uint64(32) | differ >> np.uint64(32)  # y's bits are rotated back by as much
    k = int(np.flatnonzero(rotated >> np.uint64(52) == 0)[0])
    y2 = (y1.view(np.uint64) ^ rotated[k : k + 1]).view(np.float64)
    return complex(x1[0], y1[0]), complex(candidates[k], y2[0])


def test_a_hash_collision_never_makes_a_pair() -> None:
    one, other = colliding_points()
    assert one != other
    assert _point_hashes(np.array([one, other])).tolist() == _point_hashes(np.array([one, one])).tolist()

    def near(point: complex) -> Polygon:
        return Polygon([(point.real, point.imag), (point.real + 1, point.imag), (point.real, point.imag + 1)])

    # the first and third polygons have the point, the second one the point that collides with it, in between
    geoms = [near(one), near(other), Polygon([(one.real, one.imag), (one.real - 1, one.imag), (one.real, 0)])]
    assert shared(geoms, [(0, 1), (0, 2), (1, 2)]) == [False, True, False]


def test_minus_zero_is_zero() -> None:
    geoms = [Polygon([(0.0, 5), (1, 5), (1, 6)]), Polygon([(-0.0, 5), (-1, 5), (-1, 6)])]
    assert shared(geoms, [(0, 1)]) == [True]


def random_polygons(rng: np.random.Generator, count: int) -> list[shapely.Geometry]:
    """Triangles, quadrilaterals, polygons with a hole and two-part multipolygons with vertices on a 12 × 12 grid,
    so that many share vertices; some zeros are -0.0."""

    def ring(size: int) -> list[tuple[float, float]]:
        coords = rng.integers(0, 12, (size, 2)).astype(float)
        coords[(coords == 0) & (rng.random((size, 2)) < 0.5)] = -0.0
        return [(float(x), float(y)) for x, y in coords]

    kinds = rng.integers(0, 4, count)
    return [
        Polygon(ring(3))
        if kind == 0
        else Polygon(ring(4))
        if kind == 1
        else Polygon(ring(5), [ring(3)])
        if kind == 2
        else MultiPolygon([Polygon(ring(3)), Polygon(ring(4))])
        for kind in kinds
    ]


def test_random_polygons_match_sets_of_coordinates() -> None:
    rng = np.random.default_rng(27)
    geoms = random_polygons(rng, 300)
    points = [set(map(tuple, shapely.get_coordinates(g).tolist())) for g in geoms]
    pairs = list(itertools.combinations(range(len(geoms)), 2))
    pairs = [pairs[k] for k in rng.permutation(len(pairs))]  # any order of the pairs
    expected = [bool(points[i] & points[j]) for i, j in pairs]
    assert 0.05 < np.mean(expected) < 0.95
    assert shared(geoms, pairs) == expected
    some = pairs[:500]  # a subset of the pairs: only their polygons' vertices are read
    assert shared(geoms, some) == expected[:500]
