"""The inference engine: a raster of any size through a segmentation model, window by window, into a COG.

What makes it fast, and why:

* uint8 pixels go to the device (4× fewer bytes than float32), and normalisation, masking, argmax and the mapping
  to output values happen there; only one uint8 per pixel (and optionally the uint8 probabilities) comes back;
* on CUDA the model runs in bf16 autocast with channels_last tensors (tensor cores) and cuDNN autotuning; on the
  CPU it stays fp32, where bf16 is slower and less exact;
* windows of one size go in batches, and reading, compute and writing overlap (``pipeline.overlapped``), with
  pinned host memory and asynchronous copies on CUDA so the device never waits on the disk.

Each pixel is predicted by the window whose centre holds it (``windows.plan``): no blending, exactly one write.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, Unpack

import numpy as np
import torch
from affine import Affine
from rasterio.io import DatasetWriter
from rasterio.windows import Window

from .bands import BandStack, assemble, open_reader, open_validity
from .checkpoint import load_model
from .cog import cog_writer
from .device import select_device
from .legend import NODATA, legend
from .pipeline import overlapped
from .registry import ModelSpec, get_model
from .windows import Tile, Tiling, TilingChoice, plan

#: ``progress(done_windows, total_windows)``, called from the writer thread after each batch is written.
Progress = Callable[[int, int], None]


class SegmentOptions(TypedDict, total=False):
    """The keyword options of ``segment``, which ``segment_files`` passes on."""

    tiling: Tiling | TilingChoice | None
    device: str
    output: str
    probabilities: Path | None
    confidence: Path | None
    progress: Progress | None


@dataclass(frozen=True)
class SegmentationResult:
    """What a run produced and how."""

    path: Path
    probabilities: Path | None
    windows: int
    device: str
    seconds: float
    #: Pixels without data in some input (GDAL's mask band): value ``NODATA`` in the output, tag OCSGE_NODATA_PIXELS.
    nodata_pixels: int = 0


@dataclass(frozen=True)
class Batch:
    """Windows read together, and for each the pixels of its core that have data (None: all of them)."""

    tiles: list[Tile]
    valid: list[np.ndarray | None]


def segment(
    stack: BandStack,
    model: torch.nn.Module,
    spec: ModelSpec,
    out: Path,
    *,
    tiling: Tiling | TilingChoice | None = None,
    device: str = "auto",
    output: str = "cs",
    probabilities: Path | None = None,
    confidence: Path | None = None,
    progress: Progress | None = None,
    region: Window | None = None,
) -> SegmentationResult:
    """Classify every pixel of ``stack`` with ``model`` (moved to the device) into the COG ``out``.

    ``tiling`` (or what a ``TilingChoice`` leaves unset) defaults to ``windows.default_tiling``: IGN's 128 px
    margins around larger windows. A pixel without data in any input (GDAL's mask band) gets ``NODATA``, whatever
    the model says, and is counted. ``region`` (a block of ``blocks.plan_blocks``) limits the output to those pixels
    of the stack, read with their context from around it; ``out`` is then on the region's grid. ``output`` picks
    the legend (``legend.OUTPUTS``). ``probabilities``, when given, is a second COG with one uint8 band per class
    that the model may predict (softmax × 255), in class order. ``confidence``, when given, is a one-band COG of
    the top class probability (× 255; nodata 0 where the input has none: the top of a softmax over n ≤ 255
    classes is at least 1/n, so no classified pixel rounds to 0); two campaigns' changes are weighed with it.
    ``progress`` reaches the total before the final COG copy.
    """
    started = time.perf_counter()
    target = select_device(device)
    if not isinstance(tiling, Tiling):
        tiling = (tiling or TilingChoice()).resolve(stack.width, stack.height, target.type)
    key = legend(spec, output)
    predictor = Predictor(
        model, spec, key.lut, target, with_probabilities=probabilities is not None, with_top=confidence is not None
    )
    tiles = plan(stack.width, stack.height, tiling, region)
    grid, origin = _output_grid(stack, region)
    batches = [tiles[start : start + tiling.batch_size] for start in range(0, len(tiles), tiling.batch_size)]
    done = nodata = 0
    if progress:
        progress(0, len(tiles))

    def read() -> Iterator[tuple[Batch, torch.Tensor]]:
        with open_reader(stack) as read_window, open_validity(stack) as valid_core:
            for tiles_of_batch in batches:
                pixels = torch.from_numpy(np.stack([read_window(tile.read) for tile in tiles_of_batch]))
                batch = Batch(tiles_of_batch, [valid_core(tile.core) for tile in tiles_of_batch])
                yield batch, pixels.pin_memory() if target.type == "cuda" else pixels

    with (
        cog_writer(out, grid, 1, nodata=NODATA, colormap=key.colors, tags=key.tags(spec.name)) as classes,
        _optional_writer(probabilities, grid, spec, predictor.active) as scores,
        _optional_confidence(confidence, grid, spec) as sure,
    ):

        def write(result: tuple[Batch, Prediction]) -> None:
            nonlocal done, nodata
            batch, prediction = result
            values, probs = prediction.host()
            top = prediction.top_host()
            for index, tile in enumerate(batch.tiles):
                core = values[index][tile.crop]
                valid = batch.valid[index]
                if valid is not None:
                    core = np.where(valid, core, NODATA)
                    nodata += int(valid.size - np.count_nonzero(valid))
                target = Window(
                    tile.core.col_off - origin[0], tile.core.row_off - origin[1], tile.core.width, tile.core.height
                )
                classes.write(core, 1, window=target)
                if scores is not None and probs is not None:  # both or neither: probabilities were asked for
                    part = probs[index][(slice(None), *tile.crop)]
                    scores.write(part if valid is None else np.where(valid, part, 0), window=target)
                if sure is not None and top is not None:
                    best = top[index][tile.crop]
                    sure.write(best if valid is None else np.where(valid, best, 0), 1, window=target)
            done += len(batch.tiles)
            if progress:
                progress(done, len(tiles))

        overlapped(read(), lambda item: (item[0], predictor(item[1])), write)
        classes.update_tags(OCSGE_NODATA_PIXELS=str(nodata))
    return SegmentationResult(
        Path(out),
        Path(probabilities) if probabilities else None,
        len(tiles),
        target.type,
        time.perf_counter() - started,
        nodata,
    )


def segment_files(
    image: Path,
    out: Path,
    *,
    model: str | ModelSpec,
    checkpoint: Path | None = None,
    irc: Path | None = None,
    elevation: Path | None = None,
    **options: Unpack[SegmentOptions],
) -> SegmentationResult:
    """``segment`` from files: the registry model ``model`` (or its spec), its weights, the bands it reads."""
    spec = get_model(model) if isinstance(model, str) else model
    network = load_model(spec, checkpoint)
    return segment(assemble(image, spec.bands, irc=irc, elevation=elevation), network, spec, out, **options)


@dataclass(frozen=True)
class Prediction:
    """A batch's output values (and probabilities) on their way to the host; ``host`` waits for the copy."""

    values: torch.Tensor
    probabilities: torch.Tensor | None
    copied: torch.cuda.Event | None
    #: The top class probability × 255 (uint8), when asked for.
    top: torch.Tensor | None = None

    def host(self) -> tuple[np.ndarray, np.ndarray | None]:
        if self.copied is not None:
            self.copied.synchronize()
        return self.values.numpy(), None if self.probabilities is None else self.probabilities.numpy()

    def top_host(self) -> np.ndarray | None:
        """The top probabilities on the host (after ``host``, which waited for the copy)."""
        return None if self.top is None else self.top.numpy()


class Predictor:
    """A model on a device with its normalisation, class mask and output lookup table: uint8 batch in, values out."""

    def __init__(
        self,
        model: torch.nn.Module,
        spec: ModelSpec,
        lut: np.ndarray,
        device: torch.device,
        with_probabilities: bool = False,
        with_top: bool = False,
    ) -> None:
        self.device = device
        self.cuda = device.type == "cuda"
        #: Autocast precision: bf16 on CUDA, None (fp32) on the CPU.
        self.dtype = torch.bfloat16 if self.cuda else None
        # channels_last pays on both: tensor cores on CUDA, ~10-20 % faster convolutions on the CPU (measured).
        self.model = model.eval().to(device)
        self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]  # documented; not in the stubs
        if self.cuda:
            torch.backends.cudnn.benchmark = True
        shape = (1, len(spec.bands), 1, 1)
        self.mean = torch.tensor(spec.mean, dtype=torch.float32, device=device).view(shape)
        self.std = torch.tensor(spec.std, dtype=torch.float32, device=device).view(shape)
        mask = torch.zeros(len(spec.classes), dtype=torch.float32)
        mask[spec.masked_channels] = float("-inf")
        self.mask = mask.view(1, -1, 1, 1).to(device)
        self.lut = torch.from_numpy(lut).to(device)
        #: Channels of the classes the model may predict (the probability bands).
        self.active = [index for index in range(len(spec.classes)) if index not in spec.masked_channels]
        self.with_probabilities = with_probabilities
        self.with_top = with_top

    @torch.inference_mode()
    def __call__(self, pixels: torch.Tensor) -> Prediction:
        """``pixels``: uint8 (batch, bands, rows, cols) on the host."""
        x = pixels.to(self.device, non_blocking=True).contiguous(memory_format=torch.channels_last)
        x = (x.float() - self.mean) / self.std
        with torch.autocast(self.device.type, dtype=self.dtype or torch.bfloat16, enabled=self.dtype is not None):
            logits = self.model(x)
        logits = logits.float().add_(self.mask)
        values = self.lut[logits.argmax(dim=1)]
        probs = top = None
        if self.with_probabilities or self.with_top:
            soft = torch.softmax(logits[:, self.active], dim=1)
            top = soft.amax(dim=1).mul_(255).round_().to(torch.uint8) if self.with_top else None
            probs = soft.mul_(255).round_().to(torch.uint8) if self.with_probabilities else None
        if not self.cuda:
            return Prediction(values, probs, None, top)
        values = values.to("cpu", non_blocking=True)
        probs = None if probs is None else probs.to("cpu", non_blocking=True)
        top = None if top is None else top.to("cpu", non_blocking=True)
        copied = torch.cuda.Event()  # type: ignore[no-untyped-call]  # torch.cuda.Event.__init__ is not annotated
        copied.record()
        return Prediction(values, probs, copied, top)


