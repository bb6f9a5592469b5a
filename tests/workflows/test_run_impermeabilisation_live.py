"""Imperméabilisation from a segmentation run, over live HTTP: a run of the default model over dalles made from the
real Montpellier patch (generated dalles, ``tests.segmentation.ign_dalles``), limited to Montpellier (34172, real
Hérault communes ingested into the store), gives the sealed area per commune in its results, and the
``artificialisation`` process with ``source: {"run": job}`` gives it for the commune; both equal an independent count
of the published class COG's CS1.1.1.1 + CS1.1.1.2 pixels whose centre lies in the commune (rasterio's
geometry_mask), times the pixel area. Every output says AI couverture is not OCS GE; an unknown run is a 400."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator

import geopandas as gpd
import numpy as np
import pytest
import requests
from rasterio import features
from rasterio.io import MemoryFile

from deploy.services import web_server
from ocsge_processes.layers import AI_COUVERTURE_NOTICE
from tests.conftest import BIN, SHARED, ocsge
from tests.segmentation.ign_dalles import write_dalles

pytestmark = pytest.mark.slow  # a live server and the default model on the CPU

HERAULT = SHARED / "communes-admin-express-2018" / "34-herault" / "communes-34-herault.geojson"
MONTPELLIER = "34172"
#: The couverture the official tool counts as sealed (config/artificialisation/impermeable.csv).
SEALED = {"CS1.1.1.1", "CS1.1.1.2"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    folder = tmp_path_factory.mktemp("run-imper-server")
    store = folder / "communes.gpkg"
    ocsge("ingest", "--store", str(store), str(HERAULT))
    data = folder / "data"
    write_dalles(data / "bdortho-34", 2, 2, side=125)
    env = {"OCSGE_DATA_DIR": str(data), "OCSGE_SEGMENTATION_RUNS": str(folder / "runs"), "HF_HUB_OFFLINE": "1"}
    with web_server(str(store), folder / "server", BIN, **env) as url:
        yield url


@pytest.fixture(scope="module")
def run(live: str) -> tuple[str, dict]:
    """A finished, published run over the dalles limited to Montpellier: its job id and its results."""
    inputs = {"dalles": {"path": "bdortho-34"}, "territoire": {"communes": [MONTPELLIER]}}
    response = requests.post(
        f"{live}/processes/segmentation/execution",
        json={"inputs": inputs},
        headers={"Prefer": "respond-async"},
        timeout=60,
    )
    assert response.status_code == 201, response.text[:300]
    job = response.headers["Location"].rstrip("/").split("/")[-1]
    status = requests.get(f"{live}/jobs/{job}?f=json", timeout=30).json()
    while status["status"] in ("accepted", "running"):
        time.sleep(0.2)  # polling, not a tolerance: the job ends when it ends
        status = requests.get(f"{live}/jobs/{job}?f=json", timeout=30).json()
    assert status["status"] == "successful", status
    return job, requests.get(f"{live}/jobs/{job}/results", params={"f": "json"}, timeout=30).json()


def _independent_sealed_m2(live: str, job: str) -> float:
    """CS1.1.1.1 + CS1.1.1.2 pixels of the published COG whose centre is in Montpellier, × the pixel area."""
    cog = requests.get(f"{live}/results/{job}/classes.tif", timeout=60)
    assert cog.status_code == 200, cog.text[:300]
    communes = gpd.read_file(HERAULT)
    commune = communes.loc[communes["code"] == MONTPELLIER]
    assert len(commune) == 1
    with MemoryFile(cog.content) as memory, memory.open() as dataset:
        classes = dataset.read(1)
        legend = json.loads(dataset.tags()["OCSGE_VALUES"])
        shape = commune.to_crs(dataset.crs.to_wkt()).geometry.iloc[0]
        inside = features.geometry_mask([shape], classes.shape, dataset.transform, invert=True)
        sealed = np.isin(classes, [int(value) for value, code in legend.items() if code in SEALED])
        pixel_m2 = abs(dataset.transform.a * dataset.transform.e)
    count = int((sealed & inside).sum())
    assert 0 < count < int(inside.sum()), "a patch of a city has sealed and unsealed pixels"
    return count * pixel_m2


def test_the_run_gives_the_sealed_area_of_its_commune(live: str, run: tuple[str, dict]) -> None:
    job, summary = run
    assert summary["avertissement"] == AI_COUVERTURE_NOTICE
    block = summary["impermeabilisation"]
    assert [zone["code"] for zone in block["zones"]] == [MONTPELLIER]
    # The answer rounds areas to the cm²: the count itself is exact.
    assert block["zones"][0]["surface_impermeable_m2"] == pytest.approx(_independent_sealed_m2(live, job), abs=0.01)
    assert block["avertissement"] == AI_COUVERTURE_NOTICE and block["modele"] == "default"
    assert "sealed or bare ground" in block["avertissement_modele"]


def test_the_process_with_a_run_source_equals_the_independent_count(live: str, run: tuple[str, dict]) -> None:
    job, _ = run
    inputs = {"territoire": {"communes": [MONTPELLIER]}, "source": {"run": job}, "detail_communes": True}
    response = requests.post(f"{live}/processes/artificialisation/execution", json={"inputs": inputs}, timeout=120)
    assert response.status_code == 200, response.text[:300]
    answer = response.json()
    assert answer["avertissement"] == AI_COUVERTURE_NOTICE and answer["run"] == job
    expected = _independent_sealed_m2(live, job)
    assert [zone["code"] for zone in answer["zones"]] == [MONTPELLIER, MONTPELLIER]  # the territory, its commune
    for zone in answer["zones"]:
        assert zone["surface_impermeable_m2"] == pytest.approx(expected, abs=0.01)  # rounded to the cm²
        assert zone["surface_couverte_m2"] < zone["surface_m2"], "the 2 km of dalles cover part of Montpellier"


def test_an_unknown_run_or_an_ocs_ge_input_with_a_run_is_a_400(live: str, run: tuple[str, dict]) -> None:
    url = f"{live}/processes/artificialisation/execution"
    unknown = {"territoire": {"communes": [MONTPELLIER]}, "source": {"run": "no-such-run"}}
    response = requests.post(url, json={"inputs": unknown}, timeout=60)
    assert response.status_code == 400, response.text[:300]
    assert "no-such-run" in response.json()["description"]
    mixed = {"territoire": {"communes": [MONTPELLIER]}, "source": {"run": run[0]}, "millesimes": [2021]}
    response = requests.post(url, json={"inputs": mixed}, timeout=60)
    assert response.status_code == 400 and "millesimes" in response.json()["description"]


def test_the_collection_says_ai_couverture_is_not_ocs_ge(live: str, run: tuple[str, dict]) -> None:
    collection = requests.get(f"{live}/collections/ocsge-segmentation", params={"f": "json"}, timeout=30)
    assert collection.status_code == 200, collection.text[:300]
    assert AI_COUVERTURE_NOTICE in collection.json()["description"]
