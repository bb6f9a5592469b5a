"""The decree method on hand-built partitions: each threshold and enclosure rule of the annex to R.101-1."""

from __future__ import annotations

import numpy as np
import pytest
from shapely.geometry import box

from ocsge_processes.artificialisation import apply_thresholds, linear_width_m
from ocsge_processes.artificialisation.components import connected_components
from ocsge_processes.errors import InvalidInputError

from .polygons import layer

FIELD = ("CS2.2.1", "US1.1")  # crops: not artificial
YARD = ("CS1.1.1.2", "US5")  # sealed courtyard: artificial, 2 500 m² threshold
BUILDING = ("CS1.1.1.1", "US5")  # artificial, 50 m² threshold
ROAD = ("CS1.1.1.2", "US4.1.1")  # linear infrastructure
EXTENT = box(0, 0, 400, 400)  # 16 ha


def enclosed(outer: tuple[str, str], *inner: tuple[tuple[str, str], object]) -> list[tuple]:
    """A partition: ``inner`` patches and the rest of EXTENT as one ``outer`` polygon around them."""
    rest = EXTENT
    for _, geometry in inner:
        rest = rest.difference(geometry)
    return [(*outer, rest), *[(*codes, geometry) for codes, geometry in inner]]


def decide(rows: list[tuple]) -> list[bool]:
    return apply_thresholds(layer(rows))["artif"].tolist()


@pytest.mark.parametrize(("size", "counts"), [((7, 7), False), ((5, 10), True)])
def test_building_enclosed_in_fields_counts_from_50_m2(size: tuple[int, int], counts: bool) -> None:
    building = box(100, 100, 100 + size[0], 100 + size[1])  # 49 m² or 50 m²
    assert decide(enclosed(FIELD, (BUILDING, building))) == [False, counts]


@pytest.mark.parametrize(("size", "counts"), [((51, 49), False), ((50, 50), True)])
def test_artificial_patch_enclosed_in_fields_counts_from_2500_m2(size: tuple[int, int], counts: bool) -> None:
    patch = box(100, 100, 100 + size[0], 100 + size[1])  # 2 499 m² or 2 500 m²
    assert decide(enclosed(FIELD, (YARD, patch))) == [False, counts]


@pytest.mark.parametrize(("size", "artificial"), [((51, 49), True), ((50, 50), False)])
def test_natural_patch_enclosed_in_artificial_land_is_absorbed_under_2500_m2(
    size: tuple[int, int], artificial: bool
) -> None:
    patch = box(100, 100, 100 + size[0], 100 + size[1])
    assert decide(enclosed(YARD, (FIELD, patch))) == [True, artificial]


def test_building_keeps_counting_when_its_small_cluster_is_absorbed() -> None:
    building, yard = box(100, 100, 110, 110), box(110, 100, 140, 120)  # 100 m² + 600 m², touching
    result = apply_thresholds(layer(enclosed(FIELD, (BUILDING, building), (YARD, yard))))
    assert result["artif"].tolist() == [False, True, False]
    assert result["crit_seuil"].tolist() == [False, False, True]


def test_touching_small_patches_add_up_to_the_threshold() -> None:
    left, right = box(100, 100, 125, 150), box(125, 100, 150, 150)  # 1 250 m² each, one cluster of 2 500
    assert decide(enclosed(FIELD, (YARD, left), (("CS1.1.2.2", "US3"), right))) == [False, True, True]


def test_patches_touching_at_a_corner_form_one_cluster() -> None:
    first, second = box(100, 100, 150, 125), box(150, 125, 200, 150)  # 1 250 m² each, sharing one point
    assert decide(enclosed(FIELD, (YARD, first), (YARD, second))) == [False, True, True]


def test_nested_small_patches_resolve_smallest_first() -> None:
    # A 2 000 m² garden-less lawn ring in a town, with a 400 m² yard inside it: the yard is absorbed by the ring,
    # then the 2 400 m² ring by the town; everything ends artificial instead of the two swapping classes.
    ring_outer, inner = box(100, 100, 149, 149), box(110, 110, 130, 130)
    ring = ring_outer.difference(inner)
    rows = enclosed(YARD, (FIELD, ring_outer))
    rows = [rows[0], (*FIELD, ring), (*YARD, inner)]
    assert decide(rows) == [True, True, True]


