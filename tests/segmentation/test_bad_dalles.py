"""Bad BD ORTHO deliveries, over live HTTP (the ``segmentation`` process) and through ``ocsge segment``: dalles of two
grids, one dalle delivered twice, an IRC dalle without its RVB, a territory outside the mosaic and a JPEG 2000 cut
short in its header are refused before any work (a 400, or the command's error, naming the file or the territory; no
block is written); an RVB dalle without its IRC is reported in ``missing``, its pixels unclassified; a JPEG 2000 cut
short in its pixels fails the blocks that read it, listed with the file's name in the summary, while the others
finish, and no file of a failed block stays. The dalles are generated from the real patch (``ign_dalles``), then
broken as a delivery can be.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
import requests
from affine import Affine

from deploy.services import web_server
from ocsge_processes.segmentation import get_model
from ocsge_processes.segmentation.legend import legend
from tests.conftest import BIN, SHARED, ocsge

from .ign_dalles import resampled, write_dalles, write_image

pytestmark = pytest.mark.slow  # a live server and the default model on the CPU

HERAULT = SHARED / "communes-admin-express-2018" / "34-herault" / "communes-34-herault.geojson"
TILING = {"window": 256, "margin": 64, "block_side": 128}
CLI_TILING = ["--window", "256", "--margin", "64", "--block-side", "128", "--device", "cpu"]
#: A bbox of Lambert-93 200 km away from the dalles (which are at 770 km, 6 279 km).
ELSEWHERE = [570000, 6479000, 571000, 6480000]


def _deliveries(data: Path) -> dict[str, Path]:
    """One folder per kind of delivery, 2 or 3 × 1 dalles of 125 px each (8 m pixels), broken as its name says."""
    names = ("two-grids", "irc-orphan", "irc-missing", "header-cut", "pixels-cut", "delivered-twice")
    folders = {name: data / name for name in names}
    twice = write_dalles(folders["delivered-twice"], 2, 1, side=125)[("RVB", 0, 0)]
    shutil.copy(twice, twice.with_name(f"copie-{twice.name}"))  # one dalle delivered twice under two names
    files = write_dalles(folders["two-grids"], 2, 1, side=125)
    shifted = files[("RVB", 1, 0)]  # 3 m east: its name still fits its corner, its pixels are off the others' grid
    pixels, crs = resampled("RVB", 125)
    with rasterio.open(shifted) as dataset:
        transform = dataset.transform
    write_image(shifted, pixels, transform @ Affine.translation(3 / 8, 0), crs, "JP2OpenJPEG")
    write_dalles(folders["irc-orphan"], 2, 1, side=125, skip=frozenset({("RVB", 1, 0)}))
    write_dalles(folders["irc-missing"], 2, 1, side=125, skip=frozenset({("IRC", 1, 0)}))
    header = write_dalles(folders["header-cut"], 2, 1, side=125)[("RVB", 1, 0)]
    header.write_bytes(header.read_bytes()[:60])  # the JPEG 2000 signature and little more
    # 3 dalles: the first block (with its halo) reads none of the third dalle, the others do.
    pixels = write_dalles(folders["pixels-cut"], 3, 1, side=125)[("RVB", 2, 0)]
    content = pixels.read_bytes()
    pixels.write_bytes(content[: len(content) // 2])  # the header reads, the pixels do not
    return folders


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, Path]]:
    folder = tmp_path_factory.mktemp("bad-dalles")
    store = folder / "communes.gpkg"
    ocsge("ingest", "--store", str(store), str(HERAULT))
    data, runs = folder / "data", folder / "runs"
    _deliveries(data)
    env = {"OCSGE_DATA_DIR": str(data), "OCSGE_SEGMENTATION_RUNS": str(runs), "HF_HUB_OFFLINE": "1"}
    with web_server(str(store), folder / "server", BIN, **env) as url:
        yield url, data, runs


def _execute(server: str, inputs: dict) -> requests.Response:
    body = {"inputs": {"device": "cpu", "tiling": TILING, **inputs}}
    return requests.post(f"{server}/processes/segmentation/execution", json=body, timeout=600)


def _published(server: str) -> int:
    """Polygons of the ``ocsge-segmentation`` collection (none while it does not exist)."""
    params = {"f": "json", "limit": 1}
    response = requests.get(f"{server}/collections/ocsge-segmentation/items", params=params, timeout=60)
    return int(response.json()["numberMatched"]) if response.status_code == 200 else 0


def _segment(source: Path, run_dir: Path, *more: str) -> subprocess.CompletedProcess:
    command = [str(BIN / "ocsge"), "segment", str(source), "--out", str(run_dir), *CLI_TILING, *more]
    return subprocess.run(command, capture_output=True, text=True, timeout=600)


REFUSED = [
    ("two-grids", {}, "dalles of two grids"),
    ("irc-orphan", {}, "has no RVB dalle"),
    ("delivered-twice", {}, "are two RVB files of one footprint"),
    ("header-cut", {}, "34-2021-0771-6279-LA93-8M00-E080.jp2"),
    ("irc-missing", {"territoire": {"bbox": ELSEWHERE}}, "lies outside the dalles given"),
]


@pytest.mark.parametrize(("folder", "more", "hint"), REFUSED)
def test_a_bad_delivery_is_a_400_before_any_work(
    live: tuple[str, Path, Path], folder: str, more: dict, hint: str
) -> None:
    server, _, runs = live
    blocks_before = set(runs.rglob("blocks/*")) if runs.exists() else set()
    response = _execute(server, {"dalles": {"path": folder}, **more})
    assert response.status_code == 400, response.text[:500]
    assert response.json()["code"] == "InvalidParameterValue" and hint in response.json()["description"]
    assert str(live[1]) not in response.json()["description"], "no server path in the answer"
    assert (set(runs.rglob("blocks/*")) if runs.exists() else set()) == blocks_before, "no block written"


@pytest.mark.parametrize(("folder", "more", "hint"), REFUSED)
def test_a_bad_delivery_is_refused_by_the_command(
    live: tuple[str, Path, Path], tmp_path: Path, folder: str, more: dict, hint: str
) -> None:
    territory = ["--territoire", ",".join(map(str, more["territoire"]["bbox"]))] if more else []
    done = _segment(live[1] / folder, tmp_path / "run", *territory)
    assert done.returncode == 1 and "Error: " in done.stderr and hint in done.stderr, done.stderr[-2000:]
    assert not (tmp_path / "run" / "blocks").exists(), "no block written"


def test_an_rvb_without_its_irc_is_reported_and_left_unclassified(live: tuple[str, Path, Path], tmp_path: Path) -> None:
    server, data, _ = live
    response = _execute(server, {"dalles": {"path": "irc-missing"}})
    assert response.status_code == 200, response.text[:500]
    summary = response.json()
    assert summary["failed"] == [] and summary["computed"] == summary["blocks"]
    name = "34-2021-0771-6279-LA93-8M00-E080.jp2"
    assert summary["missing"] == [f"IRC dalle of {name} (its pixels are left unclassified)"]
    done = _segment(data / "irc-missing", tmp_path / "run")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "missing: IRC dalle of 34-2021-0771-6279-LA93-8M00-E080.jp2" in done.stderr
    with rasterio.open(tmp_path / "run" / json.loads(done.stdout[done.stdout.index("{") :])["classification"]) as vrt:
        classes = vrt.read(1)
    codes = list(legend(get_model("default")).values)
    assert not np.isin(classes[:, 125:], codes).any(), "the dalle without its IRC has no class"
    assert np.isin(classes[:, :125], codes).all(), "the dalle with both products is classified"


def test_a_dalle_cut_in_its_pixels_fails_its_blocks_only(live: tuple[str, Path, Path], tmp_path: Path) -> None:
    server, data, runs = live
    published = _published(server)
    response = _execute(server, {"dalles": {"path": "pixels-cut"}})
    assert response.status_code == 200, response.text[:500]
    summary = response.json()
    assert summary["assembled"] is None and _published(server) == published, "an unfinished run is not published"
    failed = {failure["block"]: failure["reason"] for failure in summary["failed"]}
    assert failed and summary["computed"] == summary["blocks"] - len(failed) > 0
    assert all("34-2021-0772-6279-LA93-8M00-E080.jp2" in reason for reason in failed.values()), failed
    assert not any(str(data) in reason for reason in failed.values()), "no server path in the summary"
    for run_dir in runs.iterdir():
        for block in failed:
            assert not list((run_dir / "blocks").glob(f"{block}.*")), "no file of a failed block"
    done = _segment(data / "pixels-cut", tmp_path / "run")
    assert done.returncode == 1 and f"{len(failed)} block(s) not finished" in done.stderr, done.stderr[-2000:]
    cli = json.loads(done.stdout[done.stdout.index("{") :])
    assert {failure["block"] for failure in cli["failed"]} == set(failed)
