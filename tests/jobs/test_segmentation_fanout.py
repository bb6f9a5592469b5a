"""`ocsge segment --broker`: one task per block of a run over dalles on the gpu queue of the local topology's
workers; the classes are those of the run in one process, and a second run finds every block finished."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio

from deploy.topology import Topology

from ..conftest import BIN
from ..segmentation.ign_dalles import write_dalles
from .conftest import topology_on

pytestmark = pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
TILING = ["--window", "256", "--margin", "64", "--block-side", "128"]


@pytest.fixture(scope="module")
def topology(store_url: str) -> Iterator[Topology]:
    with topology_on(store_url, replicas=1, stale_after_s=3.0) as topology:
        yield topology


def _classes(run_dir: Path) -> dict[str, np.ndarray]:
    out = {}
    for record in (run_dir / "blocks").glob("*.json"):
        with rasterio.open(record.with_suffix(".tif")) as dataset:
            out[record.stem] = dataset.read(1)
    return out


def _segment(dalles: Path, run_dir: Path, *more: str) -> dict:
    command = [str(BIN / "ocsge"), "segment", str(dalles), "--out", str(run_dir), "--device", "cpu", *TILING, *more]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    return json.loads(done.stdout[done.stdout.index("{") :])


def test_blocks_fan_out_to_the_workers_and_give_the_classes_of_one_process(
    topology: Topology, store_url: str, tmp_path: Path
) -> None:
    write_dalles(tmp_path / "d", 3, 2, side=125)
    fanned = _segment(tmp_path / "d", tmp_path / "fanned", "--broker", topology.broker, "--store", store_url)
    assert (fanned["blocks"], fanned["computed"], fanned["reused"], fanned["failed"]) == (6, 6, 0, [])
    local = _segment(tmp_path / "d", tmp_path / "local")
    assert fanned["surfaces_m2"] == local["surfaces_m2"]
    by_workers, here = _classes(tmp_path / "fanned"), _classes(tmp_path / "local")
    assert by_workers.keys() == here.keys() and len(here) == 6
    for block, classes in here.items():
        np.testing.assert_array_equal(by_workers[block], classes)
    # The sender assembles a fanned-out run as a run in one process does: the same COG, the same polygons.
    assert fanned["assembled"]["polygons"] == local["assembled"]["polygons"] > 0
    with (
        rasterio.open(tmp_path / "fanned" / "classification.tif") as one,
        rasterio.open(tmp_path / "local" / "classification.tif") as other,
    ):
        np.testing.assert_array_equal(one.read(1), other.read(1))
    again = _segment(tmp_path / "d", tmp_path / "fanned", "--broker", topology.broker, "--store", store_url)
    assert (again["reused"], again["computed"], again["failed"]) == (6, 0, [])
