"""Times the server's tile route function on a list of tiles, with whichever ``ocsge_processes`` comes first on
the path (bench/tile_live.py puts a baseline commit's tree there through PYTHONPATH). Not run by hand.

``python bench/tile_live_worker.py GPKG TILES_JSON``: prints JSON, the package timed and per tile (z, x, y) the wall
and CPU seconds of one ``serve_tile`` call (the tile cache lookup, the feature count, the build; no WSGI) and the
sha256 of the body. The CPU time is this process's: run it with OCSGE_TILE_EXPENSIVE high, so that no tile is built
in the pool's child process, where this process's clock would not see it.
"""

from __future__ import annotations

import hashlib
import json
import sys
import time

import ocsge_processes
from ocsge_processes.server.tilepool import TilePool, TilePoolSettings
from ocsge_processes.server.tiles import OcsgeTileProvider, serve_tile

MVT = {"name": "mvt", "mimetype": "application/vnd.mapbox-vector-tile"}


def main() -> None:
    gpkg, tiles_json = sys.argv[1:3]
    with open(tiles_json, encoding="utf-8") as listing:
        tiles = json.load(listing)
    provider = OcsgeTileProvider(
        {
            "type": "tile",
            "name": "ocsge_processes.server.tiles.OcsgeTileProvider",
            "data": gpkg,
            "collection": "ocsge-occupation-sol",
            "epsg": 2154,
            "options": {"zoom": {"min": 0, "max": 16}, "schemes": ["WebMercatorQuad"]},
            "format": MVT,
        }
    )
    pool = TilePool(TilePoolSettings.from_env())
    zooms = sorted({z for z, _, _ in tiles})
    for z in zooms:  # warm-up: imports, the SQLite page cache, the builder process of expensive tiles
        _, x, y = next(t for t in tiles if t[0] == z)
        serve_tile(provider, "WebMercatorQuad", str(z), str(y), str(x), {}, None, pool)
    out = []
    for z, x, y in tiles:
        start, cpu = time.perf_counter(), time.process_time()
        response = serve_tile(provider, "WebMercatorQuad", str(z), str(y), str(x), {}, None, pool)
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
        assert response.status_code in (200, 204), response.get_data()
        out.append([z, x, y, seconds, cpu, hashlib.sha256(response.get_data()).hexdigest()])
    print(json.dumps({"package": ocsge_processes.__file__, "tiles": out}))


if __name__ == "__main__":
    main()
