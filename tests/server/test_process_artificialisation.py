"""The `artificialisation` process over live HTTP with OWSLib: sync, async with job status and results, bad input."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from pathlib import Path

import pytest
import requests
from owslib.ogcapi.processes import Processes

from tests import services

SYBARVAL_EPCI_COBAN = "243301165"


def _execute(server: str, inputs: dict) -> requests.Response:
    return requests.post(f"{server}/processes/artificialisation/execution", json={"inputs": inputs}, timeout=300)


def test_process_is_described(server: str) -> None:
    description = Processes(server).process("artificialisation")
    assert {"territoire", "millesimes", "methode", "detail_communes"} <= set(description["inputs"])
    assert "async-execute" in description["jobControlOptions"]


def test_sync_flows_where_only_a_difference_layer_exists(server: str) -> None:
    result = Processes(server).execute(
        "artificialisation",
        inputs={"territoire": {"communes": ["33009", "33529"]}, "millesimes": [2015, 2018], "detail_communes": True},
        response="raw",
    )
    entry = result["territoires"][0]
    assert entry["stock_disponible"] is False and entry["surface_artificialisee_ha"] is None
    assert entry["artificialisation_ha"] > 0 and entry["desartificialisation_ha"] > 0
    assert entry["artificialisation_nette_ha"] == pytest.approx(
        entry["artificialisation_ha"] - entry["desartificialisation_ha"]
    )
    communes = {c["code"]: c for c in result["communes"]}
    assert set(communes) == {"33009", "33529"}
    assert sum(c["artificialisation_ha"] for c in communes.values()) == pytest.approx(entry["artificialisation_ha"])
    # Each surface is published to 0.0001 ha: the two communes' and the total's roundings add up to 1.5e-4 ha.
    assert sum(c["surface_ha"] for c in communes.values()) == pytest.approx(entry["surface_ha"], abs=1.5e-4)


def test_async_job_reports_status_and_results(server: str) -> None:
    job = Processes(server).execute(
        "artificialisation",
        async_=True,
        response="raw",
        inputs={"territoire": {"communes": ["33009"]}, "millesimes": [2021, 2024], "methode": "matrix"},
    )
    job_id = job["jobID"]
    status = services.wait_for_job(server, job_id)
    assert status["status"] == "successful", status
    results = requests.get(f"{server}/jobs/{job_id}/results", params={"f": "json"}, timeout=30).json()
    entry = results["territoires"][0]
    assert entry["stock_disponible"] and 0 < entry["taux_artificialisation"] < 100
    # |gap| ≤ 0.5 ha is what the official tool accepts (layers.py describes the field).
    assert abs(entry["ecart_coherence_ha"]) < 0.5, "net flow and change of stock agree with the matrix method"
    assert set(entry["stocks"]) == {"2021", "2024"}
    # The generated stock partitions the commune; its surface_ha is published to 0.0001 ha.
    assert sum(v["surface_ha"] for v in entry["stocks"]["2024"]["par_categorie"].values()) == pytest.approx(
        entry["surface_ha"], abs=0.5e-4
    )


TWO_COMMUNES = {
    "territoire": {"communes": ["33009", "33527"]},
    "millesimes": [2021, 2024],
    "methode": "decree",
    "detail_communes": True,
}


def _execute_output(server: str, inputs: dict, output: str) -> requests.Response:
    return requests.post(
        f"{server}/processes/artificialisation/execution", json={"inputs": inputs, "outputs": {output: {}}}, timeout=300
    )


def test_csv_table_has_the_figures_of_the_json_document(server: str) -> None:
    document = _execute(server, TWO_COMMUNES).json()
    response = _execute_output(server, TWO_COMMUNES, "tableau")
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert [r["code"] for r in rows] == ["33009+33527", "33009", "33527"]
    expected = [*document["territoires"], *document["communes"]]
    for row, entry in zip(rows, expected, strict=True):
        assert row["millesimes"] == "2021-2024"
        for name in ("surface_artificialisee_ha", "taux_artificialisation", "artificialisation_nette_ha"):
            assert float(row[name]) == entry[name]  # the CSV writes Python's shortest exact repr


def test_zones_geojson_adds_up_to_the_artificialised_area_and_opens_in_gdal(server: str, tmp_path: Path) -> None:
    inputs = {**TWO_COMMUNES, "territoire": {"communes": ["33009"]}, "detail_communes": False}
    document = _execute(server, inputs).json()
    response = _execute_output(server, inputs, "zones_artificialisees")
    assert response.status_code == 200, response.text[:300]
    zones = response.json()
    assert zones["type"] == "FeatureCollection" and zones["features"]
    assert {f["properties"]["methode"] for f in zones["features"]} == {"decree"}
    assert all(f["properties"]["categorie_decret"] for f in zones["features"])
    total_ha = sum(f["properties"]["surface_m2"] for f in zones["features"]) / 10_000
    # Each zone's surface_m2 is published to 0.01 m²: their roundings add up to at most 0.005 m² each.
    assert total_ha == pytest.approx(
        document["territoires"][0]["surface_artificialisee_ha"], abs=len(zones["features"]) * 0.005 / 10_000
    )
    path = tmp_path / "zones.geojson"
    path.write_text(json.dumps(zones))
    info = subprocess.run(["ogrinfo", "-so", "-al", str(path)], capture_output=True, text=True, check=True).stdout
    assert f"Feature Count: {len(zones['features'])}" in info


def test_unknown_output_gets_a_400(server: str) -> None:
    response = _execute_output(server, TWO_COMMUNES, "shapefile")
    assert response.status_code == 400 and "shapefile" in response.json()["description"]


BAD_INPUTS = [
    ({"territoire": {"communes": ["33999"]}, "millesimes": [2018]}, "33999"),
    (
        {
            "territoire": {"geometry": {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}},
            "millesimes": [2021],
        },
        "invalid",
    ),
    ({"territoire": {"communes": ["33009"]}, "millesimes": [2019]}, "2019"),
    ({"territoire": {"communes": ["33009"]}, "millesimes": [2015, 2018, 2021]}, "between 2018 and 2021"),
    ({"territoire": {"communes": ["33009"]}, "millesimes": [2021], "methode": "guess"}, "methode"),
    ({"territoire": {"communes": ["33009"]}, "millesimes": [2024, 2021]}, "increasing"),
    ({"territoire": {"epci": "000000000"}, "millesimes": [2021]}, "EPCI"),
]


@pytest.mark.parametrize(("inputs", "hint"), BAD_INPUTS, ids=[h for _, h in BAD_INPUTS])
def test_bad_inputs_get_a_clear_400(server: str, inputs: dict, hint: str) -> None:
    response = _execute(server, inputs)
    assert response.status_code == 400, response.text[:300]
    assert hint.lower() in response.json()["description"].lower()
