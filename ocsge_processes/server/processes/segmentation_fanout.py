"""The sender of a segmentation run fanned out: one task per block not finished yet on the workers' ``gpu`` queue
(``workflows.segmentation_worker``), followed until each ends. Shared by ``ocsge segment --broker`` and by the
``segmentation`` process's jobs on a server whose executor is Celery (the job runs on the ``cpu`` queue, its blocks
on the ``gpu`` one: a job waiting for its blocks never holds the slot a block needs).

It lives above ``jobs`` and ``workflows`` because it joins them: the fan-out's notes, the run folder's plan.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from ...jobs.distributed import make_app
from ...jobs.fanout import DONE, Fanout, KeyState, note_job
from ...segmentation.mosaic import Mosaic
from ...stores import open_store
from ...workflows.segmentation_run import RunOptions, RunProgress, RunSummary, finished, plan_run, summarise
from ...workflows.segmentation_worker import BLOCK_SCOPE, BLOCK_TASK

#: Heartbeat of a block task: four missed beats and the sender reports the block's worker lost.
BLOCK_BEAT_S = 15.0
#: How long a cancelled fan-out waits for its tasks to end: a worker's block stops after its batch of windows
#: (seconds), its queued ones end without work; a lost worker's are let go (the next run resumes them).
CANCEL_WAIT_S = 4 * BLOCK_BEAT_S
#: How long blocks may stay queued with no block of the run moving before the sender asks whether a live worker
#: takes the gpu queue (busy with other runs: it waits again; none: the run fails saying so). A running block beats
#: every ``BLOCK_BEAT_S``, so a worker on this run moves it well within this.
TAKE_WAIT_S = 300.0
#: The queue of block tasks.
BLOCK_QUEUE = "gpu"


def fan_out_blocks(
    mosaic: Mosaic,
    run_dir: Path,
    options: RunOptions,
    store_url: str,
    broker: str,
    progress: RunProgress | None = None,
    stop: Callable[[], bool] = lambda: False,
    job_id: str | None = None,
    take_wait_s: float = TAKE_WAIT_S,
    on_failed: Callable[[str, str], None] | None = None,
) -> RunSummary:
    """Segment the blocks of ``mosaic`` not finished in ``run_dir`` on the workers; the summary read back from the
    run folder (failed: the blocks not finished). ``progress`` is called as blocks end (finished ones counted in
    km²); ``stop`` saying yes or raising cancels the run (``Fanout.follow``); ``job_id``: the job that runs this
    sender, whose dismissal cancels the run even if this process is killed. Raises ``NoWorkerError`` when no
    worker takes the ``gpu`` queue."""
    from ...segmentation.device import select_device  # torch: imported when a run starts, not before

    run_dir = run_dir.resolve()
    _, blocks = plan_run(mosaic, run_dir, options, select_device(options.device).type)
    pending = [block.id for block in blocks if finished(run_dir, block) is None]
    pixels = {block.id: block.pixels for block in blocks}
    total_km2 = sum(pixels.values()) * mosaic.pixel_m2 / 1e6
    done = [len(blocks) - len(pending), sum(pixels[b.id] for b in blocks if b.id not in pending)]

    def report() -> None:
        if progress is not None:
            progress(done[0], len(blocks), done[1] * mosaic.pixel_m2 / 1e6, total_km2)

    def ended(key: str, state: KeyState) -> None:
        done[0] += 1
        if state.state == DONE:
            done[1] += pixels[key]
        elif on_failed is not None:
            on_failed(key, state.message)
        report()

    report()
    fanout = Fanout(open_store(store_url), f"{BLOCK_SCOPE}/{run_dir.name}", pending)
    if job_id is not None:
        note_job(fanout.store, job_id, fanout.scope, fanout.run_id)
    fanout.queue()
    task_options = {"run_dir": str(run_dir), "device": options.device, "run": fanout.run_id}
    if options.checkpoint:
        task_options["checkpoint"] = str(options.checkpoint.resolve())
    app = make_app(broker)
    fanout.send(app, BLOCK_TASK, store_url, task_options, BLOCK_BEAT_S, queue=BLOCK_QUEUE)

    def consumed() -> bool:
        """Whether a live worker answers that it takes the block queue (the main process answers, even while
        its pool runs a block)."""
        replies = app.control.inspect(timeout=2.0).active_queues() or {}
        return any(queue.get("name") == BLOCK_QUEUE for queues in replies.values() for queue in queues)

    cancelled = fanout.follow(4 * BLOCK_BEAT_S, take_wait_s, ended, stop, CANCEL_WAIT_S, consumed=consumed)
    summary = summarise(run_dir, blocks, options.model, mosaic)
    summary["reused"] = len(blocks) - len(pending)
    summary["computed"] = len(pending) - len(summary["failed"])
    summary["cancelled"] = cancelled
    return summary
