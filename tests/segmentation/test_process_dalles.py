"""The `segmentation` process over BD ORTHO dalles, over live HTTP: an async job over a multi-dalle mosaic limited
to Montpellier (34172, from the real Hérault communes ingested into a store) in several blocks, with progress in
blocks and km²; the same request again resumes (every block reused); bad inputs get a 400 that says why."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from owslib.ogcapi.processes import Processes

from deploy.services import web_server
from tests.conftest import BIN, SHARED, ocsge

from .ign_dalles import write_dalles

pytestmark = pytest.mark.slow  # a live server and the default model on the CPU

HERAULT = SHARED / "communes-admin-express-2018" / "34-herault" / "communes-34-herault.geojson"
#: 256 px windows with 64 px margins, one-window blocks: several blocks on a small mosaic.
TILING = {"window": 256, "margin": 64, "block_side": 128}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("dalles-server")
    store = folder / "communes.gpkg"
    ocsge("ingest", "--store", str(store), str(HERAULT))
    data = folder / "data"
    write_dalles(data / "bdortho-34", 2, 2, side=125)
    env = {"OCSGE_DATA_DIR": str(data), "OCSGE_SEGMENTATION_RUNS": str(folder / "runs"), "HF_HUB_OFFLINE": "1"}
    with web_server(str(store), folder / "server", BIN, **env) as url:
        yield url, data


def _execute(server: str, inputs: dict) -> requests.Response:
    return requests.post(f"{server}/processes/segmentation/execution", json={"inputs": inputs}, timeout=300)


def test_an_async_run_over_dalles_in_blocks_resumes_when_executed_again(live: tuple[str, Path]) -> None:
    server, _ = live
    inputs = {"dalles": {"path": "bdortho-34"}, "territoire": {"communes": ["34172"]}, "tiling": TILING}
    job = Processes(server).execute("segmentation", inputs=inputs, async_=True, response="raw")["jobID"]
    messages = set()
    status = requests.get(f"{server}/jobs/{job}?f=json", timeout=30).json()
    while status["status"] in ("accepted", "running"):
        messages.add(status.get("message", ""))
        time.sleep(0.05)
        status = requests.get(f"{server}/jobs/{job}?f=json", timeout=30).json()
    assert status["status"] == "successful", status
    summary = requests.get(f"{server}/jobs/{job}/results", params={"f": "json"}, timeout=30).json()
    assert summary["blocks"] > 1 and summary["computed"] == summary["blocks"] and summary["failed"] == []
    assert summary["km2"] > 0 and sum(summary["surfaces_m2"].values()) > 0
    assert any("blocks" in message and "km²" in message for message in messages), messages
    assert summary["missing"], "Montpellier reaches beyond the 2 × 2 km of dalles: the cells not delivered are listed"
    # Finished, the run is published: its stitched polygons as the job's slice, its class COG read by GDAL over HTTP.
    assembled = summary["assembled"]
    assert assembled["published"] == f"{server}/results/{job}/classes.tif" and assembled["polygons"] > 0
    items, query = f"{server}/collections/ocsge-segmentation/items", {"run": job, "f": "json", "limit": 1000}
    deadline = time.monotonic() + 30  # a collection published while the server runs is listed within seconds
    while (found := requests.get(items, params=query, timeout=30)).status_code == 404:
        assert time.monotonic() < deadline, found.text[:300]
        time.sleep(0.5)
    assert found.json()["numberMatched"] == assembled["polygons"]
    info = subprocess.run(["gdalinfo", "-json", f"/vsicurl/{assembled['published']}"], capture_output=True, check=True)
    assert json.loads(info.stdout)["bands"][0]["noDataValue"] == 0

    again = _execute(server, inputs)
    assert again.status_code == 200, again.text[:300]
    resumed = again.json()
    assert (resumed["reused"], resumed["computed"]) == (summary["blocks"], 0)
    assert resumed["surfaces_m2"] == summary["surfaces_m2"]


@pytest.mark.parametrize(
    ("inputs", "hint"),
    [
        ({"dalles": {"path": "../"}}, "outside the server's data directory"),
        ({"dalles": {"path": "bdortho-34"}, "territoire": {"bbox": [700000, 6600000, 701000, 6601000]}}, "outside"),
        ({"dalles": {"path": "bdortho-34"}, "territoire": {"communes": ["33063"]}}, "33063"),
        ({"dalles": {"path": "bdortho-34"}, "tiling": {"window": 256, "margin": 64, "block_side": 100}}, "stride"),
        ({"dalles": {"path": "bdortho-34"}, "image": {"path": "x.tif"}}, "not both"),
    ],
)
def test_bad_dalles_inputs_get_a_400_that_says_why(live: tuple[str, Path], inputs: dict, hint: str) -> None:
    response = _execute(live[0], inputs)
    assert response.status_code == 400, response.text[:300]
    assert hint in response.json()["description"]
