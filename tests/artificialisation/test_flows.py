"""Flows between two millésimes from hand-built difference polygons, and the 0.5 ha consistency rule."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box

from ocsge_processes.artificialisation import (
    Territory,
    TerritoryPart,
    Transition,
    aggregate_flows,
    combine,
    compute_flows,
    compute_stock,
    consistency_gap_ha,
    is_consistent,
)
from ocsge_processes.errors import InvalidInputError

from .polygons import layer

FIELD = ("CS2.2.1", "US1.1")
YARD = ("CS1.1.1.2", "US5")
BUILDING = ("CS1.1.1.1", "US5")
#: A 4 ha commune, 400 m × 100 m.
COMMUNE = Territory("C", "Commune", "commune", (TerritoryPart(2154, box(0, 0, 400, 100)),))
#: Before and after, as two partitions of the commune.
STRIPS = [
    box(0, 0, 100, 100),
    box(100, 0, 150, 100),
    box(150, 0, 200, 100),
    box(200, 0, 210, 100),
    box(210, 0, 400, 100),
]
BEFORE = [FIELD, YARD, BUILDING, FIELD, FIELD]
AFTER = [YARD, FIELD, YARD, YARD, FIELD]


def differences(before: list = BEFORE, after: list = AFTER, **columns: list) -> gpd.GeoDataFrame:
    """The changed strips, with their codes before and after (the DIFFERENCE layer)."""
    changed = [i for i in range(len(STRIPS)) if before[i] != after[i]]
    return gpd.GeoDataFrame(
        {
            "code_cs_avant": [before[i][0] for i in changed],
            "code_us_avant": [before[i][1] for i in changed],
            "code_cs_apres": [after[i][0] for i in changed],
            "code_us_apres": [after[i][1] for i in changed],
            **columns,
        },
        geometry=[STRIPS[i] for i in changed],
        crs=2154,
    )


def test_flows_from_the_matrix() -> None:
    flows = compute_flows(differences(), COMMUNE)
    assert flows.methode == "matrix"
    assert flows.surface_ha == pytest.approx(4)
    assert flows.artificialisation_ha == pytest.approx(1.1)  # field -> yard: 1 ha + 0.1 ha
    assert flows.desartificialisation_ha == pytest.approx(0.5)  # yard -> field
    assert flows.artificialisation_nette_ha == pytest.approx(0.6)
    assert flows.artificialisation_pct == pytest.approx(27.5)
    assert flows.desartificialisation_pct == pytest.approx(12.5)
    assert flows.artificialisation_nette_pct == pytest.approx(15)
    assert flows.surface_non_classee_ha == 0


def test_flows_by_transition() -> None:
    transitions = compute_flows(differences(), COMMUNE).transitions
    assert transitions == (
        Transition("CS2.2.1", "US1.1", "CS1.1.1.2", "US5", 1, pytest.approx(1.1), 1),
        Transition("CS1.1.1.1", "US5", "CS1.1.1.2", "US5", 0, pytest.approx(0.5), 0),  # artificial both times
        Transition("CS1.1.1.2", "US5", "CS2.2.1", "US1.1", -1, pytest.approx(0.5), -1),  # equal areas: by codes
    )


def test_flows_from_ign_artificialisation_field() -> None:
    # IGN's thresholds kept the 0.1 ha strip out: only two polygons in its DIFF, and its sign wins.
    diff = differences().iloc[[0, 1]].assign(artificialisation=[1, -1])
    flows = compute_flows(diff, COMMUNE)
    assert flows.methode == "ign"
    assert (flows.artificialisation_ha, flows.desartificialisation_ha) == (pytest.approx(1), pytest.approx(0.5))


def test_null_codes_are_reported_not_guessed() -> None:
    before = [FIELD, YARD, BUILDING, (None, None), FIELD]
    flows = compute_flows(differences(before=before), COMMUNE)
    assert flows.artificialisation_ha == pytest.approx(1)
    assert flows.surface_non_classee_ha == pytest.approx(0.1)
    assert Transition("non classé", "non classé", "CS1.1.1.2", "US5", None, pytest.approx(0.1), 1) in flows.transitions


def test_flows_across_two_communes_split_and_add_up() -> None:
    west = Territory("W", "Ouest", "commune", (TerritoryPart(2154, box(0, 0, 125, 100)),))
    east = Territory("E", "Est", "commune", (TerritoryPart(2154, box(125, 0, 400, 100)),))
    flows_w, flows_e = compute_flows(differences(), west), compute_flows(differences(), east)
    assert flows_w.desartificialisation_ha == pytest.approx(0.25)  # the yard -> field strip straddles x = 125
    assert flows_e.desartificialisation_ha == pytest.approx(0.25)
    total = aggregate_flows([flows_w, flows_e], "WE")
    direct = compute_flows(differences(), combine("WE", "Ouest et Est", "epci", [west, east]))
    assert total.artificialisation_nette_ha == pytest.approx(direct.artificialisation_nette_ha)
    assert total.artificialisation_nette_pct == pytest.approx(15)
    assert {(t.code_cs_avant, t.sens): t.surface_ha for t in total.transitions} == {
        (t.code_cs_avant, t.sens): pytest.approx(t.surface_ha) for t in direct.transitions
    }


def test_net_flow_matches_the_change_of_stock() -> None:
    before = compute_stock(
        layer([(*codes, strip) for codes, strip in zip(BEFORE, STRIPS, strict=True)]), COMMUNE, method="matrix"
    )
    after = compute_stock(
        layer([(*codes, strip) for codes, strip in zip(AFTER, STRIPS, strict=True)]), COMMUNE, method="matrix"
    )
    flows = compute_flows(differences(), COMMUNE)
    assert consistency_gap_ha(flows, before, after) == pytest.approx(0, abs=1e-9)
    assert is_consistent(flows, before, after)
    missing_one = compute_flows(differences().iloc[[1, 2, 3]], COMMUNE)  # the 1 ha artificialisation left out
    assert consistency_gap_ha(missing_one, before, after) == pytest.approx(1)
    assert not is_consistent(missing_one, before, after)


def test_decree_flows_are_refused_with_the_way_to_get_them() -> None:
    with pytest.raises(InvalidInputError, match="two stocks"):
        compute_flows(differences(), COMMUNE, method="decree")


def test_unexpected_artificialisation_values_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="1 or -1"):
        compute_flows(differences(artificialisation=[1, -1, 2, 1]), COMMUNE)
