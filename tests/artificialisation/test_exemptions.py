"""The exemption rules (config/artificialisation/exemptions.csv) on hand-built polygons whose areas are exact: which
claim applies, the 2 500 m² of a park counted over its touching polygons, and the stock avec exemptions."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely

from ocsge_processes.artificialisation import compute_stock
from ocsge_processes.artificialisation.exemptions import (
    applied_exemptions,
    exempted_areas_ha,
    exemption_rules,
    load_exemption_rules,
    with_exemptions,
)
from ocsge_processes.artificialisation.rules import RulesError
from ocsge_processes.artificialisation.territory import Territory, TerritoryPart
from ocsge_processes.errors import InvalidInputError

from .polygons import layer

PV, PARK = "photovoltaique", "parc_jardin_public"


def _box(x0: int, width: int, height: int = 50) -> shapely.Polygon:
    return shapely.box(x0, 0, x0 + width, height)


def _ign(rows: list[tuple[str, str, shapely.Polygon, str, str | None]]) -> object:
    """An exemption layer from (code_cs, code_us, geometry, artif, exemption) rows."""
    return layer(
        [(cs, us, geometry) for cs, us, geometry, _, _ in rows],
        artif=[row[3] for row in rows],
        exemption=[row[4] for row in rows],
    )


# Strips 50 m high, west to east (area = width × 50 m²):
ROWS = [
    ("CS2.2.1", "US2", _box(0, 20), "artif", PV),  # 1 000 m² PV park on grassland: exempt, no area threshold
    ("CS2.1.1.1", "US2", _box(20, 20), "artif", PV),  # 1 000 m² PV in forest: always counted
    ("CS2.2.1", "US3", _box(40, 30), "artif", PARK),  # 1 500 m² + the next 1 500 m², touching: 3 000 m² park
    ("CS2.1.1.2", "US3", _box(70, 30), "artif", PARK),  # wooded part of the same park
    ("CS1.1.1.2", "US3", _box(100, 10), "artif", PARK),  # the park's paved alley (500 m²): not vegetated
    ("CS2.2.1", "US3", _box(120, 40), "artif", PARK),  # 2 000 m² park alone (a 10 m gap): under 2 500 m²
    ("CS2.2.1", "US1.1", _box(160, 20), "non artif", PV),  # already non-artificialised: nothing to exempt
    ("CS1.1.1.1", "US5", _box(180, 20), "artif", None),  # a building, no claim
]


def test_each_rule_on_hand_built_polygons() -> None:
    applied = list(applied_exemptions(_ign(ROWS)))
    assert applied == [PV, None, PARK, PARK, None, None, None, None]


def test_the_park_threshold_counts_touching_polygons_together() -> None:
    # The lone 2 000 m² park becomes 2 500 m² with a touching 500 m² lawn of the same park: exempt from 2 500 m².
    rows = [*ROWS[:6], ("CS2.2.1", "US3", _box(160, 10), "artif", PARK)]
    assert list(applied_exemptions(_ign(rows)))[5:] == [PARK, PARK]
    # ... but not when the lawn is only 499 m² (a 9.98 m strip): 2 499 m² < 2 500 m².
    narrow = [*ROWS[:6], ("CS2.2.1", "US3", shapely.box(160, 0, 169.98, 50), "artif", PARK)]
    assert list(applied_exemptions(_ign(narrow)))[5:] == [None, None]


def test_stock_avec_exemptions_and_exempted_areas_cut_at_the_border() -> None:
    frame = _ign(ROWS)
    whole = Territory("T", "Territoire", "commune", (TerritoryPart(2154, _box(0, 200)),))
    # Artificialised by IGN: 1 000 + 1 000 + 1 500 + 1 500 + 500 + 2 000 + 1 000 m² = 8 500 m² = 0.85 ha.
    assert compute_stock(frame, whole, "ign").surface_artificialisee_ha == pytest.approx(0.85)
    # Exempt: the PV park (0.1 ha) and the 3 000 m² park (0.3 ha): 0.45 ha remain.
    assert compute_stock(with_exemptions(frame), whole, "ign").surface_artificialisee_ha == pytest.approx(0.45)
    # A territory ending at x = 55 holds the PV park whole and 15 m of the park (750 m²).
    west = Territory("W", "Ouest", "commune", (TerritoryPart(2154, _box(0, 55)),))
    areas = exempted_areas_ha(frame, [whole, west])
    assert areas[0] == {PV: pytest.approx(0.1), PARK: pytest.approx(0.3)}
    assert areas[1] == {PV: pytest.approx(0.1), PARK: pytest.approx(0.075)}


def test_empty_claims_and_missing_column_apply_nothing() -> None:
    frame = _ign([("CS2.2.1", "US2", _box(0, 20), "artif", "")])
    assert list(applied_exemptions(frame)) == [None]
    assert list(applied_exemptions(frame.drop(columns="exemption"))) == [None]


def test_an_unknown_claim_is_refused_naming_it() -> None:
    with pytest.raises(InvalidInputError, match="'eolien'.*photovoltaique, parc_jardin_public"):
        applied_exemptions(_ign([("CS2.2.1", "US2", _box(0, 20), "artif", "eolien")]))


def test_rules_file_says_where_each_rule_comes_from() -> None:
    rules = exemption_rules()
    assert set(rules) == {PV, PARK}
    assert rules[PARK].surface_min_m2 == 2500 and rules[PARK].basis == "source"
    assert "exemption-des-parcs-et-jardins-publics" in rules[PARK].source
    assert rules[PV].basis == "inferred" and "2023-1096" in rules[PV].source
    # CS2 stands for every vegetated code below it, CS2.1.1 for every wooded one.
    assert {"CS2.2.1", "CS2.1.1.3", "CS2.1.2"} <= rules[PARK].couvertures and "CS1.1.1.2" not in rules[PARK].couvertures
    assert {"CS2.1.1", "CS2.1.1.1"} <= rules[PV].sauf and rules[PV].couvertures is None


def test_a_rule_on_an_unknown_code_or_without_source_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "exemptions.csv"
    path.write_text("exemption,libelle,couvertures,sauf,surface_min_m2,basis,source\nx,X,CS9,,0,source,s\n")
    with pytest.raises(RulesError, match="CS9"):
        load_exemption_rules(path)
    path.write_text("exemption,libelle,couvertures,sauf,surface_min_m2,basis,source\nx,X,CS2,,0,source,\n")
    with pytest.raises(RulesError, match="needs a source"):
        load_exemption_rules(path)
