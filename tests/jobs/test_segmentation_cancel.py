"""Cancelling a segmentation run that real Celery workers carry (the local topology: Redis, PostgreSQL job records,
two workers), and resuming it.

``ocsge segment --broker`` interrupted by SIGINT: the sender notes its run cancelled, the workers skip the blocks
still queued and stop the running ones after their batch of windows; the command exits non-zero with a summary that
says ``cancelled``; no partial file stays and every block left is either finished (its checksum matches) or absent.
The same command again computes only the blocks not finished.

The ``segmentation`` process executed asynchronously on the workers and dismissed (DELETE /jobs/{id}): the job ends
``dismissed``, its worker lets go, the finished blocks stay whole, and the same request again reuses them.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import requests

from deploy.topology import Topology
from ocsge_processes.stores import open_store
from ocsge_processes.workflows.segmentation_worker import BLOCK_SCOPE

from ..conftest import BIN, ROOT, SHARED, ocsge
from ..segmentation.ign_dalles import write_dalles
from .conftest import ASYNC, execute, status

pytestmark = pytest.mark.slow  # a topology and the default model on the CPU

HERAULT = SHARED / "communes-admin-express-2018" / "34-herault" / "communes-34-herault.geojson"
#: 256 px windows, 64 px margins (a 128 px stride), 384 px blocks: 9 windows a block, 4 blocks on 750 × 500 px.
TILING = ["--window", "256", "--margin", "64", "--block-side", "384"]
#: The interrupted run's blocks: many small ones. After the workers' first blocks (slow: the model loads), a block
#: takes well under the second in which a running block looks at the cancel note, so with four blocks the last two
#: could end before the interrupt reaches them; with dozens, most are still queued and must end without work.
CANCEL_TILING = ["--window", "256", "--margin", "64", "--block-side", "128"]


@pytest.fixture(scope="module")
def topology() -> Iterator[tuple[Topology, Path]]:
    """The topology on a store of the Hérault communes, its workers reading dalles under a data folder of ours."""
    folder = Path(tempfile.mkdtemp(prefix="ocsge-cancel-"))  # not under pytest's: PostgreSQL must reach its data
    folder.chmod(0o755)
    store, data = folder / "communes.gpkg", folder / "data"
    ocsge("ingest", "--store", str(store), str(HERAULT))
    write_dalles(data / "bdortho-34", 3, 2, side=250)
    env = {
        "PYTHONPATH": str(ROOT),
        "OCSGE_DATA_DIR": str(data),
        "OCSGE_SEGMENTATION_RUNS": str(folder / "runs"),
        "HF_HUB_OFFLINE": "1",
    }
    topology = Topology(folder / "topology", BIN, str(store), replicas=1, workers=2, stale_after_s=30.0, env=env)
    try:
        yield topology.start(), data
    finally:
        topology.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _segment(topology: Topology, dalles: Path, run_dir: Path, tiling: list[str] = TILING) -> list[str]:
    return [
        str(BIN / "ocsge"), "segment", str(dalles), "--out", str(run_dir), "--device", "cpu", *tiling,
        "--broker", topology.broker, "--store", str(topology.store),
    ]  # fmt: skip


def _wait_for(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout_s} s"
        time.sleep(0.1)


def _finished(run_dir: Path) -> set[str]:
    return {path.stem for path in (run_dir / "blocks").glob("*.json")}


def _summary(stdout: str) -> dict:
    return json.loads(stdout[stdout.index("{") :])


def test_an_interrupted_broker_run_stops_its_workers_and_resumes(
    topology: tuple[Topology, Path], tmp_path: Path
) -> None:
    cluster, data = topology
    run_dir = tmp_path / "run"
    command = _segment(cluster, data / "bdortho-34", run_dir, CANCEL_TILING)
    sender = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # Two workers take a block each; once one is finished the others are running or queued.
        _wait_for(lambda: _finished(run_dir) or sender.poll() is not None, 600, "a first block finished")
        assert sender.poll() is None, sender.communicate()[1][-2000:]
        sender.send_signal(signal.SIGINT)
        stdout, stderr = sender.communicate(timeout=300)
    finally:
        if sender.poll() is None:
            sender.kill()
    assert sender.returncode != 0 and "cancelled:" in stderr, stderr[-2000:]
    summary = _summary(stdout)
    blocks = summary["blocks"]
    assert summary["cancelled"] is True and blocks > 4
    done = _finished(run_dir)
    assert 1 <= summary["computed"] == len(done) < blocks
    failed = {failure["block"] for failure in summary["failed"]}
    assert len(failed) == blocks - len(done) and not failed & done

    # The workers let go: every block of the run has ended, the unfinished ones because the run was cancelled.
    notes = open_store(str(cluster.store)).marks(f"{BLOCK_SCOPE}/{run_dir.name}/progress")
    states = {key: json.loads(value) for key, value in notes.items()}
    assert set(states) >= {failure["block"] for failure in summary["failed"]}
    for block in {failure["block"] for failure in summary["failed"]}:
        assert states[block]["state"] == "failed" and "cancelled" in states[block]["message"], states[block]
    assert not list((run_dir / "blocks").glob("*.partial*")), "a stopped block leaves no partial file"

    resumed = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    again = _summary(resumed.stdout)
    assert (again["reused"], again["computed"], again["failed"]) == (len(done), blocks - len(done), [])
    assert again["cancelled"] is False


def test_a_dismissed_job_on_the_workers_stops_and_the_same_request_resumes(topology: tuple[Topology, Path]) -> None:
    cluster, data = topology
    url = cluster.urls[0]
    inputs = {
        "dalles": {"path": "bdortho-34"},
        "territoire": {"bbox": [770000, 6278000, 772000, 6279000]},
        "tiling": {"window": 256, "margin": 64, "block_side": 128},
        "device": "cpu",
    }
    response = execute(url, "segmentation", {"inputs": inputs}, ASYNC)
    assert response.status_code == 201, response.text[:500]
    job = response.json()["jobID"]
    runs = data.parent / "runs"
    _wait_for(lambda: any(runs.glob("*/blocks/*.json")) or status(url, job)["status"] not in ("accepted", "running"),
              600, "a first block finished")  # fmt: skip
    assert status(url, job)["status"] == "running", status(url, job)
    assert requests.delete(f"{url}/jobs/{job}", timeout=30).status_code == 200
    (run_dir,) = runs.iterdir()
    _wait_for(lambda: status(url, job)["status"] == "dismissed", 30, "the job dismissed")
    finished_then = _finished(run_dir)
    plan = json.loads((run_dir / "plan.json").read_text())
    assert len(finished_then) < len(plan["blocks"])

    # The same request, synchronously on the same workers: the finished blocks are reused, the others computed.
    again = execute(url, "segmentation", {"inputs": inputs})
    assert again.status_code == 200, again.text[:500]
    resumed = again.json()
    assert resumed["reused"] >= len(finished_then) and resumed["failed"] == []
    assert resumed["reused"] + resumed["computed"] == len(plan["blocks"])
    assert not list((run_dir / "blocks").glob("*.partial*")), "no partial file once the run is complete"
