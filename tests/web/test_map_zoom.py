"""The /map page zooms in from the whole département at zoom 6 to zoom 16, one zoom at a time: each zoom is drawn
(MapLibre's `idle` with its tiles loaded and polygons painted), tiles cold (a fresh browser context and server, tiles of
the view never asked before at that zoom). The time of each step is written to build/test-artifacts for the record but
not asserted: a wall-clock target on a shared 2-core machine belongs in a benchmark, not in a test that load can fail.

The server is the one deployed after `ocsge tiles build` (its zoomed-out tiles in the store's tile cache, the zooms
above live), on its own copy of the test store so that the other tests keep a store without cache."""

from __future__ import annotations

import contextlib
import json
import sqlite3
import urllib.request
from collections.abc import Iterator

import pytest

from deploy.services import web_server

from ..conftest import BIN, ROOT, SHARED, ocsge
from .test_map import open_map

pytestmark = pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)

#: Zooms from the whole département to the street, one step each (the issue's 6 to 16).
ZOOMS = range(6, 17)
#: Arcachon / Le Teich: inside the generated couverture of the test store, so every zoom draws polygons.
CENTER = [-1.16, 44.65]
TIMES = ROOT / "build" / "test-artifacts" / "map-zoom-times.json"

#: One zoom step: jump (no animation, so the wait is the tiles' and rendering's only), time until `idle`.
ZOOM_TO_IDLE = """async ([zoom, center]) => {
  const map = window.ocsgeMap;
  const start = performance.now();
  const idle = new Promise((resolve) => map.once("idle", resolve));
  map.jumpTo({ zoom, center });
  await idle;
  return { ms: performance.now() - start, loaded: map.areTilesLoaded(),
           drawn: map.queryRenderedFeatures({ layers: ["ocs-fill"] }).length };
}"""


@pytest.fixture(scope="module")
def cached_server(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A live server on a copy of the GeoPackage test store whose couverture tiles `ocsge tiles build` cached."""
    folder = tmp_path_factory.mktemp("cached")
    store = folder / "ocsge.gpkg"
    with contextlib.closing(sqlite3.connect(store_url)) as source, contextlib.closing(sqlite3.connect(store)) as copy:
        source.backup(copy)  # the pages still in the write-ahead log included
    ocsge("tiles", "build", "--store", str(store), "--collection", "ocsge-occupation-sol")
    with web_server(str(store), folder, BIN, OCSGE_DATA_DIR=str(SHARED), OCSGE_TRUSTED_HOSTS="localhost") as url:
        yield url


@pytest.mark.slow  # a tile cache built, then eleven zooms of cold tiles in Chromium
def test_each_zoom_from_6_to_16_is_drawn(page, cached_server: str) -> None:
    open_map(page, cached_server)
    with urllib.request.urlopen(f"{cached_server}/collections/ocsge-occupation-sol?f=json", timeout=30) as answer:
        west, south, east, north = json.load(answer)["extent"]["spatial"]["bbox"][0]
    view = page.evaluate("() => window.ocsgeMap.getBounds().toArray().flat()")
    assert view[0] <= west and view[1] <= south and view[2] >= east and view[3] >= north, "not the whole extent"
    # The tile responses of each step (MapLibre fetches them in its worker, which Playwright sees too): the slowest
    # one tells the server's share of a step's time from the browser's.
    tiles: list[float] = []
    page.on("requestfinished", lambda r: "/tiles/" in r.url and tiles.append(r.timing["responseEnd"]))
    steps = {}
    for zoom in ZOOMS:
        tiles.clear()
        step = page.evaluate(ZOOM_TO_IDLE, [zoom, CENTER])
        assert step["loaded"], f"zoom {zoom}: idle before the tiles were loaded"
        assert step["drawn"] > 0, f"zoom {zoom}: no polygon drawn at {CENTER}"
        steps[zoom] = {"ms": round(step["ms"]), "tiles": len(tiles), "slowest_tile_ms": round(max(tiles, default=0))}
    TIMES.parent.mkdir(parents=True, exist_ok=True)
    TIMES.write_text(json.dumps(steps, indent=1) + "\n", encoding="utf-8")
