"""Codes of the generated polygons: nomenclature leaves, a plausible mix, and a DIFF with both directions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import shapely

from ocsge_processes.generate import GeneratedOcsge
from ocsge_processes.generate.landcover import CLASSES, LANDSCAPES, SMALL_BUILT_UP, TRANSITIONS, URBAN_BLOCKS
from ocsge_processes.nomenclature import couverture, usage

#: CS x US -> artificialised, before thresholds (domain reference §2.3, sparte's is_artificial macro).
_ARTIFICIAL_ON_HERBACEOUS = {
    "US2",
    "US3",
    "US5",
    "US235",
    "US4.1.1",
    "US4.1.2",
    "US4.1.3",
    "US4.1.4",
    "US4.1.5",
    "US4.2",
    "US4.3",
    "US6.1",
    "US6.2",
}


def artificial(cs: str, us: str) -> bool:
    if cs.startswith("CS1.1."):
        return not (cs == "CS1.1.2.1" and us == "US1.3")
    return cs in ("CS2.2.1", "CS2.2.2") and us in _ARTIFICIAL_ON_HERBACEOUS


def test_class_tables_use_nomenclature_leaves_and_known_names() -> None:
    cs_leaves, us_leaves = set(couverture().leaves()), set(usage().leaves())
    for cs, us in CLASSES.values():
        assert cs in cs_leaves and us in us_leaves
    named = {name for blocks in URBAN_BLOCKS.values() for _, mix in blocks.values() for name in mix}
    named |= set(SMALL_BUILT_UP.values())
    named |= {name for _, mix in LANDSCAPES.values() for name in mix}
    named |= {move.source for move in TRANSITIONS} | {move.target for move in TRANSITIONS}
    assert named <= set(CLASSES)
    assert {move.where for move in TRANSITIONS} <= {"fringe", "urban", "rural"}


def test_generated_codes_are_leaves(generated: GeneratedOcsge) -> None:
    for occupation in generated.occupation.values():
        assert set(occupation["code_cs"]) <= set(couverture().leaves())
        assert set(occupation["code_us"]) <= set(usage().leaves())


def test_mix_is_plausible(generated: GeneratedOcsge) -> None:
    occupation = generated.occupation[generated.millesimes[0]]
    area = occupation.area
    share = area.groupby(occupation["code_cs"].str.slice(0, 5)).sum() / area.sum()
    assert share["CS2.1"] + share["CS2.2"] > 0.5  # mostly vegetated land
    assert 0.02 < share["CS1.1"] < 0.5
    counts = occupation.groupby(["code_cs", "code_us"]).size()
    for pair in [
        ("CS1.1.1.1", "US5"),
        ("CS1.1.1.2", "US4.1.1"),
        ("CS2.2.1", "US5"),
        ("CS2.2.1", "US1.1"),
        ("CS2.1.1.2", "US1.2"),
    ]:
        assert counts.get(pair, 0) > 0, pair


def test_ossature_marks_exactly_the_roads(generated: GeneratedOcsge) -> None:
    for occupation in generated.occupation.values():
        road = (occupation["code_cs"] == "CS1.1.1.2") & (occupation["code_us"] == "US4.1.1")
        assert (occupation["ossature"] == road.astype(int)).all()
        assert road.any()


def test_diff_holds_exactly_the_changed_polygons(generated: GeneratedOcsge) -> None:
    before, after = (generated.occupation[year] for year in generated.millesimes)
    assert (before["id"].to_numpy() == after["id"].to_numpy()).all()
    assert shapely.equals_exact(before.geometry.array, after.geometry.array, tolerance=0).all()
    changed = (before["code_cs"] != after["code_cs"]) | (before["code_us"] != after["code_us"])
    diff = generated.diff
    assert len(diff) == changed.sum() > 0
    assert 0.002 < changed.mean() < 0.1  # a few per cent
    expected = pd.DataFrame(
        {
            "cs_avant": before["code_cs"][changed].to_numpy(),
            "us_avant": before["code_us"][changed].to_numpy(),
            "cs_apres": after["code_cs"][changed].to_numpy(),
            "us_apres": after["code_us"][changed].to_numpy(),
        }
    )
    pd.testing.assert_frame_equal(diff[list(expected)].reset_index(drop=True), expected, check_dtype=False)
    assert shapely.equals_exact(diff.geometry.array, before.geometry.array[changed.to_numpy()], tolerance=0).all()
    assert (diff["millesime_avant"] == generated.millesimes[0]).all()
    assert (diff["millesime_apres"] == generated.millesimes[1]).all()
    assert diff["id"].is_unique


def test_diff_has_artificialisation_and_desartificialisation(generated: GeneratedOcsge) -> None:
    diff = generated.diff
    was = np.array([artificial(cs, us) for cs, us in zip(diff["cs_avant"], diff["us_avant"], strict=True)])
    now = np.array([artificial(cs, us) for cs, us in zip(diff["cs_apres"], diff["us_apres"], strict=True)])
    artificialised, renatured = diff.area[~was & now].sum(), diff.area[was & ~now].sum()
    assert renatured > 0
    assert artificialised > 2 * renatured  # mostly artificialisation


@pytest.mark.parametrize("index", [0, 1])
def test_buildings_outside_zones_are_rural_or_new(generated: GeneratedOcsge, index: int) -> None:
    year = generated.millesimes[index]
    occupation, zones = generated.occupation[year], generated.zone_construite[year]
    outside = ~occupation.representative_point().within(zones.union_all())
    buildings = occupation[outside & (occupation["code_cs"] == "CS1.1.1.1")]
    assert set(buildings["code_us"]) <= {"US1.1", "US5"}
