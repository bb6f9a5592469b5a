"""One block of a segmentation run as a worker's unit of work: what ``ocsge segment --broker`` fans out, one task
per block on the ``gpu`` queue (the sender writes the plan and the mosaic's stack into the run folder; the task reads
them there, segments its block and records it, exactly as a run in one process does).

Its signature is the fan-out's ``Work`` (``jobs.fanout``): store (where the progress notes go), key (the block id),
options (``run_dir``, ``device``, ``checkpoint``, ``run``), progress. A block already finished (its checksum matches)
is not computed again: a task sent twice, or a run resumed, does no work twice.

Cancel: the sender, or the dismissal of the job that runs it, notes its run cancelled in the store (the fan-out's
note, ``jobs.fanout.cancel``, in the scope ``cancel_scope`` names, keyed by the fan-out's run id, given to each task
as ``options["run"]``). A task of a cancelled run that has not started ends at once without reading a pixel or
writing a note (``jobs.fanout.register``), so one left in the queue never touches the notes of a resumed run; one in
the middle of its block reads the note after each batch of windows (at most once a second) and stops there, its
partial COG removed.
"""

from __future__ import annotations

import functools
import json
import re
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rasterio.windows import Window

from ..errors import InvalidInputError
from ..segmentation.blocks import Block
from ..segmentation.registry import get_model
from ..segmentation.windows import TilingChoice
from ..stores import FeatureStore
from .segmentation_run import RunCancelled, finished, load_stack, segment_block

if TYPE_CHECKING:
    import torch

#: The Celery task of one block (registered by ``ocsge worker``).
BLOCK_TASK = "ocsge.segmentation_block"
#: Scope of the fan-out's progress notes in the store, followed by the run folder's name.
BLOCK_SCOPE = "segmentation-blocks"
_BLOCK_ID = re.compile(r"^r(\d{4})c(\d{4})$")
#: Fewest seconds between two reads of the cancel note by a task in the middle of its block.
CANCEL_CHECK_S = 1.0


def block_work(store: FeatureStore, key: str, options: Mapping[str, object], progress: Callable[[float], None]) -> str:
    """Segment block ``key`` of the run in ``options["run_dir"]``; a line saying what was done. Raises
    ``RunCancelled`` when the sender cancelled the run (``options["run"]``) before or during the block."""
    run_dir = Path(str(options["run_dir"]))
    run_id = str(options.get("run") or "")
    if run_id and cancelled(store, run_dir, run_id):
        raise RunCancelled(f"block {key}: the run was cancelled before it started")
    plan = json.loads((run_dir / "plan.json").read_text())
    windows = {entry[0]: entry[1:] for entry in plan["blocks"]}
    match = _BLOCK_ID.match(key)
    if key not in windows or match is None:
        raise InvalidInputError(f"block {key} is not in the run's plan")
    block = Block(int(match[1]), int(match[2]), Window(*windows[key]))
    if finished(run_dir, block) is not None:
        return f"{key} already finished"
    device = str(options.get("device", "auto"))
    checkpoint = options.get("checkpoint")
    network, kind = _network(str(plan["model"]), str(checkpoint) if checkpoint else None, device)
    window, margin = plan["tiling"]
    stack = load_stack(run_dir)
    tiling = TilingChoice(window, margin).resolve(stack.width, stack.height, kind)
    stop = _throttled(lambda: cancelled(store, run_dir, run_id)) if run_id else None
    record = segment_block(stack, block, run_dir, network, get_model(str(plan["model"])), tiling, device, stop)
    progress(1.0)
    return f"{key}: {record['pixels']} px in {record['seconds']:.1f} s"


@functools.cache
def _network(model: str, checkpoint: str | None, device: str) -> tuple[torch.nn.Module, str]:
    """The model loaded once per worker process, and the device type it runs on."""
    from ..segmentation.checkpoint import load_model  # torch: imported when a block runs, not before
    from ..segmentation.device import select_device

    return load_model(get_model(model), Path(checkpoint) if checkpoint else None), select_device(device).type


def cancel_scope(run_dir: Path) -> str:
    """Where the cancel notes of the runs in ``run_dir`` go in the store: ``jobs.fanout.cancel_scope`` of the
    fan-out's scope (this layer does not import ``jobs``; tests/jobs/test_segmentation_process_fanout.py checks
    that both agree)."""
    return f"{BLOCK_SCOPE}/{run_dir.name}/cancel"


def cancel_run(store: FeatureStore, run_dir: Path, run_id: str) -> None:
    """Note the fan-out ``run_id`` over ``run_dir`` cancelled: its tasks stop (``block_work``)."""
    store.set_mark(cancel_scope(run_dir), run_id, "cancelled")


def cancelled(store: FeatureStore, run_dir: Path, run_id: str) -> bool:
    """Whether the fan-out ``run_id`` over ``run_dir`` was cancelled."""
    return run_id in store.marks(cancel_scope(run_dir))


def _throttled(check: Callable[[], bool]) -> Callable[[], bool]:
    """``check`` asked at most once every ``CANCEL_CHECK_S`` (a batch may take milliseconds on a GPU; the store's
    read is not free); once true, true for good."""
    last, answer = [-CANCEL_CHECK_S], [False]

    def throttled() -> bool:
        now = time.monotonic()
        if not answer[0] and now - last[0] >= CANCEL_CHECK_S:
            last[0], answer[0] = now, check()
        return answer[0]

    return throttled
