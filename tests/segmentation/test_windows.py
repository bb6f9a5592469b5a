"""The sliding-window plan: every pixel written exactly once, from a window that holds it with its margin."""

from __future__ import annotations

import numpy as np
import pytest

from ocsge_processes.errors import InvalidInputError
from ocsge_processes.segmentation import Tiling, plan
from ocsge_processes.segmentation.windows import count, default_tiling


@pytest.mark.parametrize(
    ("width", "height", "tiling"),
    [
        (300, 200, Tiling(128, 32)),
        (128, 128, Tiling(128, 32)),
        (1000, 65, Tiling(128, 32)),
        (50, 37, Tiling(128, 32)),
        (1, 1, Tiling(64, 16)),
        (2049, 1537, Tiling(512, 128)),
        (700, 300, Tiling(256, 0)),
    ],
)
def test_cores_cover_every_pixel_exactly_once(width: int, height: int, tiling: Tiling) -> None:
    written = np.zeros((height, width), np.int32)
    tiles = plan(width, height, tiling)
    assert len(tiles) == count(width, height, tiling)
    for tile in tiles:
        assert (tile.read.width, tile.read.height) == (tiling.window, tiling.window)
        rows, cols = tile.crop
        assert rows.start >= 0 and rows.stop <= tiling.window and cols.start >= 0 and cols.stop <= tiling.window
        assert (rows.stop - rows.start, cols.stop - cols.start) == (tile.core.height, tile.core.width)
        written[
            tile.core.row_off : tile.core.row_off + tile.core.height,
            tile.core.col_off : tile.core.col_off + tile.core.width,
        ] += 1
    assert (written == 1).all()


def test_a_pixel_sees_its_margin_and_windows_go_at_most_a_stride_past_the_raster() -> None:
    width, height, tiling = 300, 200, Tiling(128, 32)
    for tile in plan(width, height, tiling):
        rows, cols = tile.crop
        # Context before a core is the margin exactly; after it, the margin or more (a short last core).
        assert rows.start == tiling.margin and cols.start == tiling.margin
        assert tiling.window - rows.stop >= tiling.margin and tiling.window - cols.stop >= tiling.margin
        assert tile.read.row_off + tiling.window <= height + tiling.margin + tiling.stride
        assert tile.read.col_off + tiling.window <= width + tiling.margin + tiling.stride


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"window": 100}, "window must be a positive multiple of 32 px; got 100"),
        ({"window": 128, "margin": 64}, "margin must be at least 0 and less than half the window"),
        ({"batch_size": 0}, "batch_size must be at least 1"),
    ],
)
def test_bad_tilings_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        Tiling(**kwargs)


@pytest.mark.parametrize(("side", "window"), [(252, 512), (700, 960), (5000, 1024)])
def test_default_tiling_fits_small_rasters_and_caps_large_ones(side: int, window: int) -> None:
    tiling = default_tiling(side, side)
    assert (tiling.window, tiling.margin, tiling.batch_size) == (window, 128, 1)
    assert sum(t.core.width * t.core.height for t in plan(side, side, tiling)) == side * side
