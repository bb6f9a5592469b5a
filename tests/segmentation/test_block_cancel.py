"""A cancel reaches inside a block: the run stops after the batch of windows in progress, drops that block (no file
of it stays) and says ``cancelled``; the next run computes it whole. ``ocsge segment`` cancels on SIGTERM and says
what it finished. A block task of a run its sender cancelled ends
at once without reading a pixel, and a task of another run over the same folder is not affected."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from ocsge_processes.segmentation import get_model
from ocsge_processes.segmentation.windows import TilingChoice
from ocsge_processes.stores import open_store
from ocsge_processes.workflows.segmentation_run import RunCancelled, RunOptions, plan_run, prepare, run_blocks
from ocsge_processes.workflows.segmentation_worker import block_work, cancel_run

from ..conftest import BIN
from .ign_dalles import write_dalles

pytestmark = pytest.mark.slow  # the default model on the CPU

#: 256 px windows, 64 px margins (a 128 px stride), batches of one window, 384 px blocks: 9 windows a block.
OPTIONS = RunOptions("default", device="cpu", tiling=TilingChoice(256, 64, 1), block_side=384)


def test_a_cancel_stops_a_block_after_its_batch_and_the_next_run_computes_it(tmp_path: Path) -> None:
    write_dalles(tmp_path / "d", 2, 1, side=250)  # 500 × 250 px: two blocks of 384 px columns
    mosaic = prepare(tmp_path / "d", tmp_path / "d", tmp_path / "w", get_model("default").bands, None)
    asked: list[int] = []

    def cancelled() -> bool:
        """Yes from the fourth question: before the block, as it starts, after its first two batches."""
        asked.append(len(asked))
        return len(asked) > 3

    first = run_blocks(mosaic, tmp_path / "run", OPTIONS, None, cancelled)
    assert first["cancelled"] and (first["computed"], first["reused"]) == (0, 0)
    assert len(asked) == 4, "asked before the block and after each batch until it said yes; not after"
    assert not list((tmp_path / "run" / "blocks").iterdir()), "the stopped block left no file"
    second = run_blocks(mosaic, tmp_path / "run", OPTIONS)
    assert (second["computed"], second["reused"], second["failed"], second["cancelled"]) == (2, 0, [], False)


def test_a_task_of_a_cancelled_run_ends_without_work_and_another_runs_task_goes_on(tmp_path: Path) -> None:
    write_dalles(tmp_path / "d", 1, 1, side=125)
    mosaic = prepare(tmp_path / "d", tmp_path / "d", tmp_path / "w", get_model("default").bands, None)
    run_dir = tmp_path / "run"
    _, blocks = plan_run(mosaic, run_dir, OPTIONS, "cpu")
    store = open_store(str(tmp_path / "marks.gpkg"))
    cancel_run(store, run_dir, "first")
    options = {"run_dir": str(run_dir), "device": "cpu", "run": "first"}
    with pytest.raises(RunCancelled, match="cancelled before it started"):
        block_work(store, blocks[0].id, options, lambda _done: None)
    assert not list((run_dir / "blocks").iterdir())
    done = block_work(store, blocks[0].id, {**options, "run": "second"}, lambda _done: None)
    assert done.startswith(f"{blocks[0].id}: ") and (run_dir / "blocks" / f"{blocks[0].id}.json").is_file()


def test_ocsge_segment_cancels_on_sigterm_and_resumes(tmp_path: Path) -> None:
    write_dalles(tmp_path / "d", 3, 2, side=250)  # 750 × 500 px: four blocks of 384 px
    command = [str(BIN / "ocsge"), "segment", str(tmp_path / "d"), "--out", str(tmp_path / "run"), "--device", "cpu"]
    command += ["--window", "256", "--margin", "64", "--block-side", "384"]
    segment = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 600
        while not list((tmp_path / "run").glob("blocks/*.json")) and segment.poll() is None:
            assert time.monotonic() < deadline, "a first block within 10 min"
            time.sleep(0.1)
        segment.send_signal(signal.SIGTERM)
        stdout, stderr = segment.communicate(timeout=300)
    finally:
        if segment.poll() is None:
            segment.kill()
    assert segment.returncode == 1 and "Error: cancelled: " in stderr, stderr[-2000:]
    summary = json.loads(stdout[stdout.index("{") :])
    finished = {path.stem for path in (tmp_path / "run" / "blocks").glob("*.json")}
    assert summary["cancelled"] is True and 1 <= summary["computed"] == len(finished) < 4
    assert not list((tmp_path / "run" / "blocks").glob("*.partial*"))
    again = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-2000:]
    resumed = json.loads(again.stdout[again.stdout.index("{") :])
    assert (resumed["reused"], resumed["computed"], resumed["failed"]) == (len(finished), 4 - len(finished), [])


def test_a_job_dismissed_in_the_middle_of_a_block_stops_there(tmp_path: Path) -> None:
    """The job's report raises ``JobDismissed`` once the job is dismissed; the run asks it after each batch of
    windows, so the block in progress is dropped there and the same request computes every block."""
    from ocsge_processes.jobs.runner import JobDismissed
    from ocsge_processes.workflows.images import ImagePolicy
    from ocsge_processes.workflows.segmentation_run import run_dalles

    write_dalles(tmp_path / "data" / "d", 2, 1, side=250)
    inputs = {"dalles": {"path": "d"}, "device": "cpu", "tiling": {"window": 256, "margin": 64, "block_side": 384}}
    policy, runs = ImagePolicy(data_dir=tmp_path / "data"), tmp_path / "runs"
    reports: list[str] = []

    def dismissed_on_the_fifth_report(_percent: int, message: str) -> None:
        """The dalles found, before the first block, as it starts, after its first batch; then dismissed."""
        reports.append(message)
        if len(reports) == 5:
            raise JobDismissed("job-1")

    with pytest.raises(JobDismissed):
        run_dalles(inputs, policy, runs, None, dismissed_on_the_fifth_report)
    (run_dir,) = runs.iterdir()
    assert reports[-1].startswith("2 dalles") and not list((run_dir / "blocks").iterdir())
    resumed = run_dalles(inputs, policy, runs, None, lambda _percent, _message: None)
    assert (resumed["reused"], resumed["computed"], resumed["failed"]) == (0, 2, [])
