"""The touching-pair search of the decree method: vertices shared found with arrays, GEOS for the rest it needs.

Hand-built cases where the shortcut could go wrong (a single shared corner, a T-junction whose vertex sets differ,
boxes that overlap without the polygons meeting), and a brick-wall partition full of T-junctions checked pair by
pair against GEOS over every pair: the pairs found all touch, and the sieve decides with them what it decides
with every touching pair.
"""

from __future__ import annotations

import itertools

import numpy as np
import shapely
from shapely.geometry import Polygon, box

from ocsge_processes.artificialisation.components import found_in, sorted_unique
from ocsge_processes.artificialisation.thresholds import _deciding_pairs, _settled, _share_a_vertex, _sieve

from .test_thresholds import FIELD, YARD, decide, enclosed


def test_patches_meeting_at_one_vertex_form_one_cluster() -> None:
    # 1 600 m² + 900 m² yards in fields, meeting only at (140, 140): one cluster of 2 500 m², which stays.
    first, second = box(100, 100, 140, 140), box(140, 140, 170, 170)
    assert _share_a_vertex(np.array([first, second]), np.array([0]), np.array([1])).tolist() == [True]
    assert decide(enclosed(FIELD, (YARD, first), (YARD, second))) == [False, True, True]


def test_patches_meeting_along_a_t_junction_form_one_cluster() -> None:
    # The second yard's left edge lies inside the first one's right edge: no vertex in common, yet they touch.
    first, second = box(100, 100, 140, 140), box(140, 105, 170, 135)  # 1 600 m² + 900 m²
    assert _share_a_vertex(np.array([first, second]), np.array([0]), np.array([1])).tolist() == [False]
    assert decide(enclosed(FIELD, (YARD, first), (YARD, second))) == [False, True, True]


def test_overlapping_boxes_without_contact_are_not_neighbours() -> None:
    # A 2 900 m² L-shaped yard and a 400 m² yard inside its box, apart: the small one alone flips to fields.
    corner = box(100, 100, 250, 110).union(box(100, 100, 110, 250))
    small = box(150, 150, 170, 170)
    geoms = np.array([corner, small])
    both = np.array([True, True])
    first, second = _deciding_pairs(geoms, both, both, np.array([False, True]), both)
    assert len(first) == len(second) == 0
    assert decide(enclosed(FIELD, (YARD, corner), (YARD, small))) == [False, True, False]


def brick_wall(rows: int, columns: int) -> np.ndarray:
    """Bricks 20 × 10 m, every other row shifted by half a brick: each brick meets the next row at T-junctions."""
    bricks = []
    for row in range(rows):
        shift = 10 if row % 2 else 0
        for column in range(columns):
            x = column * 20 - shift
            bricks.append(box(max(x, -10), row * 10, x + 20, row * 10 + 10))
    return np.array(bricks)


def triangles(x0: float, cells: int) -> np.ndarray:
    """Squares of 10 m cut along a diagonal: the triangles of two cells that meet at a corner have boxes that touch
    while the triangles are apart (neither has that corner)."""
    out = []
    for i, j in itertools.product(range(cells), repeat=2):
        x, y = x0 + 10 * i, 10 * j
        out += [Polygon([(x, y), (x + 10, y), (x, y + 10)]), Polygon([(x + 10, y), (x + 10, y + 10), (x, y + 10)])]
    return np.array(out)


def test_contacts_the_shared_vertices_settle_are_not_tested() -> None:
    geoms = triangles(0, 6)
    every = np.array(list(itertools.combinations(range(len(geoms)), 2)))
    first, second = every[
        shapely.intersects(shapely.envelope(geoms[every[:, 0]]), shapely.envelope(geoms[every[:, 1]]))
    ].T
    shared = _share_a_vertex(geoms, first, second)
    klass = np.arange(len(geoms)) % 2 == 0  # lower triangles one class, upper ones the other
    active = np.ones(len(geoms), dtype=bool)
    settled = _settled(klass, active, (first[shared], second[shared]), first[~shared], second[~shared])
    assert settled.sum() > 10  # boxes meeting at a corner, triangles of one class joined or bordering already
    active[first[~shared][settled][0]] = False  # a narrow polygon's contacts are always tested
    assert (
        _settled(klass, active, (first[shared], second[shared]), first[~shared], second[~shared]).sum() < settled.sum()
    )


def test_pairs_decide_what_every_touching_pair_decides() -> None:
    geoms = np.concatenate(
        [
            brick_wall(12, 10),
            [box(300, 0, 400, 5).union(box(300, 0, 305, 100)), box(340, 40, 350, 50)],
            triangles(500, 8),
        ]
    )
    rng = np.random.default_rng(18)
    area = shapely.area(geoms)
    klass = rng.random(len(geoms)) < 0.5
    known = rng.random(len(geoms)) < 0.9
    narrow = known & (rng.random(len(geoms)) < 0.1)
    active = known & ~narrow
    relevant = rng.random(len(geoms)) < 0.5
    every = sorted(
        (i, j)
        for i, j in itertools.combinations(range(len(geoms)), 2)
        if (relevant[i] or relevant[j]) and known[i] and known[j] and shapely.intersects(geoms[i], geoms[j])
    )
    first, second = _deciding_pairs(geoms, klass, active, relevant, known)
    found = set(zip(first.tolist(), second.tolist(), strict=True))
    assert found <= set(every)  # each pair found touches
    assert len(found) > 100
    assert {(i, j) for i, j in every if narrow[i] or narrow[j]} <= found  # a narrow polygon's contacts are all read
    all_first, all_second = np.array(every).T
    # the brick area is 200 m²: a threshold of 1 000 m² makes clusters of up to five bricks flip
    assert np.array_equal(
        _sieve(klass, area, active, first, second, 1_000), _sieve(klass, area, active, all_first, all_second, 1_000)
    )
    shared = _share_a_vertex(geoms, all_first, all_second)
    assert 0 < shared.sum() < len(shared)  # both ways were taken: shared vertices, and T-junctions left to GEOS


def test_sorted_unique_and_found_in_match_numpy() -> None:
    values = np.random.default_rng(3).integers(-(10**12), 10**12, 5000)
    values = np.concatenate([values, values[:700]])
    assert np.array_equal(sorted_unique(values), np.unique(values))
    probes = np.concatenate([values[:300], values[:300] + 1])
    assert np.array_equal(found_in(probes, sorted_unique(values)), np.isin(probes, values))
    assert not found_in(probes, np.empty(0, dtype=np.int64)).any()