def _output_grid(stack: BandStack, region: Window | None) -> tuple[BandStack, tuple[int, int]]:
    """The grid the output is written on (the stack's, or the region's), and its corner in the stack's pixels."""
    if region is None:
        return stack, (0, 0)
    col, row = int(region.col_off), int(region.row_off)
    corner = stack.transform @ Affine.translation(col, row)
    grid = dataclasses.replace(stack, width=int(region.width), height=int(region.height), transform=corner)
    return grid, (col, row)


def _optional_writer(
    path: Path | None, stack: BandStack, spec: ModelSpec, active: list[int]
) -> contextlib.AbstractContextManager[DatasetWriter | None]:
    if path is None:
        return contextlib.nullcontext()
    names = [spec.classes[index].name for index in active]
    return cog_writer(
        path, stack, len(names), tags={"OCSGE_MODEL": spec.name, "OCSGE_OUTPUT": "probabilities"}, descriptions=names
    )


def _optional_confidence(
    path: Path | None, stack: BandStack, spec: ModelSpec
) -> contextlib.AbstractContextManager[DatasetWriter | None]:
    if path is None:
        return contextlib.nullcontext()
    return cog_writer(
        path, stack, 1, nodata=0, tags={"OCSGE_MODEL": spec.name, "OCSGE_OUTPUT": "confidence"}, descriptions=["top"]
    )
