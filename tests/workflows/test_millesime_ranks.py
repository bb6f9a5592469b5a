"""The `artificialisation` process over live HTTP on both stores, for territories across départements and CRSs whose
millésimes differ (hand-built strips, ``territory_data``): each département at its millésime of the same rank, every
consecutive pair of millésimes, exact areas."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest
import requests
from owslib.ogcapi.processes import Processes

from deploy.services import web_server
from ocsge_processes.stores import open_store
from tests import services

from ..conftest import BIN, SHARED, ocsge
from . import territory_data

METROPOLE_OVERSEAS = {"communes": ["33001", "97401"]}
TWO_METROPOLITAN = {"communes": ["33001", "40001"]}
EPCI_33 = {"epci": "200000001"}


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def ranks_server(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A live server on a store of the kind asked holding only the hand-built communes and layers."""
    if request.param == "gpkg":
        url = str(tmp_path_factory.mktemp("ranks") / "ranks.gpkg")
    else:
        url = services.fresh_database(request.getfixturevalue("postgis_url"), "ocsge_millesime_ranks")
    store = open_store(url)
    territory_data.load(store)
    store.close()
    ocsge("artificialisation", "--store", url, "--departement", "33,40,974")
    with web_server(
        url, tmp_path_factory.mktemp("ranks-server"), BIN, OCSGE_DATA_DIR=str(SHARED), OCSGE_TRUSTED_HOSTS="localhost"
    ) as server_url:
        yield server_url


def _execute(server: str, inputs: dict, outputs: dict | None = None) -> requests.Response:
    body = {"inputs": inputs, **({"outputs": outputs} if outputs else {})}
    return requests.post(f"{server}/processes/artificialisation/execution", json=body, timeout=300)


def _stock_ha(entry: dict) -> dict[str, float]:
    return {label: stock["surface_artificialisee_ha"] for label, stock in entry["stocks"].items()}


def _flows_ha(entry: dict, kind: str = "artificialisation") -> dict[str, tuple[float, float, float]]:
    return {label: (f[f"{kind}_ha"], f[f"des{kind}_ha"], f[f"{kind}_nette_ha"]) for label, f in entry["flux"].items()}


def _sealed_ha(entry: dict) -> dict[str, float]:
    return {label: stock["surface_impermeabilisee_ha"] for label, stock in entry["stocks"].items()}


# Hand-computed from territory_data's strips (a strip w m wide covers w / 10 ha):
# 33001 artificial 2018: 100 m = 10 ha; 2021: 100 + 50 + 30 = 18 ha; 2024: 100 + 50 + 20 = 17 ha.
# 33002 artificial 5 ha at every millésime; 40001: 20 ha (2020), 30 ha (2023); 97401: 30 ha (2017), 40 ha (2022).
# 33001's flows: 2018-2021 +5 (road) +3 (garden) = 8 ha; 2021-2024 +2 (building), −3 (garden back to forest).
# Sealed (CS1.1.1.1, CS1.1.1.2): 33001 10, 15 (+ the road), 12 ha (road → garden −5, building +2); 33002 5 ha;
# 40001 20, 30 ha (road, factory); 97401 30 ha at both (the new garden is not sealed).


