"""The CS × US matrix, the decree categories and the validation of the rules files."""

from __future__ import annotations

import shutil
from pathlib import Path

import pandas as pd
import pytest

from ocsge_processes.artificialisation import (
    artificial_flags,
    decree_categories,
    decree_category,
    is_artificial,
    rules,
)
from ocsge_processes.artificialisation.rules import RulesError, load_rules
from ocsge_processes.errors import InvalidInputError, UnknownCodeError
from ocsge_processes.nomenclature import couverture, usage
from ocsge_processes.resources import config_dir

CS_LEAVES = couverture().leaves()
US_LEAVES = usage().leaves()
#: Issue 3: herbaceous cover is artificial for these usages only.
HERBACEOUS_ARTIFICIAL_US = {
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


def expected_artificial(cs: str, us: str) -> bool:
    """The matrix as issue 3 states it: every CS1.1.x but quarrying, herbaceous cover with urban uses."""
    if cs.startswith("CS1.1."):
        return (cs, us) != ("CS1.1.2.1", "US1.3")
    return cs in ("CS2.2.1", "CS2.2.2") and us in HERBACEOUS_ARTIFICIAL_US


def test_nomenclature_has_the_leaves_the_matrix_is_stated_on() -> None:
    assert len(CS_LEAVES) == 14 and len(US_LEAVES) == 20


@pytest.mark.parametrize("cs", CS_LEAVES)
@pytest.mark.parametrize("us", US_LEAVES)
def test_every_matrix_cell(cs: str, us: str) -> None:
    assert is_artificial(cs, us) is expected_artificial(cs, us)


@pytest.mark.parametrize("cs", CS_LEAVES)
@pytest.mark.parametrize("us", US_LEAVES)
def test_categories_one_to_five_are_the_artificial_cells(cs: str, us: str) -> None:
    category = decree_category(cs, us)
    assert 1 <= category <= 10
    assert (category <= 5) is expected_artificial(cs, us)
    assert rules().categories[category].artificial is expected_artificial(cs, us)


@pytest.mark.parametrize(
    ("cs", "us", "category"),
    [
        ("CS1.1.1.1", "US5", 1),  # built
        ("CS1.1.1.1", "US1.1", 1),  # a farm building is still built
        ("CS1.1.1.1", "US6.2", 5),  # abandoned building: 5° covers 1° to 4° abandoned
        ("CS1.1.1.2", "US4.1.1", 2),  # road
        ("CS1.1.2.1", "US5", 3),  # gravel yard
        ("CS1.1.2.2", "US3", 3),  # synthetic sports ground
        ("CS1.1.2.1", "US6.1", 5),  # building site
        ("CS2.2.1", "US5", 4),  # garden lawn
        ("CS2.2.1", "US4.1.1", 4),  # road verge
        ("CS2.2.2", "US6.2", 5),  # abandoned herbaceous urban land
        ("CS1.1.2.1", "US1.3", 6),  # quarry in operation
        ("CS1.2.2", "US6.3", 6),  # water
        ("CS1.2.3", "US6.3", 6),  # snow, glacier
        ("CS1.2.2", "US1.4", 7),  # aquaculture
        ("CS2.2.1", "US1.1", 7),  # crops
        ("CS2.1.3", "US1.1", 7),  # vineyard
        ("CS2.1.1.2", "US1.2", 8),  # conifer plantation
        ("CS2.1.2", "US6.3", 9),  # heath without use
        ("CS2.2.1", "US6.3", 9),  # grassland without use
        ("CS2.1.1.1", "US3", 10),  # trees of a park
        ("CS2.2.1", "US6.6", 10),  # herbaceous, unknown use
    ],
)
def test_decree_category(cs: str, us: str, category: int) -> None:
    assert decree_category(cs, us) == category


def test_a_non_leaf_code_gets_the_answer_its_leaves_share() -> None:
    assert is_artificial("CS2.1.1", "US5") is False  # every tree cover is non-artificial
    assert is_artificial("CS2.2", "US5") is True  # both herbaceous leaves are artificial with US5
    assert is_artificial("CS1.1.1", "US6") is True
    assert decree_category("CS2.1.1", "US1.2") == 8


def test_a_non_leaf_code_whose_leaves_disagree_has_no_answer() -> None:
    with pytest.raises(InvalidInputError, match="no single answer"):
        is_artificial("CS1.1.2", "US1.3")  # mineral quarry no, composite yes


def test_unknown_code_is_an_error() -> None:
    with pytest.raises(UnknownCodeError, match="INDETERMINE"):
        is_artificial("CS1.1.1.1", "INDETERMINE")


def test_vectorised_lookups_agree_with_scalar_ones_on_every_cell() -> None:
    pairs = pd.DataFrame([(cs, us) for cs in CS_LEAVES for us in US_LEAVES], columns=["cs", "us"])
    flags = artificial_flags(pairs.cs, pairs.us)
    categories = decree_categories(pairs.cs, pairs.us)
    assert flags.tolist() == [is_artificial(cs, us) for cs, us in zip(pairs.cs, pairs.us, strict=True)]
    assert categories.tolist() == [decree_category(cs, us) for cs, us in zip(pairs.cs, pairs.us, strict=True)]


def test_vectorised_lookups_give_na_where_missing_unknown_or_non_leaf_codes_leave_a_doubt() -> None:
    cs = pd.Series(["CS1.1.1.1", None, "CS2.2.1", "CS1.1.2", "CS2.1.1", "CS1.1.1.1"], index=[10, 11, 12, 13, 14, 15])
    us = pd.Series(["US5", "US5", "INDETERMINE", "US1.3", "US5", None], index=[10, 11, 12, 13, 14, 15])
    flags = artificial_flags(cs, us)
    assert list(flags.index) == [10, 11, 12, 13, 14, 15]
    assert flags.isna().tolist() == [False, True, True, True, False, False]
    assert flags[10] and not flags[14]
    assert flags[15]  # a built zone is artificial whatever its (missing) usage
    categories = decree_categories(cs, us)
    assert categories.isna().tolist() == [False, True, True, True, False, True]  # 1° or 5°: depends on usage


def test_thresholds_are_read_from_the_decree_file() -> None:
    limits = rules().thresholds
    assert (limits.built_min_area_m2, limits.min_area_m2, limits.linear_min_width_m) == (50, 2500, 5)
    assert limits.built_covers == {"CS1.1.1.1"}
    assert limits.linear_usages == {"US4.1.1", "US4.1.2", "US4.1.3", "US4.1.4", "US4.1.5"}


@pytest.fixture
def rules_dir(tmp_path: Path) -> Path:
    shutil.copytree(config_dir() / "artificialisation", tmp_path, dirs_exist_ok=True)
    return tmp_path


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert old in text
    path.write_text(text.replace(old, new, 1), encoding="utf-8")


def test_shipped_rules_load(rules_dir: Path) -> None:
    assert load_rules(rules_dir).artificial == rules().artificial


def test_a_code_that_is_not_a_leaf_is_refused(rules_dir: Path) -> None:
    _edit(rules_dir / "matrix.csv", "CS1.1.2.1,US1.3", "CS1.1.2,US1.3")
    with pytest.raises(RulesError, match="'CS1.1.2' is not a couverture"):
        load_rules(rules_dir)


def test_a_category_that_contradicts_the_matrix_is_refused(rules_dir: Path) -> None:
    _edit(rules_dir / "decree.yml", "  - category: 6\n    cs: [CS1.1.2.1]", "  - category: 3\n    cs: [CS1.1.2.1]")
    with pytest.raises(RulesError, match=r"CS1.1.2.1 × US1.3 is category 3"):
        load_rules(rules_dir)


def test_a_pair_no_rule_matches_is_refused(rules_dir: Path) -> None:
    _edit(
        rules_dir / "decree.yml",
        "  - category: 10\n    cs: [CS2.1.1.1, CS2.1.1.2, CS2.1.1.3, CS2.1.2, CS2.1.3, "
        'CS2.2.1, CS2.2.2]\n    us: ["*"]',
        '  - category: 10\n    cs: [CS2.1.3]\n    us: ["*"]',
    )
    with pytest.raises(RulesError, match="no rule matches CS2.1.1.1 × US1.3"):
        load_rules(rules_dir)


def test_every_category_rule_states_its_basis(rules_dir: Path) -> None:
    _edit(rules_dir / "decree.yml", "basis: inferred", "basis: guessed")
    with pytest.raises(RulesError, match="basis"):
        load_rules(rules_dir)
