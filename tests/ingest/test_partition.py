"""Overlaps and gaps of hand-built layers, with exact areas (integer rectangles)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely import box

from ocsge_processes.ingest.partition import SLIVER_M2, noded, partition_report


def layer(polygons: list[shapely.Geometry]) -> np.ndarray:
    """MultiPolygons, as ingest hands them over."""
    return shapely.multipolygons(np.array(polygons, dtype=object), indices=np.arange(len(polygons)))


def grid(size: int = 5) -> list[shapely.Geometry]:
    """size × size squares of 10 m; every other column drawn clockwise, as files mix orientations."""
    return [
        box(x, y, x + 10, y + 10, ccw=bool(x % 20)) for x in range(0, 10 * size, 10) for y in range(0, 10 * size, 10)
    ]


def test_a_partition_is_clean_whatever_its_rings_orientation() -> None:
    report = partition_report(layer(grid()))
    assert report.clean and (report.polygons, report.area_m2, report.involved) == (25, 2500.0, 0)


def test_an_island_filling_a_hole_is_clean() -> None:
    ring = box(0, 0, 30, 30).difference(box(10, 10, 20, 20))
    assert partition_report(layer([ring, box(10, 10, 20, 20)])).clean


def test_a_missing_polygon_is_one_hole_bordered_by_its_eight_neighbours() -> None:
    polygons = grid()
    del polygons[12]
    report = partition_report(layer(polygons))
    assert (report.gaps, report.gap_m2, report.overlap_pairs, report.involved) == (1, 100.0, 0, 8)


def test_an_empty_hole_of_a_single_polygon_is_a_gap() -> None:
    report = partition_report(layer([box(0, 0, 30, 30).difference(box(10, 10, 20, 20))]))
    assert (report.gaps, report.gap_m2) == (1, 100.0)


@pytest.mark.parametrize(
    ("extra", "area", "involved"),
    [
        (box(15, 20, 25, 30), 100.0, 3),  # across two cells, half over each
        (box(21, 21, 22, 22), 1.0, 2),  # inside one cell, touching none of its edges
        (box(20, 20, 30, 30), 100.0, 2),  # a duplicate of a cell
    ],
    ids=["across", "inside", "duplicate"],
)
def test_overlaps_are_the_sum_of_pairwise_intersections(extra, area, involved) -> None:
    report = partition_report(layer([*grid(), extra]))
    assert (report.overlap_m2, report.gaps, report.involved) == (area, 0, involved)
    assert not report.clean


def test_slivers_from_rounding_are_not_reported() -> None:
    """Two cells overlapping on 1 mm × 10 m = 0.01 m², the rounding limit: not an overlap."""
    report = partition_report(layer([box(0, 0, 10, 10), box(9.999, 0, 20, 10)]))
    assert report.clean and SLIVER_M2 == 0.01
    assert partition_report(layer([box(0, 0, 10, 10), box(9.99, 0, 20, 10)])).overlap_m2 == pytest.approx(
        0.1, abs=1e-9
    )  # float rounding of 10 − 9.99


def test_nearly_collinear_edges_are_noded_without_a_geos_error() -> None:
    """Four unshared edges of a generated Gironde (cell size 185 m) on which GEOS's floating noder fails to converge
    ("Iterated noding failed"): ingest of the whole département stopped there. Snap-rounded, they node into the
    pieces of their one line."""
    segments = np.array(
        [
            [[453141.5757568172, 6391815.858491182], [453130.15504759015, 6391812.027872526]],
            [[453130.1550475902, 6391812.027872526], [453133.5885786868, 6391813.179512762]],
            [[453133.5885786868, 6391813.179512762], [453137.39352175134, 6391814.455728241]],
            [[453141.5757568172, 6391815.858491182], [453133.5885786868, 6391813.179512762]],
        ]
    )
    with pytest.raises(shapely.errors.GEOSException):
        shapely.node(shapely.multilinestrings(shapely.linestrings(segments)))  # the failure this guards against
    pieces = noded(segments)
    assert len(pieces) >= 3 and shapely.is_valid(pieces).all()
    whole = shapely.linestrings(segments[0])
    assert shapely.length(shapely.union_all(pieces)) == pytest.approx(whole.length, abs=0.002)  # two 1 mm snaps
