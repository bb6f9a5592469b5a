"""The `artificialisation` process over live HTTP on both stores for an EPCI by name, a SCoT, a région and a list
of territories: the hand-built communes of ``territory_data`` and the hand-built territory tables of
``territory_tables``, ingested by `ocsge ingest-territoires`; exact areas, computed by hand from the strips."""

from __future__ import annotations

import csv
import io
import subprocess
from pathlib import Path

import pytest
import requests
from owslib.ogcapi.processes import Processes

from deploy.services import web_server
from ocsge_processes.stores import open_store
from tests import services

from ..conftest import BIN, SHARED, ocsge
from . import territory_data, territory_tables

# Hand-computed from territory_data's strips (a strip w m wide covers w / 10 ha), as in test_millesime_ranks:
# artificial 33001: 10 ha (2018), 18 (2021), 17 (2024); 33002: 5 ha at each; 40001: 20 (2020), 30 (2023);
# 97401: 30 (2017), 40 (2022). Areas: 33001, 40001, 97401 100 ha; 33002 50 ha.


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def territories_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A live server on a store of the kind asked with the hand-built communes, layers and territory tables."""
    folder = tmp_path_factory.mktemp("territories")
    if request.param == "gpkg":
        url = str(folder / "territories.gpkg")
    else:
        url = services.fresh_database(request.getfixturevalue("postgis_url"), "ocsge_territory_names")
    store = open_store(url)
    territory_data.load(store)
    store.close()
    package = territory_tables.write_package(folder / "package")
    done = ocsge("ingest-territoires", "--store", url, str(package), str(territory_tables.write_scot(folder / "s.csv")))
    assert "scot: 2 territories from table s.csv" in done.stdout
    with web_server(url, tmp_path_factory.mktemp("territories-server"), BIN, OCSGE_DATA_DIR=str(SHARED)) as server:
        yield server


def _execute(server: str, inputs: dict, outputs: dict | None = None) -> requests.Response:
    body = {"inputs": inputs, **({"outputs": outputs} if outputs else {})}
    return requests.post(f"{server}/processes/artificialisation/execution", json=body, timeout=300)


def _stock_ha(entry: dict) -> dict[str, float]:
    return {label: stock["surface_artificialisee_ha"] for label, stock in entry["stocks"].items()}


def _flows_ha(entry: dict) -> dict[str, tuple[float, float, float]]:
    return {
        label: (f["artificialisation_ha"], f["desartificialisation_ha"], f["artificialisation_nette_ha"])
        for label, f in entry["flux"].items()
    }


def test_epci_by_name_is_the_epci_by_siren(territories_server: str) -> None:
    client = Processes(territories_server)
    by_name = client.execute(
        "artificialisation", inputs={"territoire": {"epci": "cc des deux communes"}}, response="raw"
    )
    by_siren = _execute(territories_server, {"territoire": {"epci": "200000001"}}).json()
    assert by_name == by_siren
    [entry] = by_name["territoires"]
    assert (entry["code"], entry["nom"], entry["type"]) == ("200000001", "CC des Deux Communes", "epci")
    assert entry["surface_ha"] == 150 and _stock_ha(entry) == {"2018": 15, "2021": 23, "2024": 22}


def test_scot_across_two_departements_uses_each_ones_millesimes(territories_server: str) -> None:
    inputs = {"territoire": {"scot": "SCoT du Val"}, "millesimes": [2018, 2021]}
    document = Processes(territories_server).execute("artificialisation", inputs=inputs, response="raw")
    assert document["millesimes_par_departement"] == {"33": [2018, 2021], "40": [2020, 2023]}
    [entry] = document["territoires"]
    assert (entry["code"], entry["nom"], entry["type"], entry["surface_ha"]) == ("SCOT1", "SCoT du Val", "scot", 200)
    assert _stock_ha(entry) == {"2018": 10 + 20, "2021": 18 + 30}
    assert _flows_ha(entry) == {"2018-2021": (8 + 10, 0, 18)}


def test_region_is_the_communes_of_its_departements(territories_server: str) -> None:
    document = _execute(
        territories_server, {"territoire": {"region": "Nouvelle-Aquitaine"}, "millesimes": [2018, 2021]}
    )
    [entry] = document.json()["territoires"]
    assert (entry["code"], entry["type"], entry["surface_ha"]) == ("75", "region", 250)
    assert _stock_ha(entry) == {"2018": 10 + 5 + 20, "2021": 18 + 5 + 30}
    assert entry["taux_artificialisation"] == pytest.approx(53 / 250 * 100)


def test_a_list_answers_each_territory_apart(territories_server: str) -> None:
    liste = [{"epci": "CC des Deux Communes"}, {"scot": "SCOT2"}, {"communes": ["33001"]}]
    inputs = {"territoire": {"liste": liste}, "millesimes": [2018, 2021], "detail_communes": True}
    document = Processes(territories_server).execute("artificialisation", inputs=inputs, response="raw")
    assert document["millesimes_par_departement"] == {"33": [2018, 2021], "974": [2017, 2022]}
    entries = document["territoires"]
    assert [(e["code"], e["type"]) for e in entries] == [
        ("200000001", "epci"),
        ("SCOT2", "scot"),
        ("33001", "communes"),
    ]
    assert [_stock_ha(e) for e in entries] == [
        {"2018": 15, "2021": 23},
        {"2018": 30, "2021": 40},
        {"2018": 10, "2021": 18},
    ]
    assert [_flows_ha(e) for e in entries] == [
        {"2018-2021": (8, 0, 8)},
        {"2018-2021": (10, 0, 10)},
        {"2018-2021": (8, 0, 8)},
    ]
    assert [c["code"] for c in document["communes"]] == ["33001", "33002", "97401"], "each commune once"


def test_a_list_as_csv_has_a_row_per_territory(territories_server: str, tmp_path: Path) -> None:
    inputs = {"territoire": {"liste": [{"region": "04"}, {"epci": "200000003"}]}, "millesimes": [2017, 2022]}
    response = _execute(territories_server, inputs, {"tableau": {}})
    assert response.status_code == 200, response.text[:300]
    table = tmp_path / "liste.csv"
    table.write_bytes(response.content)
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["code"], float(r["surface_artificialisee_ha"])) for r in rows] == [("04", 40), ("200000003", 30)]
    info = subprocess.run(["ogrinfo", "-ro", "-al", "-q", str(table)], capture_output=True, text=True, check=True)
    assert "code (String) = 200000003" in info.stdout, "GDAL's CSV driver reads the rows"


BAD = [
    (
        {"scot": "SCoT du Vall"},
        "unknown SCoT 'SCoT du Vall': neither a code nor a name of the SCoT table; close names: SCoT du Val",
    ),
    ({"epci": "CC du Lac"}, "EPCI name 'CC du Lac' is ambiguous: CC du Lac (200000004), CC du lac (200000005)"),
    ({"region": "Bretagne"}, "unknown région 'Bretagne'"),
    ({"epci": "200000004"}, "no commune of EPCI 200000004 (CC du Lac) is ingested"),
    ({"liste": [{"region": "75"}, {"scot": "Inconnu"}]}, "territoire.liste[1]: unknown SCoT 'Inconnu'"),
    ({"liste": [{"liste": [{"region": "75"}]}]}, 'unknown "liste"'),
    ({"scot": ""}, "territoire.scot: expected at least 1 characters"),
]


@pytest.mark.parametrize(("territoire", "hint"), BAD, ids=[str(t) for t, _ in BAD])
def test_an_unknown_territory_is_a_400_naming_it(territories_server: str, territoire: dict, hint: str) -> None:
    response = _execute(territories_server, {"territoire": territoire})
    assert response.status_code == 400, response.text[:300]
    assert hint in response.json()["description"]
