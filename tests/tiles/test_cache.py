"""Issue 16 item 2: the tile cache in the store stays consistent with the data (a re-ingested slice marks its tiles
stale at once and a rebuild shows the change at every cached zoom), its build resumes, ETags change iff a tile's
bytes do, and a live server serves cached zooms from it."""

from __future__ import annotations

import itertools
import re
from pathlib import Path

import numpy as np
import pyproj
import pytest
import requests
import shapely

from deploy.services import web_server
from ocsge_processes.stores import FeatureStore, open_store
from ocsge_processes.stores.tilecache import etag_of
from ocsge_processes.tiles.generalise import METHOD
from ocsge_processes.tiles.matrix import BUFFER, EXTENT, tile_bounds, tile_span
from ocsge_processes.tiles.pyramid import DEEPEST_GENERALISED, build_pyramid, cached_tile, refresh_pyramid
from ocsge_processes.tiles.source import store_tile

from ..conftest import BIN, ocsge
from .cached import (
    AREA_TOLERANCE,
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

#: A code absent from the generated data, given to a whole class of one millésime by the re-ingest.
NEW_CODE = "CS2.2.2"


TO_MERCATOR = pyproj.Transformer.from_crs(EPSG, 3857, always_xy=True)


_DATABASES = itertools.count()


class Interrupted(Exception):
    pass


@pytest.fixture(params=store_kinds())
def built(request: pytest.FixtureRequest, demo_deliveries: list[Path], tmp_path: Path) -> str:
    postgis = request.getfixturevalue("postgis_url") if request.param == "postgis" else None
    # a database per test: the previous one's connection pool stays open for the process (open_store caches it)
    return make_store(request.param, f"ocsge_cache_{next(_DATABASES)}", demo_deliveries, tmp_path, postgis)


def snapshot(url: str) -> dict[tuple[int, int, int], tuple[str, bytes]]:
    """The ETag and bytes of every cached tile over the data ("" and b"" where none is fresh)."""
    store = open_store(url)
    tiles = {}
    for z in range(ZOOMS[0], ZOOMS[1] + 1):
        for x, y in tiles_over_data(store, z):
            tile = cached_tile(store, LAYER, EPSG, z, x, y)
            tiles[(z, x, y)] = (tile.etag, tile.data) if tile else ("", b"")
    return tiles


def snapshot_tile(store: FeatureStore, z: int, x: int, y: int) -> bytes:
    tile = cached_tile(store, LAYER, EPSG, z, x, y)
    return tile.data if tile else b""


def drawn_bounds(z: int, x: int, y: int) -> tuple[float, float, float, float]:
    """What a cached tile draws (EPSG:3857): a generalised tile its own square, an exact one its buffer too."""
    minx, miny, maxx, maxy = tile_bounds(z, x, y)
    margin = 0.0 if z <= DEEPEST_GENERALISED else BUFFER / EXTENT * tile_span(z)
    return minx - margin, miny - margin, maxx + margin, maxy + margin


def test_reingest_marks_stale_then_rebuild_shows_the_change_at_every_zoom(built: str) -> None:
    store = open_store(built)
    before = snapshot(built)
    assert all(etag for etag, _ in before.values())
    # what `ocsge ingest` does with a delivery: replace the slice (département 33, 2024) with its new rows
    frame = store.read_frame(LAYER, EPSG, equals={"departement": "33", "millesime": 2024})
    changed = frame["code_cs"] == frame["code_cs"].value_counts().index[0]
    frame.loc[changed, "code_cs"] = NEW_CODE
    store.replace_slice(LAYER, EPSG, frame, {"departement": "33", "millesime": 2024})
    relabelled = shapely.transform(
        frame.geometry.values[changed.to_numpy()], lambda c: np.column_stack(TO_MERCATOR.transform(c[:, 0], c[:, 1]))
    )
    touched = {zxy for zxy in before if shapely.intersects(relabelled, shapely.box(*drawn_bounds(*zxy))).any()}
    assert {z for z, _, _ in touched} == set(range(ZOOMS[0], ZOOMS[1] + 1))
    # at once, in the same transaction: no tile over the changed rows is served from the cache any more
    assert all(cached_tile(store, LAYER, EPSG, *zxy) is None for zxy in touched)

    report = refresh_pyramid(store, LAYER, EPSG)
    assert report is not None and report.built >= len(touched) and report.built + report.kept == len(before)
    after = snapshot(built)
    full = FullResolution(built)
    for (z, x, y), (etag, data) in after.items():
        assert etag == etag_of(data)
        got = cached_areas(data, z, ("code_cs", "millesime")).get((NEW_CODE, 2024), 0.0)
        new = full.areas(z, x, y, ("code_cs", "millesime")).get((NEW_CODE, 2024), 0.0)
        if new >= FLOOR * tile_span(z) ** 2:
            assert abs(got - new) <= AREA_TOLERANCE * new, (z, x, y, got, new)
        # the relabelled class shows at every zoom where it holds at least four tile units
        if new >= 4 * (tile_span(z) / EXTENT) ** 2:
            assert got > 0, f"tile {z}/{x}/{y}: {NEW_CODE} not drawn"
        # a tile's ETag changes iff its source changed: untouched tiles (rebuilt or not) keep their bytes and ETag
        if (z, x, y) not in touched:
            assert (etag, data) == before[(z, x, y)], f"tile {z}/{x}/{y} changed with no change under it"
        elif got > 0:
            assert etag != before[(z, x, y)][0]
    assert len(touched) < len(after)


def test_build_resumes_where_it_was_interrupted(built: str, tmp_path: Path) -> None:
    store = open_store(built)
    whole = snapshot(built)
    # start over: another zoom range empties the cache, then the build is cut after 40 tiles
    build_pyramid(store, LAYER, EPSG, (0, 12))

    def cut(done: int, total: int) -> None:
        if done >= 40:
            raise Interrupted

    with pytest.raises(Interrupted):
        build_pyramid(store, LAYER, EPSG, ZOOMS, cut)
    resumed = build_pyramid(store, LAYER, EPSG, ZOOMS)
    assert resumed.kept >= 40 and resumed.built + resumed.kept == len(whole)
    assert snapshot(built) == whole  # the same bytes as an uninterrupted build
    again = build_pyramid(store, LAYER, EPSG, ZOOMS)
    assert again.built == 0 and again.kept == len(whole)


def test_a_cache_made_by_another_generalisation_is_built_again(built: str) -> None:
    """Fresh tiles stay fresh until their data changes: a new generalisation method must empty the cache itself."""
    store = open_store(built)
    whole = snapshot(built)
    store.set_mark("tiles-method", f"{LAYER.collection_id}:{EPSG}", "an older method")
    rebuilt = build_pyramid(store, LAYER, EPSG, ZOOMS)
    assert rebuilt.kept == 0 and rebuilt.built == len(whole)
    assert store.marks("tiles-method")[f"{LAYER.collection_id}:{EPSG}"] == METHOD
    assert build_pyramid(store, LAYER, EPSG, ZOOMS).built == 0


def test_live_server_serves_cached_zooms_from_the_store(built: str, tmp_path: Path) -> None:
    store = open_store(built)
    z = 11
    x, y = max(tiles_over_data(store, z), key=lambda xy: len(snapshot_tile(store, z, *xy)))
    cached = cached_tile(store, LAYER, EPSG, z, x, y)
    filtered = cached_tile(store, LAYER, EPSG, z, x, y, {"millesime": 2021})
    assert cached is not None and filtered is not None
    with web_server(built, tmp_path / "server", BIN) as url:
        base = f"{url}/collections/{LAYER.collection_id}/tiles/WebMercatorQuad"
        response = requests.get(f"{base}/{z}/{y}/{x}?f=mvt", timeout=30)
        assert response.status_code == 200, response.text
        assert response.content == cached.data and response.headers["ETag"] == cached.etag
        assert response.headers["Server-Timing"].startswith("cache;")
        again = requests.get(f"{base}/{z}/{y}/{x}?f=mvt", headers={"If-None-Match": cached.etag}, timeout=30)
        assert again.status_code == 304 and again.headers["ETag"] == cached.etag
        response = requests.get(f"{base}/{z}/{y}/{x}?f=mvt&millesime=2021", timeout=30)
        assert response.content == filtered.data and response.headers["ETag"] == filtered.etag
        # an exact zoom's tile (the middle of the zoom-11 tile) comes from the cache, as the live build makes it
        deep = ZOOMS[1]
        dx, dy = (x << (deep - z)) + (1 << (deep - z - 1)), (y << (deep - z)) + (1 << (deep - z - 1))
        for query, equals in (("", {}), ("&millesime=2024", {"millesime": 2024})):
            response = requests.get(f"{base}/{deep}/{dy}/{dx}?f=mvt{query}", timeout=30)
            assert response.status_code == 200 and response.headers["Server-Timing"].startswith("cache;")
            assert response.content == store_tile(store, LAYER, EPSG, deep, dx, dy, equals)
        exact = response.content
        # the exact zooms dropped from the cache: the generalised tiles are kept, the dropped zooms are built live
        assert build_pyramid(store, LAYER, EPSG, (ZOOMS[0], DEEPEST_GENERALISED)).built == 0
        assert cached_tile(store, LAYER, EPSG, z, x, y) == cached
        response = requests.get(f"{base}/{deep}/{dy}/{dx}?f=mvt&millesime=2024", timeout=30)
        timing = response.headers["Server-Timing"]
        assert "build;" in timing and "cache;" not in timing
        assert response.content == exact


def test_exact_zooms_added_to_a_cache_keep_its_generalised_tiles(built: str) -> None:
    store = open_store(built)
    whole = snapshot(built)
    generalised = {zxy: tile for zxy, tile in whole.items() if zxy[0] <= DEEPEST_GENERALISED}
    build_pyramid(store, LAYER, EPSG, (ZOOMS[0], DEEPEST_GENERALISED))
    assert all(cached_tile(store, LAYER, EPSG, *zxy) is None for zxy in whole if zxy[0] > DEEPEST_GENERALISED)
    added = build_pyramid(store, LAYER, EPSG, ZOOMS)
    assert added.kept == len(generalised) and added.built == len(whole) - len(generalised)
    assert snapshot(built) == whole


def test_ingest_rebuilds_what_it_replaced_and_same_data_keeps_etags(built: str, demo_deliveries: list[Path]) -> None:
    before = snapshot(built)
    result = ocsge("ingest", "--store", built, *map(str, demo_deliveries))
    rebuilt = re.search(rf"{LAYER.collection_id}: (\d+) cached tiles rebuilt", result.stdout)
    assert rebuilt and int(rebuilt[1]) > 0, result.stdout
    # the same delivery again: every tile was marked stale, rebuilt to the same bytes, so it keeps its ETag
    assert snapshot(built) == before
