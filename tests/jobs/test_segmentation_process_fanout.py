"""The ``segmentation`` process over dalles on the local topology (Redis, PostgreSQL job records, Celery workers):
the job runs on the cpu queue's worker and sends one task per block to the gpu queue's worker.

With no gpu worker the job fails saying so after the bounded wait (its tasks stay queued, cancelled). Once a gpu
worker runs, those stale tasks end without writing a note, and the same request fans out again: progress in blocks
and km² as blocks end; DELETE /jobs/{id} cancels the fan-out (its queued blocks end without work, the running one
after its batch) and the job ends dismissed; the same request again reuses the finished blocks (untouched) and
computes only the others, on the gpu worker, to the classes of a run in one process (``ocsge segment``).
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
import requests
from celery import Celery

from deploy.topology import Topology
from ocsge_processes.jobs.fanout import JOBS_SCOPE, Fanout, NoWorkerError, cancel, is_cancelled, register
from ocsge_processes.stores import open_store
from ocsge_processes.workflows.segmentation_worker import BLOCK_SCOPE, BLOCK_TASK, cancelled

from ..conftest import BIN, ROOT, SHARED, ocsge
from ..segmentation.ign_dalles import write_dalles
from .conftest import ASYNC, block_classes, execute, status

pytestmark = pytest.mark.slow  # a topology and the default model on the CPU

HERAULT = SHARED / "communes-admin-express-2018" / "34-herault" / "communes-34-herault.geojson"
#: 500 × 250 px of dalles; 256 px windows with 64 px margins (a 128 px stride) and 128 px blocks: 8 blocks of one
#: window each, so that a block takes seconds on a CPU and a cancel lands while blocks are left.
INPUTS = {
    "dalles": {"path": "bdortho-34"},
    "tiling": {"window": 256, "margin": 64, "block_side": 128},
    "device": "cpu",
}
BLOCKS = 8
#: The bounded wait for a gpu worker: longer than a block's heartbeat (15 s), so a live worker's block always moves
#: within it, even on loaded cores; short enough for the test.
BLOCK_WAIT_S = 45
PROGRESS = re.compile(r"^(\d+)/(\d+) blocks, ([\d.]+)/([\d.]+) km²$")


@pytest.fixture(scope="module")
def topology() -> Iterator[tuple[Topology, Path]]:
    """Worker 0 takes only the cpu queue, worker 1 only the gpu queue (started by the test)."""
    folder = Path(tempfile.mkdtemp(prefix="ocsge-process-fanout-"))  # PostgreSQL must reach its data
    folder.chmod(0o755)
    store, data = folder / "communes.gpkg", folder / "data"
    ocsge("ingest", "--store", str(store), str(HERAULT))
    write_dalles(data / "bdortho-34", 2, 1, side=250)
    env = {
        "PYTHONPATH": str(ROOT),
        "OCSGE_DATA_DIR": str(data),
        "OCSGE_SEGMENTATION_RUNS": str(folder / "runs"),
        "OCSGE_BLOCK_WAIT_S": str(BLOCK_WAIT_S),
        "HF_HUB_OFFLINE": "1",
    }
    topology = Topology(folder / "topology", BIN, str(store), replicas=1, workers=2, stale_after_s=30.0, env=env)
    try:
        topology.start()
        for index in (0, 1):
            topology.kill_worker(index)
        topology.start_worker(0, "cpu")
        yield topology, data
    finally:
        topology.stop()
        shutil.rmtree(folder, ignore_errors=True)


def _wait_for(condition: Callable[[], object], timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} within {timeout_s} s"
        time.sleep(0.2)


def _finished(run_dir: Path) -> dict[str, int]:
    """Each finished block's record and when it was written."""
    return {path.stem: path.stat().st_mtime_ns for path in (run_dir / "blocks").glob("*.json")}


def _fanout_notes(topology: Topology, job: str) -> tuple[str, str, dict[str, dict]]:
    """The fan-out ``job`` started: its scope, run id and its blocks' notes of that run (the workers' records)."""
    store = open_store(str(topology.store))
    note = json.loads(store.marks(f"{JOBS_SCOPE}/{job}")["run"])
    notes = {key: json.loads(text) for key, text in store.marks(f"{note['scope']}/progress").items()}
    return note["scope"], note["run"], {key: n for key, n in notes.items() if n["run"] == note["run"]}


def _start(url: str) -> str:
    response = execute(url, "segmentation", {"inputs": INPUTS}, ASYNC)
    assert response.status_code == 201, response.text[:500]
    return str(response.json()["jobID"])


def _ended(url: str, job: str, timeout_s: float) -> dict:
    _wait_for(lambda: status(url, job)["status"] not in ("accepted", "running"), timeout_s, f"job {job} ended")
    return status(url, job)


def test_the_cancel_note_of_a_fanout_is_the_one_block_tasks_read(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "notes.gpkg"))
    run_dir = tmp_path / "runs" / "abc"
    cancel(store, f"{BLOCK_SCOPE}/{run_dir.name}", "run-1")
    assert is_cancelled(store, f"{BLOCK_SCOPE}/{run_dir.name}", "run-1")
    assert cancelled(store, run_dir, "run-1") and not cancelled(store, run_dir, "run-2")


def test_a_task_of_a_cancelled_run_writes_no_note_and_does_no_work(tmp_path: Path) -> None:
    """A task left in the queue after a cancel, run while a later run of the same batch is under way."""
    url = str(tmp_path / "notes.gpkg")
    store = open_store(url)
    worked: list[str] = []
    app = Celery("test", set_as_current=False)
    register(app, "test.block", lambda _store, key, _options, _progress: worked.append(key) or key)
    cancel(store, "batch", "old")
    later = Fanout(store, "batch", ["k1"])
    later.queue()
    app.tasks["test.block"](url, "batch", "k1", "old", {}, 1.0)
    assert worked == [] and later.states(60)["k1"].state == "queued"
    app.tasks["test.block"](url, "batch", "k1", later.run_id, {}, 1.0)
    assert worked == ["k1"] and later.states(60)["k1"].state == "done"


