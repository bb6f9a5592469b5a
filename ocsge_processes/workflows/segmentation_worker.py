"""One block of a segmentation run as a worker's unit of work: what ``ocsge segment --broker`` fans out, one task
per block on the ``gpu`` queue (the sender writes the plan and the mosaic's stack into the run folder; the task reads
them there, segments its block and records it, exactly as a run in one process does).

Its signature is the fan-out's ``Work`` (``jobs.fanout``): store (where the progress notes go), key (the block id),
options (``run_dir``, ``device``, ``checkpoint``), progress. A block already finished (its checksum matches) is not
computed again: a task sent twice, or a run resumed, does no work twice.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from rasterio.windows import Window

from ..errors import InvalidInputError
from ..segmentation.blocks import Block
from ..segmentation.registry import get_model
from ..segmentation.windows import TilingChoice
from ..stores import FeatureStore
from .segmentation_run import finished, load_stack, segment_block

if TYPE_CHECKING:
    import torch

#: The Celery task of one block (registered by ``ocsge worker``).
BLOCK_TASK = "ocsge.segmentation_block"
#: Scope of the fan-out's progress notes in the store, followed by the run folder's name.
BLOCK_SCOPE = "segmentation-blocks"
_BLOCK_ID = re.compile(r"^r(\d{4})c(\d{4})$")


def block_work(store: FeatureStore, key: str, options: Mapping[str, object], progress: Callable[[float], None]) -> str:
    """Segment block ``key`` of the run in ``options["run_dir"]``; a line saying what was done."""
    del store  # the fan-out writes the progress notes there; the block's output goes to the run folder
    run_dir = Path(str(options["run_dir"]))
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
    record = segment_block(stack, block, run_dir, network, get_model(str(plan["model"])), tiling, device)
    progress(1.0)
    return f"{key}: {record['pixels']} px in {record['seconds']:.1f} s"


@functools.cache
def _network(model: str, checkpoint: str | None, device: str) -> tuple[torch.nn.Module, str]:
    """The model loaded once per worker process, and the device type it runs on."""
    from ..segmentation.checkpoint import load_model  # torch: imported when a block runs, not before
    from ..segmentation.device import select_device

    return load_model(get_model(model), Path(checkpoint) if checkpoint else None), select_device(device).type
