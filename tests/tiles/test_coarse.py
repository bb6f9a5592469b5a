"""The coarse generalisation of the zoomed-out tiles (zooms up to generalise.LAST_COARSE_ZOOM): a whole pixel of
simplification for the wide patches, and thin ones aggregated before simplifying, so a tile gets smaller while each
class keeps its area (issue 16's size budget at zooms 7-9 of a full-scale département)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from ocsge_processes.tiles.decode import decode
from ocsge_processes.tiles.generalise import COARSE, LAST_COARSE_ZOOM, Level, generalise, level_of
from ocsge_processes.tiles.matrix import tile_bounds
from ocsge_processes.tiles.mvt import encode_layer
from ocsge_processes.tiles.pyramid import on_grid

from .cached import AREA_TOLERANCE


def partition(z: int, x: int, y: int) -> tuple[list[tuple[str]], np.ndarray]:
    """Cells of 100 m (those of the generated Gironde) over 24 km: a large patch A whose boundary steps from cell
    to cell, corridors C one cell wide every 30 cells, and B elsewhere."""
    minx, miny, _, _ = tile_bounds(z, x, y)
    n, side = 240, 100.0
    i, j = (a.ravel() for a in np.meshgrid(np.arange(n), np.arange(n)))
    x0, y0 = minx + 1000 + i * side, miny + 1000 + j * side
    cells = shapely.box(x0, y0, x0 + side, y0 + side)
    corridor = (i % 30 == 0) | (j % 30 == 0)
    inside = j < 0.8 * i + 25 * np.sin(i / 9)
    keys = [("C",) if c else ("A",) if a else ("B",) for c, a in zip(corridor, inside, strict=True)]
    return keys, cells


def areas(keys: list[tuple[object, ...]], geoms: np.ndarray) -> dict[tuple[object, ...], float]:
    out: dict[tuple[object, ...], float] = {}
    for key, area in zip(keys, shapely.area(geoms), strict=True):
        out[key] = out.get(key, 0.0) + float(area)
    return out


def test_coarse_levels_are_the_zoomed_out_ones() -> None:
    assert level_of(LAST_COARSE_ZOOM) == COARSE and level_of(LAST_COARSE_ZOOM + 1) == Level()
    assert COARSE.tolerance_pixels > Level().tolerance_pixels


@pytest.mark.parametrize("z", [7, 9])
def test_coarse_tile_is_smaller_and_keeps_class_areas(z: int) -> None:
    x, y = {7: (63, 46), 9: (255, 184)}[z]
    keys, cells = partition(z, x, y)
    expected = areas(keys, cells)
    bounds = tile_bounds(z, x, y)
    vertices: dict[str, int] = {}
    for name, level in (("fine", Level()), ("coarse", COARSE)):
        result = generalise(("code",), keys, cells, z, x, y, level)
        got = areas(result.keys, result.geometries)
        for key, area in expected.items():
            assert got[key] == pytest.approx(area, rel=AREA_TOLERANCE), (name, key)
        if level == COARSE:
            # the corridors (0.3-1.3 pixel wide) are aggregated with their whole area, not simplified away
            assert got[("C",)] == pytest.approx(expected[("C",)], rel=1e-9)
        assert shapely.is_valid(result.geometries).all()
        tile = encode_layer("l", on_grid(result.geometries, bounds), result.properties(), bounds, 0.0, 4096, 0)
        drawn = decode(tile)["l"].features
        vertices[name] = sum(shapely.get_num_coordinates(f.geometry) for f in drawn if f.properties["code"] == "A")
    # A's boundary steps every cell (0.3-1.3 pixel): the fine tolerance keeps each step, a pixel smooths most away
    # (the bulk of the densest real tiles: bench/tile_budget.py)
    assert vertices["coarse"] < vertices["fine"] / 2, vertices