def test_patch_with_no_neighbour_keeps_its_class() -> None:
    assert decide([(*YARD, box(0, 0, 10, 10))]) == [True]


def test_large_clusters_keep_their_matrix_class() -> None:
    half_a, half_b = box(0, 0, 200, 400), box(200, 0, 400, 400)
    result = apply_thresholds(layer([(*FIELD, half_a), (*YARD, half_b)]))
    assert result["artif"].tolist() == [False, True]
    assert not result["crit_seuil"].any()


def test_width_estimate_is_exact_for_strips() -> None:
    strips = np.array([box(0, 0, 200, 5), box(0, 0, 200, 4.5), box(0, 0, 4, 1000), box(0, 0, 30, 30)])
    assert linear_width_m(strips) == pytest.approx([5, 4.5, 4, 30], abs=1e-9)


@pytest.mark.parametrize(("width", "counts"), [(4.5, False), (5, True)])
def test_road_across_fields_counts_from_5_m_wide(width: float, counts: bool) -> None:
    # A 400 m road across the fields: 1 800 or 2 000 m², but linked to a large artificial zone at one end.
    town, road, field = box(0, 0, 400, 100), box(0, 100, width, 400), box(width, 100, 400, 400)
    result = apply_thresholds(layer([(*YARD, town), (*ROAD, road), (*FIELD, field)]))
    assert result["artif"].tolist() == [True, counts, False]
    assert result["crit_seuil"].tolist() == [False, not counts, False]


def test_narrow_street_between_built_blocks_stays_artificial() -> None:
    west, street, east = box(0, 0, 198, 400), box(198, 0, 202, 400), box(202, 0, 400, 400)
    assert decide([(*YARD, west), (*ROAD, street), (*YARD, east)]) == [True, True, True]


def test_narrow_path_takes_the_class_along_most_of_its_length() -> None:
    # A 4 m path with town on its west side, town then fields on its east side: 700 m of town, 100 m of fields.
    path = box(100, 0, 104, 400)
    west, east_town, east_field = box(0, 0, 100, 400), box(104, 100, 400, 400), box(104, 0, 400, 100)
    stub = box(100, 400, 104, 410)  # continues past the blocks, touching only the path: decided through it
    rows = [(*YARD, west), (*YARD, east_town), (*FIELD, east_field), (*ROAD, path), (*ROAD, stub)]
    assert decide(rows) == [True, True, False, True, True]


def test_narrow_path_with_ties_or_no_classified_neighbour_does_not_count() -> None:
    path = box(100, 0, 104, 400)
    rows = [(*YARD, box(0, 0, 100, 400)), (*ROAD, path), (*FIELD, box(104, 0, 400, 400))]
    assert decide(rows) == [True, False, False]
    assert decide([(*ROAD, path)]) == [False]


def test_unknown_codes_are_not_classified() -> None:
    result = apply_thresholds(layer(enclosed(FIELD, ((None, "US5"), box(100, 100, 110, 110)))))
    assert result["artif"].isna().tolist() == [False, True]
    assert result["crit_seuil"].isna().tolist() == [False, True]


def test_result_keeps_the_index() -> None:
    rows = layer(enclosed(FIELD, (BUILDING, box(100, 100, 110, 110))))
    rows.index = [7, 3]
    assert list(apply_thresholds(rows).index) == [7, 3]


def test_geographic_coordinates_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="projected CRS"):
        apply_thresholds(layer([(*YARD, box(0, 0, 0.001, 0.001))], epsg=4326))


def test_missing_code_columns_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="code_us"):
        apply_thresholds(layer([(*YARD, box(0, 0, 10, 10))]).drop(columns="code_us"))


def test_connected_components() -> None:
    labels = connected_components(7, np.array([5, 1, 3, 6]), np.array([1, 2, 4, 4]))
    assert labels.tolist() == [0, 1, 1, 2, 2, 1, 2]
    assert connected_components(3, np.array([], dtype=int), np.array([], dtype=int)).tolist() == [0, 1, 2]
