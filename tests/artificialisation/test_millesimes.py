"""The millésime index: each département at its millésime of the rank asked for (hand-built holdings)."""

from __future__ import annotations

import pytest

from ocsge_processes.artificialisation.millesimes import select
from ocsge_processes.errors import InvalidInputError

#: Years as sparte's sources.json gives them: Gironde three millésimes, Landes two others, Réunion two more.
HELD = {"33": [2024, 2018, 2021], "40": [2020, 2023], "974": [2017, 2022]}


def test_named_years_stand_for_their_rank_in_every_departement() -> None:
    selection = select(HELD, [2020, 2023])
    assert selection.labels == (2020, 2023) and selection.ranks == (1, 2)
    assert dict(selection.years) == {"33": (2018, 2021), "40": (2020, 2023), "974": (2017, 2022)}
    assert selection.at(1) == {"33": 2021, "40": 2023, "974": 2022}
    assert selection.pairs() == [(0, 1)] and selection.pair_label(0, 1) == "2020-2023"


def test_no_year_gives_every_rank_all_departements_hold() -> None:
    selection = select(HELD, None)
    assert selection.ranks == (1, 2) and selection.labels == ("M1", "M2")
    alone = select({"33": HELD["33"]}, [])
    assert alone.labels == (2018, 2021, 2024) and alone.pairs() == [(0, 1), (1, 2)]


def test_a_rank_agreed_by_every_departement_keeps_its_year() -> None:
    assert select({"33": [2018, 2021], "24": [2018, 2022]}, None).labels == (2018, "M2")


@pytest.mark.parametrize(
    ("requested", "message"),
    [
        ([2021, 2024], "département 40 has no 3rd millésime ingested (its millésimes: 2020, 2023)"),
        ([2019], "millésime 2019 is not ingested for this territory"),
    ],
)
def test_a_rank_missing_in_one_departement_names_it(requested: list[int], message: str) -> None:
    with pytest.raises(InvalidInputError, match=message.replace("(", r"\(").replace(")", r"\)")):
        select(HELD, requested)


def test_a_year_of_two_ranks_is_ambiguous() -> None:
    with pytest.raises(InvalidInputError, match="1st or the 2nd millésime depending on the département"):
        select({"33": [2018, 2021], "40": [2021, 2024]}, [2021])


def test_a_departement_with_nothing_ingested_is_named() -> None:
    with pytest.raises(InvalidInputError, match="département 974"):
        select({"33": [2018], "974": []}, None)
