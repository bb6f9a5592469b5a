"""Cancelling a segmentation run that real Celery workers carry (the local topology: Redis, PostgreSQL job records,
two workers), and resuming it.

``ocsge segment --broker`` interrupted by SIGINT: the sender notes its run cancelled, the workers skip the blocks
still queued and stop the running ones after their batch of windows; the command exits non-zero with a summary that
says ``cancelled``; no partial file stays and every block left is either finished (its checksum matches) or absent.
The same command again computes only the blocks not finished.

The ``segmentation`` process executed asynchronously on the workers and dismissed (DELETE /jobs/{id}): the job ends
``dismissed``, its worker lets go, the finished blocks stay whole, and the same request again reuses them.

The same process with its job's pool process SIGKILLed (the job fails at once), or every worker (the job's and the
one running its blocks: the job fails once its heartbeat is stale): the job ends ``failed`` saying the worker was
lost, nothing is assembled or published, and the same request completes, rewriting none of the finished blocks, to
the classes of a run in one process. The dead job's block tasks still queued end without work: the new run cancelled
them, so they cannot end its blocks for it.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import requests

from deploy.topology import Topology
from ocsge_processes.jobs.fanout import DONE, JOBS_SCOPE, QUEUED, Fanout, Reporter, is_cancelled
from ocsge_processes.server.processes.segmentation_fanout import BLOCK_BEAT_S
from ocsge_processes.stores import open_store
from ocsge_processes.workflows.segmentation_publish import CLASSES_NAME
from ocsge_processes.workflows.segmentation_run import CLASSIFICATION
from ocsge_processes.workflows.segmentation_worker import BLOCK_SCOPE

from ..conftest import BIN, ROOT, SHARED, ocsge
from ..segmentation.ign_dalles import write_dalles
from .conftest import ASYNC, alive, block_classes, execute, status

pytestmark = pytest.mark.slow  # a topology and the default model on the CPU

HERAULT = SHARED / "communes-admin-express-2018" / "34-herault" / "communes-34-herault.geojson"
#: 256 px windows, 64 px margins (a 128 px stride), 384 px blocks: 9 windows a block, 4 blocks on 750 × 500 px.
TILING = ["--window", "256", "--margin", "64", "--block-side", "384"]
#: The stale delay of the topology's jobs: a killed worker's job fails this long after its last heartbeat.
STALE_S = 30.0
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
    topology = Topology(folder / "topology", BIN, str(store), replicas=1, workers=2, stale_after_s=STALE_S, env=env)
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


def _job_worker(cluster: Topology, job: str) -> int:
    """The index of the worker that received job ``job`` (Celery logs each task it receives, the job id its id)."""
    received = f"[{job}] received"
    (index,) = [i for i in range(len(cluster.workers)) if received in (cluster.folder / f"worker{i}.log").read_text()]
    return index


def _pool(worker_pid: int) -> int:
    """The one pool process of a worker (each runs one job or block at a time)."""
    (pid,) = Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split()
    return int(pid)


def _mtimes(run_dir: Path) -> dict[str, int]:
    """Each finished block's record and when it was written."""
    return {path.stem: path.stat().st_mtime_ns for path in (run_dir / "blocks").glob("*.json")}


def test_a_later_run_of_a_batch_cancels_the_earlier_ones_and_follows_only_its_own_tasks(tmp_path: Path) -> None:
    """An earlier run whose sender died: its tasks still queued must not end the later run's keys."""
    store = open_store(str(tmp_path / "notes.gpkg"))
    earlier = Fanout(store, "batch", ["k1", "k2"])
    earlier.queue()
    later = Fanout(store, "batch", ["k1", "k2"])
    later.queue()
    assert is_cancelled(store, "batch", earlier.run_id) and not is_cancelled(store, "batch", later.run_id)
    # a task of the earlier run that started before the cancel note: its notes are not the later run's end
    Reporter(store, "batch", "k1", earlier.run_id, 60).write(DONE)
    assert later.states(60)["k1"].state == QUEUED
    Reporter(store, "batch", "k1", later.run_id, 60).write(DONE)
    assert later.states(60)["k1"].state == DONE
    # a run that no later run superseded still sees its notes replaced: a run of the batch is under way
    assert earlier.states(60)["k2"].message == "its progress note was replaced by another run"


#: The whole mosaic in 24 blocks of one window, in two requests (two run folders, neither the dismissed job's): with
#: and without its bounding box as the territory.
WHOLE = {"dalles": {"path": "bdortho-34"}, "tiling": {"window": 256, "margin": 64, "block_side": 128}, "device": "cpu"}
MOSAIC_BBOX = [770000, 6277000, 773000, 6279000]
#: The longest a block's lease outlives its holder: four of its heartbeats.
LEASE_S = 4 * BLOCK_BEAT_S


