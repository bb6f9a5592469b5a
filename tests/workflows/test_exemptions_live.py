"""IGN's "OCS GE Artificialisation avec exemptions" ingested by `ocsge ingest` from IGN-named folders (hand-built,
``exemption_data``) into both stores, published as a collection and used by the `artificialisation` process, over
live HTTP: OWSLib and GDAL read the collection; the process reports the exempted area separately (stock and
flows), IGN's figure against the decree's, and refuses exemptions asked for where a département has none."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from owslib.ogcapi.features import Features
from owslib.ogcapi.processes import Processes

from deploy.services import web_server
from ocsge_processes.ingest.deliveries import read_delivery
from ocsge_processes.layers import ARTIF_EXEMPTIONS
from tests import services
from tests.gdal_oapif import oapif_features

from ..conftest import BIN, SHARED, ocsge
from . import exemption_data

COLLECTION = ARTIF_EXEMPTIONS.collection_id
ONE = {"communes": ["33001"]}
TWO_DEPARTEMENTS = {"communes": ["33001", "40001"]}

# Hand-computed from exemption_data's strips (a strip w m wide covers w / 10 ha) in 33001:
# IGN artificialised: 2018 building 10 + PV 5 + park 4 = 19 ha; 2021 + new PV 6 = 25 ha (the garden is IGN's
# "non artif"). Exempt: 2018 PV 5 + park 4 = 9 ha; 2021 PV 11 + park 4 = 15 ha; avec exemptions 10 ha at both.
# IGN's DIFF: +6 ha (forest to PV); exempted +6 ha, so the net avec exemptions is 0. The decree's matrix calls the
# garden (CS2.2.1 × US5) artificial: 22 and 28 ha, IGN minus decree −3 ha.


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return exemption_data.write_deliveries(tmp_path_factory.mktemp("exemption-deliveries"))


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def exemptions_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, deliveries: list[Path]
) -> str:
    """A live server on a store of the kind asked, loaded by `ocsge ingest` with the hand-built deliveries."""
    if request.param == "gpkg":
        url = str(tmp_path_factory.mktemp("exemptions") / "exemptions.gpkg")
    else:
        url = services.fresh_database(request.getfixturevalue("postgis_url"), "ocsge_exemptions")
    ocsge("ingest", "--store", url, *map(str, deliveries))
    with web_server(
        url,
        tmp_path_factory.mktemp("exemptions-server"),
        BIN,
        OCSGE_DATA_DIR=str(SHARED),
        OCSGE_TRUSTED_HOSTS="localhost",
    ) as server_url:
        yield server_url


def _execute(server: str, inputs: dict) -> requests.Response:
    return requests.post(f"{server}/processes/artificialisation/execution", json={"inputs": inputs}, timeout=300)


def test_ingest_routes_the_exemption_folder_to_its_collection(deliveries: list[Path]) -> None:
    folder = next(p for p in deliveries if "EXEMPTIONS" in p.name and "2021" in p.name)
    (batch,) = read_delivery(folder)
    assert batch.layer is ARTIF_EXEMPTIONS and batch.slice == {"departement": "33", "millesime": 2021}
    assert sorted(batch.frame["exemption"].dropna()) == ["parc_jardin_public", "photovoltaique", "photovoltaique"]
    assert set(batch.frame["source"]) == {exemption_data.SOURCE}


def test_the_process_reports_the_exempted_area_apart(exemptions_server: str) -> None:
    result = Processes(exemptions_server).execute(
        "artificialisation", inputs={"territoire": ONE, "millesimes": [2018, 2021]}, response="raw"
    )
    assert result["exemptions_millesimes"] == [2018, 2021]
    [entry] = result["territoires"]
    # the main figures stay IGN's (the official tool's), the exemptions beside them
    assert entry["stocks"]["2021"]["methode"] == "ign" and entry["surface_artificialisee_ha"] == pytest.approx(25)
    assert entry["artificialisation_nette_ha"] == pytest.approx(6)
    exemptions = entry["exemptions"]
    assert exemptions["couche"] == COLLECTION
    stocks = exemptions["stocks"]
    assert stocks["2018"]["par_exemption"] == {
        "photovoltaique": pytest.approx(5),
        "parc_jardin_public": pytest.approx(4),
    }
    assert stocks["2021"]["par_exemption"] == {
        "photovoltaique": pytest.approx(11),
        "parc_jardin_public": pytest.approx(4),
    }
    assert [stocks[y]["surface_exemptee_ha"] for y in ("2018", "2021")] == [pytest.approx(9), pytest.approx(15)]
    assert stocks["2021"]["surface_artificialisee_avec_exemptions_ha"] == pytest.approx(10)
    assert stocks["2021"]["taux_artificialisation_avec_exemptions"] == pytest.approx(10)  # of the commune's 100 ha
    flow = exemptions["flux"]["2018-2021"]
    assert flow["exemptions_nette_ha"] == pytest.approx(6)
    assert flow["artificialisation_nette_avec_exemptions_ha"] == pytest.approx(0)


def test_each_commune_of_a_detailed_answer_has_its_exemptions(exemptions_server: str) -> None:
    inputs = {"territoire": ONE, "millesimes": [2021], "detail_communes": True, "exemptions": True}
    answer = _execute(exemptions_server, inputs)
    assert answer.status_code == 200, answer.text
    [commune] = answer.json()["communes"]
    assert commune["exemptions"]["stocks"]["2021"]["surface_exemptee_ha"] == pytest.approx(15)
    assert answer.json()["territoires"][0]["exemptions"] == commune["exemptions"]  # one commune: the same figures


def test_the_gap_between_ign_and_the_decree_per_millesime(exemptions_server: str) -> None:
    answer = _execute(exemptions_server, {"territoire": ONE, "millesimes": [2018, 2021], "ecart_ign_decree": True})
    assert answer.status_code == 200, answer.text
    gap = answer.json()["territoires"][0]["ecart_ign_decree"]
    assert gap["2018"]["surface_artificialisee_ign_ha"] == pytest.approx(19)
    assert gap["2018"]["surface_artificialisee_decree_ha"] == pytest.approx(22)
    assert [gap[y]["ecart_ha"] for y in ("2018", "2021")] == [pytest.approx(-3), pytest.approx(-3)]
    assert gap["2021"]["ecart_points"] == pytest.approx(-3)  # 3 ha of 100 ha


def test_exemptions_asked_where_a_departement_has_none_is_a_400_naming_it(exemptions_server: str) -> None:
    answer = _execute(exemptions_server, {"territoire": TWO_DEPARTEMENTS, "millesimes": [2018], "exemptions": True})
    assert answer.status_code == 400
    assert "département 40" in answer.json()["description"] and COLLECTION in answer.json()["description"]


@pytest.mark.parametrize(("territoire", "exemptions"), [(TWO_DEPARTEMENTS, None), (ONE, False)])
def test_not_held_everywhere_or_declined_leaves_them_out(
    exemptions_server: str, territoire: dict, exemptions: bool | None
) -> None:
    inputs = {"territoire": territoire, "millesimes": [2018, 2021]}
    if exemptions is not None:
        inputs["exemptions"] = exemptions
    answer = _execute(exemptions_server, inputs)
    assert answer.status_code == 200, answer.text
    assert "exemptions_millesimes" not in answer.json()
    assert all("exemptions" not in entry for entry in answer.json()["territoires"])


def test_owslib_reads_the_collection_and_its_queryables(exemptions_server: str) -> None:
    api = Features(exemptions_server)
    assert COLLECTION in {c["id"] for c in api.collections()["collections"]}
    page = api.collection_items(COLLECTION, filter="exemption = 'photovoltaique' AND millesime = 2021", limit=10)
    assert page["numberMatched"] == 2
    assert {f["properties"]["code_us"] for f in page["features"]} == {"US2"}
    queryables = api.collection_queryables(COLLECTION)["properties"]
    assert queryables["exemption"]["type"] == "string" and queryables["crit_seuil"]["type"] == "boolean"


def test_gdal_reads_the_collection_over_oapif(exemptions_server: str, tmp_path: Path) -> None:
    features = oapif_features(f"{exemptions_server}/collections/{COLLECTION}", tmp_path / "exemptions.geojson")
    assert len(features) == 11  # 5 strips in 2018, 6 in 2021
    claimed = sorted(
        (f["properties"]["millesime"], f["properties"]["exemption"]) for f in features if f["properties"]["exemption"]
    )
    assert claimed == [
        (2018, "parc_jardin_public"),
        (2018, "photovoltaique"),
        (2021, "parc_jardin_public"),
        (2021, "photovoltaique"),
        (2021, "photovoltaique"),
    ]