def test_a_queue_that_a_live_worker_takes_is_waited_for_again_one_that_none_takes_fails(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "notes.gpkg"))
    fanout = Fanout(store, "batch", ["k1", "k2"])
    fanout.queue()
    answers = [True, False]  # busy with other work at the first look, gone at the second

    def consumed() -> bool:
        return answers.pop(0)

    started = time.monotonic()
    with pytest.raises(NoWorkerError, match="no worker took a task of batch for 0.5 s"):
        fanout.follow(60, 0.5, lambda _key, _state: None, lambda: False, 60, poll_s=0.05, consumed=consumed)
    assert answers == [] and time.monotonic() - started >= 1.0, "the wait started again after the first answer"
    assert is_cancelled(store, "batch", fanout.run_id)
    assert {s.message for s in fanout.states(60).values()} == {"cancelled before it started"}


def test_a_process_run_fans_its_blocks_out_is_dismissed_and_resumes(topology: tuple[Topology, Path]) -> None:
    cluster, data = topology
    url = cluster.urls[0]
    logs = cluster.folder

    # No gpu worker: the job (on the cpu queue) fails saying so after the bounded wait, its tasks cancelled.
    job = _start(url)
    failed = _ended(url, job, BLOCK_WAIT_S + 300)
    assert failed["status"] == "failed", failed
    assert failed["message"].startswith("ServiceUnavailable: no worker took a task"), failed
    scope, stale_run, notes = _fanout_notes(cluster, job)
    assert is_cancelled(open_store(str(cluster.store)), scope, stale_run)
    assert {n["state"] for n in notes.values()} == {"failed"} and len(notes) == BLOCKS, notes
    (run_dir,) = (data.parent / "runs").iterdir()
    assert _finished(run_dir) == {}

    # A gpu worker: the stale tasks end without a note; the same request fans out again, with progress; dismissed.
    cluster.start_worker(1, "gpu")
    job = _start(url)
    messages: list[str] = []

    def progressed() -> bool:
        document = status(url, job)
        messages.append(document.get("message") or "")
        match = PROGRESS.match(messages[-1])
        return bool(match and int(match[1]) >= 1) or document["status"] not in ("accepted", "running")

    _wait_for(progressed, 600, "a first block reported in the job's progress")
    assert status(url, job)["status"] == "running", status(url, job)
    assert requests.delete(f"{url}/jobs/{job}", timeout=30).status_code == 200
    _wait_for(lambda: status(url, job)["status"] == "dismissed", 30, "the job dismissed")
    scope, run, notes = _fanout_notes(cluster, job)
    assert run != stale_run and is_cancelled(open_store(str(cluster.store)), scope, run)
    _wait_for(lambda: all(n["state"] in ("done", "failed") for n in _fanout_notes(cluster, job)[2].values()),
              60, "every block of the dismissed job ended")  # fmt: skip
    _, _, notes = _fanout_notes(cluster, job)
    assert len(notes) == BLOCKS, "no stale task of the failed run replaced a note of this one"
    done = {key for key, n in notes.items() if n["state"] == "done"}
    finished_then = _finished(run_dir)
    assert done == set(finished_then) and 1 <= len(done) < BLOCKS
    for key, note in notes.items():
        if key not in done:
            assert "cancelled" in note["message"], note
    assert not list((run_dir / "blocks").glob("*.partial*")), "a stopped block leaves no partial file"
    progress = [m for x in messages if (m := PROGRESS.match(x))]
    assert all(int(m[2]) == BLOCKS and float(m[3]) <= float(m[4]) for m in progress) and progress

    # The same request again: finished blocks reused untouched, the others computed as gpu tasks.
    job = _start(url)
    ended = _ended(url, job, 900)
    assert ended["status"] == "successful", ended
    summary = requests.get(f"{url}/jobs/{job}/results", params={"f": "json"}, timeout=60).json()
    assert (summary["blocks"], summary["reused"], summary["failed"]) == (BLOCKS, len(finished_then), []), summary
    assert summary["computed"] == BLOCKS - len(finished_then)
    assert {key: _finished(run_dir)[key] for key in finished_then} == finished_then, "finished blocks not rewritten"
    _, _, notes = _fanout_notes(cluster, job)
    assert set(notes) == set(_finished(run_dir)) - set(finished_then)
    assert {n["state"] for n in notes.values()} == {"done"}
    received = f"Task {BLOCK_TASK}["  # a task received, as Celery logs it
    assert received in (logs / "worker1.log").read_text() and received not in (logs / "worker0.log").read_text()

    # The classes are those of a run in one process.
    local_dir = data.parent / "local"
    local = subprocess.run(
        [str(BIN / "ocsge"), "segment", str(data / "bdortho-34"), "--out", str(local_dir), "--device", "cpu",
         "--window", "256", "--margin", "64", "--block-side", "128", "--store", str(cluster.store)],
        capture_output=True, text=True, timeout=900,
    )  # fmt: skip
    assert local.returncode == 0, local.stderr[-2000:]
    here = json.loads(local.stdout[local.stdout.index("{") :])
    assert here["surfaces_m2"] == summary["surfaces_m2"]
    by_workers, in_process = block_classes(run_dir), block_classes(local_dir)
    assert by_workers.keys() == in_process.keys() and len(in_process) == BLOCKS
    for block, classes in in_process.items():
        np.testing.assert_array_equal(by_workers[block], classes)
