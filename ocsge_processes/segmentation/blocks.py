"""A plan of blocks over a mosaic: the unit of work of a long run (one block, one task, one output file).

A block is a square of whole strides of the model's tiling, from the mosaic's corner: its windows are then exactly
those of the whole mosaic's plan (``windows.plan`` with a region), and it reads ``tiling.margin`` px of halo from its
neighbours' pixels, so a mosaic segmented block by block gets the classes of the mosaic segmented at once. Its side
is the largest such square whose class raster, with the halo, the vectoriser holds in memory.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

from rasterio.windows import Window

from ..errors import InvalidInputError
from .vectorise import MAX_PIXELS
from .windows import Tiling


@dataclass(frozen=True)
class Block:
    """Row and column of a block in the plan, and its pixels in the mosaic."""

    row: int
    col: int
    window: Window

    @property
    def id(self) -> str:
        return f"r{self.row:04d}c{self.col:04d}"

    @property
    def pixels(self) -> int:
        return int(self.window.width * self.window.height)


def block_side(tiling: Tiling, max_pixels: int = MAX_PIXELS) -> int:
    """Largest whole number of strides whose square, with ``tiling.margin`` of halo on each side, is at most
    ``max_pixels`` (the vectoriser's limit); one stride at least. 4 608 px (0.85 km² at 0.2 m) for the default."""
    strides = (math.isqrt(max_pixels) - 2 * tiling.margin) // tiling.stride
    return max(strides, 1) * tiling.stride


def plan_blocks(
    width: int, height: int, tiling: Tiling, side: int | None = None, keep: Callable[[Window], bool] | None = None
) -> list[Block]:
    """Blocks of ``side`` px (a multiple of the stride; default ``block_side``) covering the mosaic, row by row,
    those for which ``keep(window)`` is true (a territory, the dalles' coverage)."""
    side = side or block_side(tiling)
    if side <= 0 or side % tiling.stride:
        raise InvalidInputError(f"block side must be a positive multiple of the {tiling.stride} px stride; got {side}")
    blocks = [
        Block(row, col, Window(col * side, row * side, min(side, width - col * side), min(side, height - row * side)))
        for row in range(math.ceil(height / side))
        for col in range(math.ceil(width / side))
    ]
    return [block for block in blocks if keep is None or keep(block.window)]