def test_metropolitan_and_overseas_commune_by_rank(ranks_server: str) -> None:
    document = Processes(ranks_server).execute(
        "artificialisation",
        inputs={"territoire": METROPOLE_OVERSEAS, "millesimes": [2018, 2021], "detail_communes": True},
        response="raw",
    )
    assert document["millesimes"] == [2018, 2021] and document["rangs_millesimes"] == [1, 2]
    assert document["millesimes_par_departement"] == {"33": [2018, 2021], "974": [2017, 2022]}
    entry = document["territoires"][0]
    assert entry["surface_ha"] == 200.0 and entry["stock_disponible"]
    assert _stock_ha(entry) == {"2018": 10 + 30, "2021": 18 + 40}
    assert entry["taux_artificialisation"] == pytest.approx(58 / 200 * 100)
    assert _flows_ha(entry) == {"2018-2021": (8 + 10, 0, 18)}
    assert entry["artificialisation_ha"] == 18 and entry["ecart_coherence_ha"] == 0
    assert _sealed_ha(entry) == {"2018": 10 + 30, "2021": 15 + 30}
    assert entry["taux_impermeabilisation"] == pytest.approx(45 / 200 * 100)
    assert _flows_ha(entry, "impermeabilisation") == {"2018-2021": (5, 0, 5)}
    communes = {c["code"]: c for c in document["communes"]}
    assert _stock_ha(communes["97401"]) == {"2018": 30, "2021": 40}, "974 at its 1st and 2nd millésimes"


def test_no_millesime_means_every_rank_all_hold(ranks_server: str) -> None:
    document = _execute(ranks_server, {"territoire": METROPOLE_OVERSEAS}).json()
    assert document["millesimes"] == ["M1", "M2"], "the years differ: the labels are the ranks"
    assert document["periodes"] == ["M1-M2"]
    entry = document["territoires"][0]
    assert _stock_ha(entry) == {"M1": 40, "M2": 58} and _flows_ha(entry) == {"M1-M2": (18, 0, 18)}


def test_epci_with_overseas_communes_ingested_has_three_millesimes(ranks_server: str) -> None:
    document = _execute(ranks_server, {"territoire": EPCI_33, "detail_communes": True}).json()
    assert document["millesimes"] == [2018, 2021, 2024] and document["periodes"] == ["2018-2021", "2021-2024"]
    entry = document["territoires"][0]
    assert entry["surface_ha"] == 150.0
    assert _stock_ha(entry) == {"2018": 15, "2021": 23, "2024": 22}
    assert _flows_ha(entry) == {"2018-2021": (8, 0, 8), "2021-2024": (2, 3, -1)}
    assert entry["artificialisation_nette_ha"] == -1, "the flat flow fields are the last pair's"
    assert {label: f["ecart_coherence_ha"] for label, f in entry["flux"].items()} == {"2018-2021": 0, "2021-2024": 0}
    assert _sealed_ha(entry) == {"2018": 15, "2021": 20, "2024": 17}
    assert _flows_ha(entry, "impermeabilisation") == {"2018-2021": (5, 0, 5), "2021-2024": (2, 5, -3)}
    assert entry["stocks"]["2024"]["par_couverture"]["CS1.1.1.1"]["surface_impermeabilisee_ha"] == 10 + 2 + 5
    assert [c["code"] for c in document["communes"]] == ["33001", "33002"]


def test_two_departements_of_one_crs_with_different_years(ranks_server: str) -> None:
    by_40 = _execute(ranks_server, {"territoire": TWO_METROPOLITAN, "millesimes": [2020, 2023]}).json()
    by_33 = _execute(ranks_server, {"territoire": TWO_METROPOLITAN, "millesimes": [2018, 2021]}).json()
    assert (
        by_40["millesimes_par_departement"]
        == by_33["millesimes_par_departement"]
        == {
            "33": [2018, 2021],
            "40": [2020, 2023],
        }
    )
    entry = by_40["territoires"][0]
    assert _stock_ha(entry) == {"2020": 10 + 20, "2023": 18 + 30}
    assert _flows_ha(entry) == {"2020-2023": (8 + 10, 0, 18)}
    assert _flows_ha(entry, "impermeabilisation") == {"2020-2023": (5 + 10, 0, 15)}
    assert _stock_ha(by_33["territoires"][0]) == {"2018": 30, "2021": 48}


