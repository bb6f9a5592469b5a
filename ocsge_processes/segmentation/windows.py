"""The sliding-window plan: square model windows whose centres (the window less a margin) tile the raster.

Each pixel is predicted by the one window whose centre holds it, so a pixel always sees at least ``margin`` pixels
of context on every side, and no blending is needed. Every window starts one stride after the previous one, the last
of a row or column included: past the raster's edge the reader pads (``bands.open_reader``). Pulling the last window
back inside the raster would move it off the network's 32 px grid (the encoder downsamples 5 times), and the same
pixel would then get another class than in a larger raster; on the grid, a pixel's class depends only on the pixels
around it, which is also what lets a mosaic be cut into blocks (``blocks``) with the same result.

The defaults live here, and only here: the command line, the process and the docs read them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from rasterio.windows import Window

from ..errors import InvalidInputError

#: U-Net-ResNet34 downsamples 5 times: window sides must be multiples of 2⁵.
WINDOW_MULTIPLE = 32
#: Default window side: with IGN's 128 px margins, a 512 px window spends 75 % of its compute on margins that are
#: cropped, a 1 024 px window 44 % (bench/segmentation.py: about 1.7-2× faster on the CPU for the same context).
DEFAULT_WINDOW = 1024
#: IGN's margin (FLAIR's inference cuts 128 px off each side of its 512 px patches).
DEFAULT_MARGIN = 128
#: Windows per batch by device type: batches feed a GPU; on a CPU they only add memory.
DEFAULT_BATCH = {"cuda": 8, "cpu": 1}


@dataclass(frozen=True)
class Tiling:
    """Window side, margin cropped on each side, and windows per batch."""

    window: int = DEFAULT_WINDOW
    margin: int = DEFAULT_MARGIN
    batch_size: int = 1

    def __post_init__(self) -> None:
        if self.window <= 0 or self.window % WINDOW_MULTIPLE:
            raise InvalidInputError(f"window must be a positive multiple of {WINDOW_MULTIPLE} px; got {self.window}")
        if self.margin < 0 or 2 * self.margin >= self.window:
            raise InvalidInputError(
                f"margin must be at least 0 and less than half the window ({self.window} px); got {self.margin}"
            )
        if self.margin % (WINDOW_MULTIPLE // 2):
            # Windows start a stride apart: the stride (window - 2 × margin) must keep them on the 32 px grid.
            raise InvalidInputError(
                f"margin must be a multiple of {WINDOW_MULTIPLE // 2} px, so that windows a stride apart stay on "
                f"the network's {WINDOW_MULTIPLE} px grid; got {self.margin}"
            )
        if self.batch_size < 1:
            raise InvalidInputError(f"batch_size must be at least 1; got {self.batch_size}")

    @property
    def stride(self) -> int:
        """Side of a window's centre, the part written."""
        return self.window - 2 * self.margin


@dataclass(frozen=True)
class Tile:
    """A window read around a part written: ``read`` may reach outside the raster (padded), ``core`` never does."""

    read: Window
    core: Window

    @property
    def crop(self) -> tuple[slice, slice]:
        """Rows and columns of ``core`` inside the window read."""
        top, left = self.core.row_off - self.read.row_off, self.core.col_off - self.read.col_off
        return slice(top, top + self.core.height), slice(left, left + self.core.width)


def default_tiling(width: int, height: int, device: str = "cpu", margin: int = DEFAULT_MARGIN) -> Tiling:
    """1 024 px windows, or the smallest multiple of 32 px that holds a smaller raster with its margins, and the
    batch of ``device`` (a torch device type)."""
    needed = max(width, height) + 2 * margin
    window = min(DEFAULT_WINDOW, -(-needed // WINDOW_MULTIPLE) * WINDOW_MULTIPLE)
    batch = DEFAULT_BATCH.get(device, 1)
    return Tiling(window=max(window, 2 * margin + WINDOW_MULTIPLE), margin=margin, batch_size=batch)


@dataclass(frozen=True)
class TilingChoice:
    """What a user set of the tiling (None: the default), resolved once the raster and the device are known."""

    window: int | None = None
    margin: int | None = None
    batch_size: int | None = None

    def resolve(self, width: int, height: int, device: str) -> Tiling:
        base = default_tiling(width, height, device, DEFAULT_MARGIN if self.margin is None else self.margin)
        return Tiling(self.window or base.window, base.margin, self.batch_size or base.batch_size)


def plan(width: int, height: int, tiling: Tiling, region: Window | None = None) -> list[Tile]:
    """The tiles whose cores partition ``region`` (default: the whole ``width`` × ``height`` raster), row by row.

    Cores start at multiples of the stride from the region's corner; a region whose corner is itself on multiples
    of the stride (a block of ``blocks.plan_blocks``) gets exactly the windows of the whole raster's plan.
    """
    region = region or Window(0, 0, width, height)
    col_off, row_off = int(region.col_off), int(region.row_off)
    return [
        Tile(
            Window(col_off + col.read, row_off + row.read, tiling.window, tiling.window),
            Window(col_off + col.start, row_off + row.start, col.size, row.size),
        )
        for row in _axis(int(region.height), tiling)
        for col in _axis(int(region.width), tiling)
    ]


def count(width: int, height: int, tiling: Tiling) -> int:
    """Number of tiles ``plan`` gives, without building them."""
    return math.ceil(width / tiling.stride) * math.ceil(height / tiling.stride)


@dataclass(frozen=True)
class _Span:
    start: int
    size: int
    read: int


def _axis(length: int, tiling: Tiling) -> list[_Span]:
    return [
        _Span(start, min(tiling.stride, length - start), start - tiling.margin)
        for start in range(0, length, tiling.stride)
    ]
