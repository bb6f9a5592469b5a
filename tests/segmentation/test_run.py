"""A run over dalles as a plan of blocks: the classes of the whole mosaic, block by block; resumed after a SIGKILL
of the worker without recomputing a finished block (counted); cancelled and resumed; a corrupt dalle fails its
blocks only, with the reason, and the next run computes them once the dalle is delivered again."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import rasterio

from ocsge_processes.errors import InvalidInputError
from ocsge_processes.layers import SEGMENTATION
from ocsge_processes.segmentation import Tiling, get_model
from ocsge_processes.segmentation.blocks import block_side, plan_blocks
from ocsge_processes.segmentation.checkpoint import load_model
from ocsge_processes.segmentation.engine import segment
from ocsge_processes.segmentation.mosaic import Territory
from ocsge_processes.segmentation.windows import TilingChoice
from ocsge_processes.stores import open_store
from ocsge_processes.workflows.segmentation_run import RunOptions, prepare, run_blocks, territory_from_text

from ..conftest import BIN, SHARED, ocsge
from .ign_dalles import write_dalles

pytestmark = pytest.mark.slow  # the default model on the CPU over a few hundred thousand pixels, several times

HERAULT = SHARED / "communes-admin-express-2018" / "34-herault" / "communes-34-herault.geojson"
#: 256 px windows with 64 px margins: a 128 px stride, and blocks of one stride (one window each).
CHOICE = TilingChoice(256, 64, 1)
BLOCK = 128
OPTIONS = RunOptions("default", device="cpu", tiling=CHOICE, block_side=BLOCK)


def _no_codes(spec: dict) -> Territory:
    raise AssertionError(f"no store in this test: {spec}")


def _blocks_done(run_dir: Path) -> dict[str, float]:
    """Finished blocks' records, by block id, with their COG's modification time."""
    return {p.stem: (p.with_suffix(".tif")).stat().st_mtime_ns for p in (run_dir / "blocks").glob("*.json")}


def _assembled(run_dir: Path, width: int, height: int) -> np.ndarray:
    out = np.full((height, width), 255, np.uint8)  # 255: no block wrote there
    for record_path in (run_dir / "blocks").glob("*.json"):
        col, row, w, h = json.loads(record_path.read_text())["window"]
        with rasterio.open(record_path.with_suffix(".tif")) as dataset:
            out[row : row + h, col : col + w] = dataset.read(1)
    return out


def test_block_side_follows_the_window_and_the_vectoriser() -> None:
    default = Tiling()
    assert block_side(default) == 4608 and block_side(default) % default.stride == 0
    assert (block_side(default) + 2 * default.margin) ** 2 <= 25_000_000
    blocks = plan_blocks(1000, 700, Tiling(256, 64), 256)
    assert [b.id for b in blocks][:3] == ["r0000c0000", "r0000c0001", "r0000c0002"]
    assert sum(b.pixels for b in blocks) == 1000 * 700
    with pytest.raises(InvalidInputError, match="multiple of the 128 px stride"):
        plan_blocks(1000, 700, Tiling(256, 64), 200)


def test_blocks_give_the_classes_of_the_whole_mosaic(tmp_path: Path) -> None:
    write_dalles(tmp_path / "d", 3, 2, side=125)
    spec = get_model("default")
    mosaic = prepare(tmp_path / "d", tmp_path / "d", tmp_path / "w", spec.bands, None)
    summary = run_blocks(mosaic, tmp_path / "run", OPTIONS)
    assert (summary["blocks"], summary["computed"], summary["reused"], summary["failed"]) == (6, 6, 0, [])
    assert summary["km2"] == pytest.approx(6.0)  # six 1 km dalles
    assert sum(summary["surfaces_m2"].values()) == pytest.approx(6e6)
    segment(mosaic.stack, load_model(spec), spec, tmp_path / "whole.tif", tiling=Tiling(256, 64, 1), device="cpu")
    with rasterio.open(tmp_path / "whole.tif") as dataset:
        whole = dataset.read(1)
    assert len(np.unique(whole)) > 1
    np.testing.assert_array_equal(_assembled(tmp_path / "run", 375, 250), whole)
    # The blocks as one raster, read back by GDAL: the VRT on the mosaic's grid, with the legend of the blocks.
    vrt = tmp_path / "run" / summary["classification"]
    with rasterio.open(vrt) as dataset, rasterio.open(tmp_path / "whole.tif") as reference:
        np.testing.assert_array_equal(dataset.read(1), whole)
        assert (dataset.transform, dataset.crs, dataset.nodata) == (reference.transform, reference.crs, 0)
        assert dataset.tags()["OCSGE_VALUES"] == reference.tags()["OCSGE_VALUES"]
        assert dataset.colormap(1)[1] == reference.colormap(1)[1]
    info = json.loads(subprocess.run(["gdalinfo", "-json", str(vrt)], capture_output=True, check=True).stdout)
    assert info["size"] == [375, 250] and info["bands"][0]["colorInterpretation"] == "Palette"


def test_a_sigkilled_worker_resumes_without_redoing_finished_blocks(tmp_path: Path) -> None:
    """``ocsge segment --territoire 34172 DALLES``: Montpellier from the real Hérault communes, 12 dalles."""
    write_dalles(tmp_path / "d", 4, 3, side=125)
    run_dir = tmp_path / "run"
    store = tmp_path / "communes.gpkg"
    ocsge("ingest", "--store", str(store), str(HERAULT))
    command = [str(BIN / "ocsge"), "segment", str(tmp_path / "d"), "--territoire", "34172", "--store", str(store)]
    command += ["--out", str(run_dir)]
    command += ["--device", "cpu", "--window", "256", "--margin", "64", "--block-side", str(BLOCK)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    worker = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while len(_blocks_done(run_dir) if (run_dir / "blocks").is_dir() else {}) < 2:
        assert worker.poll() is None, "the worker ended before two blocks were finished"
        assert time.monotonic() < deadline, "no two blocks finished in 5 minutes"
        time.sleep(0.02)
    worker.send_signal(signal.SIGKILL)
    worker.wait()
    before = _blocks_done(run_dir)
    total = len(json.loads((run_dir / "plan.json").read_text())["blocks"])
    assert total >= 6 and 2 <= len(before) < total, f"killed after {len(before)} of {total} blocks"

    jobs = {"OCSGE_JOBS": str(tmp_path / "jobs.sqlite"), "OCSGE_URL": "http://ocsge.test"}
    done = subprocess.run([*command, "--publish"], env=env | jobs, capture_output=True, text=True, check=True)
    summary = json.loads(done.stdout[done.stdout.index("{") :])
    assert (summary["reused"], summary["computed"], summary["failed"]) == (len(before), total - len(before), [])
    # Finished, the run is assembled and, asked to, published as the run folder's name into --store.
    assembled = summary["assembled"]
    assert assembled["published"] == "http://ocsge.test/results/run/classes.tif"
    published = open_store(str(store)).read_frame(SEGMENTATION, 2154, equals={"run": "run"})
    assert len(published) == assembled["polygons"] > 0 and set(published.departement) == {"34"}
    after = _blocks_done(run_dir)
    assert len(after) == total
    assert {block: after[block] for block in before} == before  # the finished blocks were not written again
    assert not list((run_dir / "blocks").glob("*.partial*"))


def test_a_cancelled_run_resumes_and_another_run_is_refused_in_its_folder(tmp_path: Path) -> None:
    write_dalles(tmp_path / "d", 3, 2, side=125)
    spec = get_model("default")
    mosaic = prepare(tmp_path / "d", tmp_path / "d", tmp_path / "w", spec.bands, None)
    seen: list[tuple[int, int, float, float]] = []
    first = run_blocks(mosaic, tmp_path / "run", OPTIONS, lambda *p: seen.append(p), lambda: len(seen) >= 2)
    assert first["cancelled"] and first["computed"] == 2
    assert [(d, t) for d, t, _, _ in seen] == [(1, 6), (2, 6)]
    assert seen[-1][2] == pytest.approx(2 * 128 * 128 * 64 / 1e6) and seen[-1][3] == pytest.approx(6.0)
    with rasterio.open(tmp_path / "run" / first["classification"]) as dataset:
        partial = dataset.read(1)
    assert (partial[:128, :256] != 0).any() and (partial[128:, :] == 0).all()  # unfinished blocks read as nodata
    second = run_blocks(mosaic, tmp_path / "run", OPTIONS)
    assert (second["reused"], second["computed"], second["cancelled"]) == (2, 4, False)
    territory = territory_from_text("770000,6278000,771000,6279000", _no_codes)
    smaller = prepare(tmp_path / "d", tmp_path / "d", tmp_path / "w2", spec.bands, territory)
    with pytest.raises(InvalidInputError, match="the run folder holds another run"):
        run_blocks(smaller, tmp_path / "run", OPTIONS)


def test_a_corrupt_dalle_fails_its_blocks_only_and_is_retried(tmp_path: Path) -> None:
    files = write_dalles(tmp_path / "d", 3, 2, side=125)
    spec = get_model("default")
    broken = files[("RVB", 2, 1)]
    good = broken.read_bytes()
    broken.write_bytes(good[: len(good) // 2])  # the header reads, the pixels do not
    mosaic = prepare(tmp_path / "d", tmp_path / "d", tmp_path / "w", spec.bands, None)
    first = run_blocks(mosaic, tmp_path / "run", OPTIONS)
    failed = {f["block"] for f in first["failed"]}
    assert failed and first["computed"] == 6 - len(failed)
    assert all(str(tmp_path) not in f["reason"] for f in first["failed"])
    assert not any((tmp_path / "run" / "blocks" / f"{block}.tif").exists() for block in failed)
    broken.write_bytes(good)
    second = run_blocks(mosaic, tmp_path / "run", OPTIONS)
    assert (second["reused"], second["computed"], second["failed"]) == (6 - len(failed), len(failed), [])


def test_a_dismissed_job_stops_after_its_block_and_the_same_request_resumes(tmp_path: Path) -> None:
    """The job runner's report raises ``JobDismissed`` once the job is dismissed: the run stops there, its
    finished blocks stay, and executing the same request again computes only the others."""
    from ocsge_processes.jobs.runner import JobDismissed
    from ocsge_processes.workflows.images import ImagePolicy
    from ocsge_processes.workflows.segmentation_run import run_dalles

    write_dalles(tmp_path / "data" / "d", 3, 2, side=125)
    inputs = {"dalles": {"path": "d"}, "device": "cpu", "tiling": {"window": 256, "margin": 64, "block_side": BLOCK}}
    policy, runs = ImagePolicy(data_dir=tmp_path / "data"), tmp_path / "runs"
    messages: list[str] = []

    def dismissed_after_two_blocks(_percent: int, message: str) -> None:
        messages.append(message)
        if message.startswith("2/6 blocks"):
            raise JobDismissed("job-1")

    with pytest.raises(JobDismissed):
        run_dalles(inputs, policy, runs, None, dismissed_after_two_blocks)
    assert messages[-1].startswith("2/6 blocks, ") and messages[-1].endswith(" km²")
    (run_dir,) = runs.iterdir()
    assert len(list((run_dir / "blocks").glob("*.json"))) == 2
    resumed = run_dalles(inputs, policy, runs, None, lambda _p, _m: None)
    assert (resumed["reused"], resumed["computed"], resumed["failed"]) == (2, 4, [])