@pytest.mark.parametrize(
    ("killed", "inputs"),
    [("pool process", {**WHOLE, "territoire": {"bbox": MOSAIC_BBOX}}), ("every worker", WHOLE)],
)
def test_a_job_whose_worker_is_sigkilled_fails_and_the_same_request_resumes(
    topology: tuple[Topology, Path], killed: str, inputs: dict
) -> None:
    """The pool process alone (out of memory): the job fails at once and the same request follows while the blocks
    it sent are still queued. Every worker, the job's and the one running its blocks (their machines lost): the job
    fails once its heartbeat is stale, and its queued blocks wait in the broker for the restarted workers."""
    cluster, data = topology
    url = cluster.urls[0]
    for index, proc in enumerate(cluster.workers):
        if proc is None or proc.poll() is not None:
            cluster.start_worker(index)
    response = execute(url, "segmentation", {"inputs": inputs}, ASYNC)
    assert response.status_code == 201, response.text[:500]
    job = response.json()["jobID"]
    store = open_store(str(cluster.store))
    _wait_for(lambda: store.marks(f"{JOBS_SCOPE}/{job}").get("run"), 600, "the job's fan-out noted")
    scope = json.loads(store.marks(f"{JOBS_SCOPE}/{job}")["run"])["scope"]
    run_dir = data.parent / "runs" / scope.rsplit("/", 1)[1]
    plan = json.loads((run_dir / "plan.json").read_text())
    _wait_for(lambda: len(_finished(run_dir)) >= 2 or status(url, job)["status"] not in ("accepted", "running"),
              600, "two blocks finished")  # fmt: skip
    assert status(url, job)["status"] == "running", status(url, job)

    workers = [proc for proc in cluster.workers if proc is not None]
    pools = {proc.pid: _pool(proc.pid) for proc in workers}
    job_pool = pools[workers[_job_worker(cluster, job)].pid]
    if killed == "pool process":
        os.kill(job_pool, signal.SIGKILL)
        _wait_for(lambda: not alive(job_pool), 10, "the pool process gone")
    else:  # each worker's main and pool process at once: the job's and the one running its blocks
        for index in range(len(cluster.workers)):
            cluster.kill_worker(index)
        assert all(proc.poll() is not None for proc in workers)
        # a pool process with a model loaded takes a moment to unmap it once killed
        _wait_for(lambda: not any(alive(pid) for pid in pools.values()), 10, "the pool processes gone")
    finished_then = _mtimes(run_dir)
    leases = [json.loads(note)["until"] for note in store.marks(f"{scope}/lease").values()]
    assert 2 <= len(finished_then) < len(plan["blocks"]), "killed mid-run"

    # The job fails: at once when the worker's main process sees its pool process die, else once its heartbeat is
    # stale (a replica's sweep at each status request); nothing is assembled, published or kept as its result.
    _wait_for(lambda: status(url, job)["status"] != "running", STALE_S + 60, "the killed job failed")
    failed = status(url, job)
    lost = "worker lost: Worker exited prematurely" if killed == "pool process" else "worker lost: no heartbeat since"
    assert failed["status"] == "failed" and failed["message"].startswith(lost), failed
    result = requests.get(f"{url}/jobs/{job}/results", params={"f": "json"}, timeout=30)
    assert result.status_code == 400 and "job failed" in result.text, result.text[:500]
    assert requests.get(f"{url}/results/{job}/{CLASSES_NAME}", timeout=30).status_code == 404, "nothing published"
    assert not (run_dir / CLASSIFICATION).exists(), "an unfinished run is not assembled"
    assert {key: _mtimes(run_dir)[key] for key in finished_then} == finished_then

    # The same request: it completes, the blocks finished before it untouched. After the kill of every worker, its
    # job starts on a worker of the cpu queue alone, and the gpu queue's worker after it has queued its blocks: the
    # dead job's tasks still in the broker then all come first, and end without work (the new run cancelled them).
    before = _mtimes(run_dir)
    if killed == "every worker":
        # The block running at the kill keeps its lease until it lapses (``jobs.lease``: a dead holder stops
        # renewing it); a run that came sooner would report that block held by another run, to compute next time.
        _wait_for(lambda: time.time() > max(leases, default=0), LEASE_S, "the dead workers' leases lapsed")
        cluster.start_worker(0, "cpu")
    response = execute(url, "segmentation", {"inputs": inputs}, ASYNC)
    assert response.status_code == 201, response.text[:500]
    again = response.json()["jobID"]
    if killed == "every worker":
        _wait_for(lambda: store.marks(f"{JOBS_SCOPE}/{again}").get("run"), 300, "the new job's blocks queued")
        cluster.start_worker(1)
    _wait_for(lambda: status(url, again)["status"] not in ("accepted", "running"), 900, "the resumed job ended")
    ended = status(url, again)
    assert ended["status"] == "successful", ended
    summary = requests.get(f"{url}/jobs/{again}/results", params={"f": "json"}, timeout=60).json()
    blocks = len(plan["blocks"])
    notes = store.marks(f"{scope}/progress")
    assert summary["blocks"] == blocks and summary["failed"] == [], (summary["failed"], notes)
    assert summary["reused"] >= len(before) and summary["reused"] + summary["computed"] == blocks, summary
    if killed == "every worker":
        assert summary["reused"] == len(before), "no task of the dead job computed a block"
        cluster.kill_worker(0)
        cluster.start_worker(0)  # both queues again, as the other tests have it
    after = _mtimes(run_dir)
    assert {key: after[key] for key in before} == before, "a block finished before the resume was rewritten"
    assert len(after) == blocks and (run_dir / CLASSIFICATION).exists()
    assert not list((run_dir / "blocks").glob("*.partial*")), "no partial file once the run is complete"
    assert requests.get(f"{url}/results/{again}/{CLASSES_NAME}", timeout=30).status_code == 200

    # The classes are those of a run in one process.
    local_dir = data.parent / f"local-{killed.replace(' ', '-')}"
    local = subprocess.run(
        [str(BIN / "ocsge"), "segment", str(data / "bdortho-34"), "--out", str(local_dir), "--device", "cpu",
         *CANCEL_TILING, "--store", str(cluster.store)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert local.returncode == 0, local.stderr[-2000:]
    assert _summary(local.stdout)["surfaces_m2"] == summary["surfaces_m2"]
    resumed, in_process = block_classes(run_dir), block_classes(local_dir)
    assert resumed.keys() == in_process.keys() and len(in_process) == blocks
    for block, classes in in_process.items():
        np.testing.assert_array_equal(resumed[block], classes)
