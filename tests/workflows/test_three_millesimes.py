"""A generated département with three millésimes (``ocsge generate --millesimes 2018,2021,2024``), ingested by
``ocsge ingest`` into both stores: the process gives the stock at each and the flows of each consecutive pair, and
``ocsge artificialisation`` stores a row per commune for each pair."""

from __future__ import annotations

from pathlib import Path

import pytest

from ocsge_processes.layers import ARTIFICIALISATION_COMMUNES
from ocsge_processes.stores import open_store
from ocsge_processes.workflows.artificialisation import run
from tests import services

from ..conftest import SYBARVAL, ocsge

YEARS = [2018, 2021, 2024]
#: Arcachon, a small real commune: the generated layers cover it alone.
COMMUNE = "33009"


@pytest.fixture(scope="module")
def three_millesimes(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("three")
    ocsge(
        "generate",
        "--communes",
        str(SYBARVAL),
        "--codes",
        COMMUNE,
        "--millesimes",
        ",".join(map(str, YEARS)),
        "--cell-size",
        "250",
        "--out",
        str(out),
    )
    return sorted(out.glob("*.7z"))


@pytest.fixture(params=["gpkg", "postgis"])
def url(request: pytest.FixtureRequest, tmp_path: Path, three_millesimes: list[Path]) -> str:
    if request.param == "gpkg":
        target = str(tmp_path / "three.gpkg")
    else:
        target = services.fresh_database(request.getfixturevalue("postgis_url"), "ocsge_three_millesimes")
    ocsge("ingest", "--store", target, str(SYBARVAL), *map(str, three_millesimes))
    return target


def test_generate_writes_every_millesime_and_each_consecutive_diff(three_millesimes: list[Path]) -> None:
    names = [path.name for path in three_millesimes]
    assert sum("DIFF-2018-2021" in n for n in names) == 1 and sum("DIFF-2021-2024" in n for n in names) == 1
    assert [y for y in YEARS if any(n.endswith(f"_{y}-01-01.7z") and "DIFF" not in n for n in names)] == YEARS


def test_stock_at_each_millesime_and_flows_of_each_pair(url: str) -> None:
    store = open_store(url)
    document = run(store, {"communes": [COMMUNE]}, None, "matrix")
    assert document["millesimes"] == [2015, 2018, 2021, 2024], "SYBARVAL's DIFF 2015-2018 comes first"
    document = run(store, {"communes": [COMMUNE]}, YEARS, "matrix")
    assert document["periodes"] == ["2018-2021", "2021-2024"]
    entry = document["territoires"][0]
    stocks = {label: stock["surface_artificialisee_ha"] for label, stock in entry["stocks"].items()}
    assert set(stocks) == {"2018", "2021", "2024"} and len(set(stocks.values())) == 3
    for label, flows in entry["flux"].items():
        before, after = label.split("-")
        assert flows["flux_par_transition"], label
        # The generated DIFF holds exactly the polygons whose class changed, and both stocks use the same matrix:
        # the net flow is the change of stock up to float sums over hundreds of polygons.
        assert flows["artificialisation_nette_ha"] == pytest.approx(stocks[after] - stocks[before], abs=1e-6)
    assert any(flows["artificialisation_ha"] > 0 for flows in entry["flux"].values())
    ocsge("artificialisation", "--store", url, "--departement", "33", "--methode", "matrix")
    rows = store.read_frame(ARTIFICIALISATION_COMMUNES, 2154)
    arcachon = rows[rows.code_insee == COMMUNE].set_index("millesime_avant")
    assert sorted(zip(arcachon.index, arcachon.millesime_apres, strict=True)) == [
        (2015, 2018),
        (2018, 2021),
        (2021, 2024),
    ]
    assert arcachon.loc[2021, "artificialisation_nette_ha"] == pytest.approx(
        entry["flux"]["2021-2024"]["artificialisation_nette_ha"]
    )
    rate = entry["stocks"]["2021"]["taux_artificialisation"]
    assert arcachon.loc[2021, "taux_artificialisation_avant"] == pytest.approx(rate)