def test_a_bbox_territory_finds_its_departements(ranks_server: str) -> None:
    # 33001 and 33002 side by side: 150 ha of département 33, found from the communes around the box.
    inputs = {"territoire": {"bbox": [400_000, 6_400_000, 401_500, 6_401_000], "crs": "EPSG:2154"}}
    document = _execute(ranks_server, inputs).json()
    assert document["millesimes_par_departement"] == {"33": [2018, 2021, 2024]}
    assert _stock_ha(document["territoires"][0]) == {"2018": 15, "2021": 23, "2024": 22}


def test_csv_has_every_millesime(ranks_server: str) -> None:
    response = _execute(ranks_server, {"territoire": EPCI_33}, {"tableau": {}})
    assert response.status_code == 200, response.text[:300]
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert rows[0]["millesimes"] == "2018-2021-2024" and rows[0]["code"] == "200000001"
    assert float(rows[0]["surface_impermeabilisee_ha"]) == 17 and float(rows[0]["impermeabilisation_nette_ha"]) == -3


def test_collection_has_impermeabilisation_for_each_pair(ranks_server: str) -> None:
    url = f"{ranks_server}/collections/artificialisation-communes/items"
    found = requests.get(url, params={"f": "json", "code_insee": "33001", "limit": 10}, timeout=60).json()
    rows = {
        (f["properties"]["millesime_avant"], f["properties"]["millesime_apres"]): f["properties"]
        for f in found["features"]
    }
    assert set(rows) == {(2018, 2021), (2021, 2024)}
    last = rows[(2021, 2024)]
    assert (last["surface_impermeabilisee_avant_ha"], last["surface_impermeabilisee_ha"]) == (15, 12)
    assert (last["taux_impermeabilisation_avant"], last["taux_impermeabilisation"]) == (15, 12)
    assert (last["impermeabilisation_ha"], last["desimpermeabilisation_ha"]) == (2, 5)
    assert (last["impermeabilisation_nette_ha"], last["impermeabilisation_nette_pct"]) == (-3, -3)
    assert rows[(2018, 2021)]["impermeabilisation_ha"] == 5


def test_gdal_reads_the_collection_and_the_csv(ranks_server: str, tmp_path: Path) -> None:
    """GDAL's OGC API Features driver and its CSV driver, real clients, read the imperméabilisation fields."""
    out = tmp_path / "communes.geojson"
    done = subprocess.run(
        [
            "ogr2ogr",
            "-f",
            "GeoJSON",
            str(out),
            f"OAPIF:{ranks_server}/collections/artificialisation-communes",
            "-where",
            "code_insee = '33001' AND millesime_avant = 2021",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    [feature] = json.loads(out.read_text())["features"]
    assert feature["properties"]["impermeabilisation_nette_ha"] == -3
    table = tmp_path / "table.csv"
    table.write_bytes(
        _execute(ranks_server, {"territoire": METROPOLE_OVERSEAS, "millesimes": [2018, 2021]}, {"tableau": {}}).content
    )
    info = subprocess.run(
        ["ogrinfo", "-ro", "-al", "-q", str(table)], capture_output=True, text=True, check=True
    ).stdout
    assert "surface_impermeabilisee_ha (String) = 45" in info and "impermeabilisation_ha (String) = 5" in info


BAD = [
    ({"territoire": METROPOLE_OVERSEAS, "millesimes": [2021, 2024]}, "département 974 has no 3rd millésime"),
    ({"territoire": METROPOLE_OVERSEAS, "millesimes": [2019]}, "millésime 2019 is not ingested"),
    ({"territoire": TWO_METROPOLITAN, "millesimes": [2021, 2020]}, "increasing"),
    ({"territoire": {"communes": ["33001", "33999"]}}, "33999"),
]


@pytest.mark.parametrize(("inputs", "hint"), BAD, ids=[hint for _, hint in BAD])
def test_a_millesime_missing_for_one_departement_is_a_400_naming_it(ranks_server: str, inputs: dict, hint: str) -> None:
    response = _execute(ranks_server, inputs)
    assert response.status_code == 400, response.text[:300]
    assert hint in response.json()["description"]
