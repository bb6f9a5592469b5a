"""The sparte-named export columns against sparte's own list, and the figures of hand-built lands (exact)."""

from __future__ import annotations

import pytest

from ocsge_processes.workflows.sparte_columns import (
    LEVELS,
    Land,
    PairFlows,
    RankStock,
    aggregate,
    columns,
    export_ranks,
    file_name,
    layer_name,
    row,
)

#: The columns of sparte's ``for_export_artif_<level>.yml`` (MTES-MCT/sparte commit baa21373, 2026-04-17), in their
#: order, geometry (``geom``) aside; the ``imper`` models have the same with ``imper`` for ``artif``.
SPARTE_ARTIF = {
    "commune": "commune_code nom millesimes_1 pourcent_artif_1 surface_artif_1 millesimes_2 pourcent_artif_2 "
    "surface_artif_2 flux_surface_1_2 flux_percent_1_2 departement_code region_code epci_code scot_code "
    "commune_surface",
    "epci": "epci_code nom millesimes_1 pourcent_artif_1 surface_artif_1 millesimes_2 pourcent_artif_2 "
    "surface_artif_2 flux_surface_1_2 flux_percent_1_2",
    "scot": "scot_code nom millesimes_1 pourcent_artif_1 surface_artif_1 millesimes_2 pourcent_artif_2 "
    "surface_artif_2 flux_surface_1_2 flux_percent_1_2",
    "departement": "departement_code nom region_code millesimes_1 pourcent_artif_1 surface_artif_1 millesimes_2 "
    "pourcent_artif_2 surface_artif_2 flux_surface_1_2 flux_percent_1_2",
    "region": "region_code nom millesimes_1 pourcent_artif_1 surface_artif_1 millesimes_2 pourcent_artif_2 "
    "surface_artif_2 flux_surface_1_2 flux_percent_1_2",
}


def sparte_columns(level: str, indicator: str) -> list[str]:
    return SPARTE_ARTIF[level].replace("_artif_", f"_{indicator}_").split()


@pytest.mark.parametrize("indicator", ["artif", "imper"])
@pytest.mark.parametrize("level", LEVELS)
def test_two_millesimes_give_sparte_columns_then_ours(level: str, indicator: str) -> None:
    ours = columns(level, indicator, (1, 2))
    theirs = sparte_columns(level, indicator)
    assert ours[: len(theirs)] == theirs
    assert ours[len(theirs) :] == [f"flux_{indicator}_1_2", f"flux_des{indicator}_1_2", f"flux_{indicator}_net_1_2"]
    assert file_name(indicator, level, "gpkg") == f"{indicator}_{level}.gpkg"
    assert layer_name(indicator, level) == f"{indicator}_{level}"


def test_a_third_millesime_extends_the_pattern() -> None:
    ours = columns("epci", "artif", (1, 2, 3))
    assert ours[: len(sparte_columns("epci", "artif"))] == sparte_columns("epci", "artif")
    assert ours[10:15] == [
        "millesimes_3",
        "pourcent_artif_3",
        "surface_artif_3",
        "flux_surface_2_3",
        "flux_percent_2_3",
    ]
    assert ours[15:] == [
        "flux_artif_1_2",
        "flux_desartif_1_2",
        "flux_artif_net_1_2",
        "flux_artif_2_3",
        "flux_desartif_2_3",
        "flux_artif_net_2_3",
    ]


def _commune(code: str, surface: float, stocks: dict[int, tuple[int, float | None]], epci: str) -> Land:
    return Land(
        code,
        f"Commune {code}",
        surface,
        {
            rank: RankStock(frozenset([year]), artif, None if artif is None else artif / 2)
            for rank, (year, artif) in stocks.items()
        },
        {(1, 2): PairFlows(300.0, 100.0, 50.0, 10.0)},
        {"departement_code": code[:2], "epci_code": epci, "region_code": "75", "scot_code": None},
    )


def test_row_of_a_commune_is_in_square_metres_and_percent() -> None:
    land = _commune("33009", 10_000.0, {1: (2018, 1_000.0), 2: (2021, 1_250.0)}, "200067999")
    line = row(land, "commune", "artif", export_ranks([land]))
    assert line["commune_code"] == "33009" and line["nom"] == "Commune 33009"
    assert line["millesimes_1"] == "2018" and line["millesimes_2"] == "2021"
    assert line["surface_artif_1"] == 1_000.0 and line["surface_artif_2"] == 1_250.0
    assert line["pourcent_artif_1"] == 10.0 and line["pourcent_artif_2"] == 12.5
    assert line["flux_surface_1_2"] == 250.0 and line["flux_percent_1_2"] == 2.5
    assert (line["flux_artif_1_2"], line["flux_desartif_1_2"], line["flux_artif_net_1_2"]) == (300.0, 100.0, 200.0)
    assert line["commune_surface"] == 10_000.0 and line["epci_code"] == "200067999" and line["scot_code"] is None
    imper = row(land, "commune", "imper", (1, 2))
    assert imper["surface_imper_2"] == 625.0 and imper["pourcent_imper_2"] == 6.25
    assert (imper["flux_imper_1_2"], imper["flux_desimper_1_2"], imper["flux_imper_net_1_2"]) == (50.0, 10.0, 40.0)


def test_a_land_sums_its_communes_and_lists_their_years() -> None:
    """Two départements with different years: the land is read by rank, as sparte's ``millesimes_1``."""
    first = _commune("33009", 10_000.0, {1: (2018, 1_000.0), 2: (2021, 1_250.0)}, "200067999")
    second = _commune("40001", 30_000.0, {1: (2019, 3_000.0), 2: (2022, 2_750.0)}, "200067999")
    epci = aggregate("200067999", "CA Test", [first, second], {"region_code": "75"})
    line = row(epci, "epci", "artif", (1, 2))
    assert line["millesimes_1"] == "2018, 2019" and line["millesimes_2"] == "2021, 2022"
    assert line["surface_artif_1"] == 4_000.0 and line["surface_artif_2"] == 4_000.0
    assert line["pourcent_artif_1"] == 10.0 and line["flux_surface_1_2"] == 0.0
    assert line["flux_artif_1_2"] == 600.0 and line["flux_artif_net_1_2"] == 400.0


def test_a_land_with_a_commune_lacking_a_stock_has_none() -> None:
    """A sum over part of a land would pass for the whole: the figure is left empty."""
    first = _commune("33009", 10_000.0, {1: (2018, 1_000.0), 2: (2021, None)}, "200067999")
    second = _commune("33010", 10_000.0, {1: (2018, 500.0), 2: (2021, 700.0)}, "200067999")
    line = row(aggregate("200067999", None, [first, second], {}), "epci", "artif", (1, 2))
    assert line["surface_artif_1"] == 1_500.0
    assert line["surface_artif_2"] is None and line["pourcent_artif_2"] is None and line["flux_surface_1_2"] is None
    assert line["millesimes_2"] == "2021"
