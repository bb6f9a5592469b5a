"""The touching-pair search of the decree method: vertices shared found with arrays, GEOS for the rest.

Hand-built cases where the shortcut could go wrong (a single shared corner, a T-junction whose vertex sets differ,
boxes that overlap without the polygons meeting), and a brick-wall partition full of T-junctions checked pair by
pair against GEOS over every pair.
"""

from __future__ import annotations

import itertools

import numpy as np
import shapely
from shapely.geometry import box

from ocsge_processes.artificialisation.components import found_in, sorted_unique
from ocsge_processes.artificialisation.thresholds import _share_a_vertex, _touching_pairs

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
    first, second = _touching_pairs(geoms, np.array([False, True]), np.array([True, True]))
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


def test_pairs_equal_geos_over_every_pair() -> None:
    geoms = np.concatenate(
        [brick_wall(12, 10), [box(300, 0, 400, 5).union(box(300, 0, 305, 100)), box(340, 40, 350, 50)]]
    )
    rng = np.random.default_rng(18)
    relevant = rng.random(len(geoms)) < 0.5
    known = rng.random(len(geoms)) < 0.9
    expected = {
        (i, j)
        for i, j in itertools.combinations(range(len(geoms)), 2)
        if (relevant[i] or relevant[j]) and known[i] and known[j] and shapely.intersects(geoms[i], geoms[j])
    }
    first, second = _touching_pairs(geoms, relevant, known)
    assert set(zip(first.tolist(), second.tolist(), strict=True)) == expected
    assert len(first) == len(expected) > 100
    shared = _share_a_vertex(geoms, first, second)
    assert 0 < shared.sum() < len(shared)  # both ways were taken: shared vertices, and T-junctions left to GEOS


def test_sorted_unique_and_found_in_match_numpy() -> None:
    values = np.random.default_rng(3).integers(-(10**12), 10**12, 5000)
    values = np.concatenate([values, values[:700]])
    assert np.array_equal(sorted_unique(values), np.unique(values))
    probes = np.concatenate([values[:300], values[:300] + 1])
    assert np.array_equal(found_in(probes, sorted_unique(values)), np.isin(probes, values))
    assert not found_in(probes, np.empty(0, dtype=np.int64)).any()
