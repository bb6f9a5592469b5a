"""Imperméabilisation (sealed couvertures CS1.1.1.1 and CS1.1.1.2, whatever the usage) on hand-built strips:
stock, rate, breakdowns by CS and US, flows, and how they differ from artificialisation."""

from __future__ import annotations

import pytest
from shapely.geometry import box

from ocsge_processes.artificialisation import (
    AreaSplit,
    Territory,
    TerritoryPart,
    aggregate_flows,
    combine,
    compute_flows,
    compute_stock,
)
from ocsge_processes.artificialisation.impermeable import impermeable_codes

from .polygons import layer
from .test_flows import COMMUNE, STRIPS, differences

FIELD = ("CS2.2.1", "US1.1")
GARDEN = ("CS2.2.1", "US5")
YARD = ("CS1.1.1.2", "US4.1.1")
BUILDING = ("CS1.1.1.1", "US5")
FOREST = ("CS2.1.1.1", "US1.1")


def test_sealed_couvertures_are_those_of_the_official_tool() -> None:
    # CS1.1.1 is the parent of exactly the two sealed leaves: a delivery that stops there is sealed too.
    assert impermeable_codes() == {"CS1.1.1.1", "CS1.1.1.2", "CS1.1.1"}


def test_stock_rate_and_breakdowns() -> None:
    # 4 ha commune (400 m × 100 m): building 1 ha, yard 0.5 ha, garden 0.5 ha, CS1.1.1 0.25 ha, forest 1.75 ha.
    strips = layer(
        [
            (*BUILDING, box(0, 0, 100, 100)),
            (*YARD, box(100, 0, 150, 100)),
            (*GARDEN, box(150, 0, 200, 100)),
            ("CS1.1.1", "US5", box(200, 0, 225, 100)),
            (*FOREST, box(225, 0, 400, 100)),
        ]
    )
    stock = compute_stock(strips, COMMUNE, method="matrix")
    assert stock.surface_impermeabilisee_ha == pytest.approx(1 + 0.5 + 0.25)
    assert stock.taux_impermeabilisation == pytest.approx(1.75 / 4 * 100)
    assert stock.surface_artificialisee_ha == pytest.approx(2.25), "the garden is artificialised, not sealed"
    assert stock.par_couverture["CS2.2.1"] == AreaSplit(pytest.approx(0.5), pytest.approx(0.5), 0.0)
    assert stock.par_couverture["CS1.1.1.2"] == AreaSplit(pytest.approx(0.5), pytest.approx(0.5), pytest.approx(0.5))
    assert stock.par_usage["US5"] == AreaSplit(pytest.approx(1.75), pytest.approx(1.75), pytest.approx(1.25))
    assert stock.par_usage["US1.1"] == AreaSplit(pytest.approx(1.75), 0.0, 0.0)


#: Strips of 1, 0.5, 0.5, 0.1 and 1.9 ha: a field becomes a garden (artificialised, not sealed), a yard a garden
#: (désimperméabilisé, still artificial), a field a yard (both).
BEFORE = [FIELD, YARD, BUILDING, FIELD, FIELD]
AFTER = [GARDEN, GARDEN, BUILDING, YARD, FIELD]


def test_flows_differ_from_artificialisation() -> None:
    flows = compute_flows(differences(BEFORE, AFTER), COMMUNE)
    assert (flows.artificialisation_ha, flows.desartificialisation_ha) == (pytest.approx(1.1), 0)
    assert flows.impermeabilisation_ha == pytest.approx(0.1)
    assert flows.desimpermeabilisation_ha == pytest.approx(0.5)
    assert flows.impermeabilisation_nette_ha == pytest.approx(-0.4)
    assert flows.impermeabilisation_pct == pytest.approx(2.5)
    assert flows.desimpermeabilisation_pct == pytest.approx(12.5)
    assert flows.impermeabilisation_nette_pct == pytest.approx(-10)
    sealing = {
        (t.code_cs_avant, t.code_us_avant, t.code_cs_apres): t.sens_impermeabilisation for t in flows.transitions
    }
    assert sealing == {
        ("CS2.2.1", "US1.1", "CS2.2.1"): 0,
        ("CS1.1.1.2", "US4.1.1", "CS2.2.1"): -1,
        ("CS2.2.1", "US1.1", "CS1.1.1.2"): 1,
    }


def test_net_flow_is_the_change_of_sealed_stock() -> None:
    before = layer([(*codes, strip) for codes, strip in zip(BEFORE, STRIPS, strict=True)])
    after = layer([(*codes, strip) for codes, strip in zip(AFTER, STRIPS, strict=True)])
    change = (
        compute_stock(after, COMMUNE, method="matrix").surface_impermeabilisee_ha
        - compute_stock(before, COMMUNE, method="matrix").surface_impermeabilisee_ha
    )
    assert change == pytest.approx(0.6 - 1.0)
    assert compute_flows(differences(BEFORE, AFTER), COMMUNE).impermeabilisation_nette_ha == pytest.approx(change)


def test_flows_of_communes_add_up() -> None:
    west = Territory("W", "Ouest", "commune", (TerritoryPart(2154, box(0, 0, 125, 100)),))
    east = Territory("E", "Est", "commune", (TerritoryPart(2154, box(125, 0, 400, 100)),))
    parts = [compute_flows(differences(BEFORE, AFTER), t) for t in (west, east)]
    assert parts[0].desimpermeabilisation_ha == pytest.approx(0.25)  # the yard strip straddles x = 125
    whole = aggregate_flows(parts, "WE")
    direct = compute_flows(differences(BEFORE, AFTER), combine("WE", "W+E", "epci", [west, east]))
    assert whole.impermeabilisation_nette_ha == pytest.approx(direct.impermeabilisation_nette_ha)
    assert whole.desimpermeabilisation_pct == pytest.approx(12.5)
