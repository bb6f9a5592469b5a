"""Issue 16 item 1: zoomed-out tiles are a generalisation that stays true (per-class area) and small (size budget),
at every cached zoom, on generated data in both stores; and the generalisation itself on a known partition."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import shapely

from ocsge_processes.stores import open_store
from ocsge_processes.tiles.generalise import generalise
from ocsge_processes.tiles.matrix import tile_bounds, tile_span
from ocsge_processes.tiles.pyramid import cached_tile

from .cached import (
    AREA_TOLERANCE,
    BUDGET,
    EPSG,
    FLOOR,
    LAYER,
    ZOOMS,
    FullResolution,
    cached_areas,
    make_store,
    store_kinds,
    tiles_over_data,
)

#: The demo's three communes (~60 km²) hold classes of 1 % of a tile from this zoom on; below, none can be judged.
FIRST_JUDGED = 9


@pytest.fixture(scope="module", params=store_kinds())
def built(request: pytest.FixtureRequest, demo_deliveries: list[Path], tmp_path_factory: pytest.TempPathFactory) -> str:
    postgis = request.getfixturevalue("postgis_url") if request.param == "postgis" else None
    return make_store(request.param, "ocsge_generalise", demo_deliveries, tmp_path_factory.mktemp("gen"), postgis)


@pytest.mark.parametrize("fields", [("code_cs", "millesime"), ("code_us", "millesime")], ids=["cs", "us"])
def test_every_cached_zoom_keeps_class_areas_within_budget(built: str, fields: tuple[str, ...]) -> None:
    store = open_store(built)
    full = FullResolution(built)
    checked: dict[int, int] = {}
    for z in range(ZOOMS[0], ZOOMS[1] + 1):
        checked[z] = 0
        for x, y in tiles_over_data(store, z):
            tile = cached_tile(store, LAYER, EPSG, z, x, y)
            assert tile is not None, f"tile {z}/{x}/{y} over the data was not built"
            assert len(tile.data) <= BUDGET, f"tile {z}/{x}/{y}: {len(tile.data)} bytes"
            got = cached_areas(tile.data, z, fields)
            for key, area in full.areas(z, x, y, fields).items():
                if area < FLOOR * tile_span(z) ** 2:
                    continue
                checked[z] += 1
                assert abs(got[key] - area) <= AREA_TOLERANCE * area, (z, x, y, key, got[key], area)
    assert all(checked[z] > 0 for z in range(FIRST_JUDGED, ZOOMS[1] + 1)), checked


def test_filtered_tiles_are_the_millesime_subset(built: str) -> None:
    store = open_store(built)
    z = 9
    for x, y in tiles_over_data(store, z):
        whole = cached_tile(store, LAYER, EPSG, z, x, y)
        assert whole is not None
        by_year = {year: cached_tile(store, LAYER, EPSG, z, x, y, {"millesime": str(year)}) for year in (2021, 2024)}
        everything = cached_areas(whole.data, z, ("code_cs", "millesime"))
        for year, tile in by_year.items():
            if not any(key[1] == year for key in everything):
                continue
            assert tile is not None, f"no cached {year} tile at {z}/{x}/{y}"
            subset = cached_areas(tile.data, z, ("code_cs", "millesime"))
            assert subset and {key[1] for key in subset} == {year}
            assert subset == pytest.approx({k: v for k, v in everything.items() if k[1] == year})


def test_generalise_aggregates_sub_pixel_patches_and_keeps_areas() -> None:
    """A checkerboard of 4 classes in 40 000 squares of 0.4 pixel at zoom 10: every patch is sub-pixel, so the tile
    holds a few features per class (not 10 000), and each class keeps its area."""
    z, x, y = 10, 509, 370
    minx, miny, _, _ = tile_bounds(z, x, y)
    side = tile_span(z) / 512 * 0.4
    n = 200
    i, j = np.meshgrid(np.arange(n), np.arange(n))
    x0, y0 = (minx + i.ravel() * side), (miny + j.ravel() * side)
    squares = shapely.box(x0, y0, x0 + side, y0 + side)
    classes = [("A",), ("B",), ("C",), ("D",)]
    keys = [classes[(a % 2) * 2 + (b % 2)] for a, b in zip(i.ravel(), j.ravel(), strict=True)]
    result = generalise(("code",), keys, squares, z, x, y)
    assert len(result.keys) <= 2 * len(classes)
    for key in classes:
        expected = sum(s.area for s, k in zip(squares, keys, strict=True) if k == key)
        got = sum(g.area for g, k in zip(result.geometries, result.keys, strict=True) if k == key)
        assert got == pytest.approx(expected, rel=1e-9)
    assert shapely.is_valid(result.geometries).all()
