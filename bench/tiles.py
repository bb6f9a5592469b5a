"""Vector tiles benchmark: our OGC API – Tiles on each store against pygeoapi's stock MVT-postgresql provider.

One command: ``.venv/bin/python bench/tiles.py [--polygons N] [--duration S] [--connections C] [--tiles T]``.

1. Data: the generated Gironde of bench/features.py (``ocsge generate`` on the real communes, one millésime
   ingested into a GeoPackage and a fresh PostGIS, cached in bench/.cache per cell size).
2. Servers, each with the same number of gunicorn workers (ours with the settings of ``make serve``: threaded
   workers): ours on the GeoPackage (tiles encoded in Python from the R-tree
   query) and on PostGIS (ST_AsMVT), as ``ocsge config`` configures them; pygeoapi 0.24's ``MVT-postgresql``
   provider on the same PostGIS table (its own virtualenv, its own Flask app).
3. Cached zooms: ``ocsge tiles build`` (its default zooms, :data:`CACHED_ZOOMS`) on each of our stores (timed;
   the two builds run side by side, the GeoPackage's while PostGIS is loaded; a build resumes what an earlier run
   left in the cached GeoPackage), so zooms 0–14 are served from the store's generalised tiles and 15–16 from its
   exact ones. A zoom above the cached ones is live and measured cold: no tile of it is kept by our servers
   between requests (each request builds its tile from the polygons).
4. Tiles: at each zoom 0–16, the tiles under ``--tiles`` polygons drawn at random (seeded), so tiles are picked
   where the data is, as a map user pans; every server's tile is decoded, its features counted and its size kept.
5. Load: wrk rotating through one zoom's tiles per run; tiles/s, p50, p95, tile sizes, and per zoom our p95 against
   the issue's target (≤ 150 ms) and our tiles/s against stock's (≥ 10× where stock finishes tiles).
   Where a stock tile takes longer than a wrk run (zoomed out over 1.75 M polygons: minutes), wrk would finish
   none and leave queued tiles loading the next measurement: stock is then measured one tile at a time (at most
   ``--stock-tiles`` tiles, each given ``--stock-limit`` seconds, PostgreSQL's statement_timeout included) and its
   tiles/s is the upper bound of its workers building such tiles in parallel (workers / mean seconds per tile).

Results go to bench/results/tiles-<date>.md and .json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import os
import random
import re
import sqlite3
import statistics
import subprocess
import sys
import time
import urllib.error
import urllib.request
from contextlib import ExitStack
from dataclasses import asdict, dataclass
from pathlib import Path

import pyproj
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import say, write_results
from features import (
    CACHE,
    LAMBERT93,
    MILLESIME,
    PROJECT_BIN,
    ROOT,
    STOCK_REQUIREMENTS,
    STOCK_VENV,
    TABLE,
    Fleet,
    Load,
    Query,
    Server,
    ensure_apt,
    ensure_venv,
    fleet_on_postgis,
    load_arguments,
    machine,
    prepare_data,
    run,
    step,
    stock_config,
    wrk,
)

from deploy.services import config_command, in_venv
from ocsge_processes.tiles.decode import decode

COLLECTION = "ocsge-occupation-sol"
TARGET = 10.0
#: The issue's latency target at every zoom (ms).
P95_TARGET_MS = 150.0
#: Zooms served from the tile cache (``ocsge tiles build``'s default: 0-14 generalised, 15-16 exact); the ones
#: above are live.
CACHED_ZOOMS = "0-16"
MVT = {"name": "pbf", "mimetype": "application/vnd.mapbox-vector-tile"}
#: Zooms of the stock provider; no `schemes` list: pygeoapi 0.24 passes every non-dict option to the database
#: driver as a connection argument (a list breaks its engine cache), and its default schemes include WebMercatorQuad.
TILE_OPTIONS = {"zoom": {"min": 0, "max": 16}}


@dataclass
class TileServer(Server):
    """A server whose request path is a tile URL template filled with each query's z, y and x."""

    def path(self, query: Query) -> str:
        return self.items.format(**query.params)


def tiles_under_polygons(gpkg: Path, count: int, zooms: range, seed: int = 0) -> dict[int, list[Query]]:
    """Per zoom, the tiles holding the centres of ``count`` random polygons (from the GeoPackage's R-tree)."""
    with sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True) as conn:
        boxes = conn.execute(f"SELECT minx, maxx, miny, maxy FROM rtree_{TABLE}_geom").fetchall()
    picked = random.Random(seed).sample(boxes, count)
    to_crs84 = pyproj.Transformer.from_crs(2154, "OGC:CRS84", always_xy=True)
    centres = [to_crs84.transform((a + b) / 2, (c + d) / 2) for a, b, c, d in picked]
    tiles = {}
    for z in zooms:
        n = 2**z
        zxy = sorted(
            {
                (int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n))
                for lon, lat in centres
            }
        )
        tiles[z] = [Query(f"z{z}", f"{z}/{y}/{x}", {"z": str(z), "y": str(y), "x": str(x)}) for x, y in zxy]
    return tiles


def start_ours(fleet: Fleet, key: str, store: str) -> None:
    """Our server as `make serve` runs it (`ocsge config`, gunicorn on our WSGI app)."""
    label = f"ours ({'GeoPackage' if key.endswith('gpkg') else 'PostGIS'} store)"
    server = TileServer(key, label, f"/collections/{COLLECTION}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}?f=mvt")
    folder = fleet.run_dir / key
    folder.mkdir(parents=True, exist_ok=True)
    config, openapi = folder / "pygeoapi-config.yml", folder / "openapi.yml"
    run(in_venv(config_command(store, ROOT / "pygeoapi-config.yml", config, openapi), PROJECT_BIN))
    fleet.start(
        server,
        fleet.ours(PROJECT_BIN),
        {"PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)},
    )


def start_stock_mvt(fleet: Fleet, bin_dir: Path, pg_url: str) -> None:
    """pygeoapi 0.24's MVT-postgresql provider on the same table, configured as its documentation shows."""
    pg = re.match(r"postgresql://(\w+)@([\d.]+):(\d+)/(\w+)", pg_url)
    provider = {
        "type": "tile",
        "name": "MVT-postgresql",
        "table": TABLE,
        "id_field": "fid",
        "geom_field": "geom",
        "storage_crs": LAMBERT93,
        "options": TILE_OPTIONS,
        "format": MVT,
        "data": {
            "host": pg[2],
            "port": int(pg[3]),
            "dbname": pg[4],
            "user": pg[1],
            "password": "",
            "search_path": ["ocsge", "public"],
        },
    }
    server = TileServer(
        "stock-mvt-postgresql",
        "pygeoapi 0.24 MVT-postgresql provider",
        f"/collections/{TABLE}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}?f=mvt",
    )
    folder = fleet.run_dir / server.key
    folder.mkdir(parents=True, exist_ok=True)
    config, openapi = folder / "pygeoapi-config.yml", folder / "openapi.yml"
    config.write_text(yaml.safe_dump(stock_config(provider), allow_unicode=True, sort_keys=False), encoding="utf-8")
    run(
        [bin_dir / "pygeoapi", "openapi", "generate", config, "--output-file", openapi],
        env={**os.environ, "PYGEOAPI_CONFIG": str(config)},
    )
    fleet.start(
        server,
        fleet.gunicorn(bin_dir, "pygeoapi.flask_app:APP"),
        {"PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)},
    )


def feature_counts(
    server: Server, queries: list[Query], limit_s: float = 300
) -> tuple[list[int], list[int], list[float]]:
    """Decoded feature count, byte size and seconds of each tile (an empty 204 counts as 0), one at a time; stops at
    the first tile that takes over ``limit_s`` (not finished: it is left out)."""
    counts, sizes, seconds = [], [], []
    for query in queries:
        started = time.monotonic()
        try:
            with urllib.request.urlopen(server.base + server.path(query), timeout=limit_s) as response:
                data = response.read()
        except (TimeoutError, urllib.error.URLError) as err:
            say(f"  {server.key}: tile {query.label} not finished in {limit_s:g} s ({err})")
            break
        seconds.append(time.monotonic() - started)
        layers = decode(data)
        counts.append(sum(len(layer.features) for layer in layers.values()))
        sizes.append(len(data))
    return counts, sizes, seconds


def sequential_load(seconds: list[float], workers: int) -> Load:
    """Stock's figures where its tiles take longer than a wrk run: latencies of tiles built one at a time, and the
    tiles/s its ``workers`` would reach building such tiles in parallel (an upper bound: no queueing, no sharing
    of the 2 cores)."""
    if not seconds:
        return Load(0, 0.0, 0.0, None, None, 0, 0.0, 0.0, 0.0)
    ordered = sorted(seconds)
    p95 = ordered[min(len(ordered) - 1, math.ceil(0.95 * len(ordered)) - 1)]
    return Load(
        len(seconds),
        sum(seconds),
        workers / statistics.mean(seconds),
        statistics.median(seconds) * 1000,
        p95 * 1000,
        0,
        0.0,
        0.0,
        0.0,
    )


Checks = dict[int, dict[str, tuple[list[int], list[int], list[float]]]]


def report(
    loads: dict[int, dict[str, Load]],
    checks: Checks,
    how: dict[int, dict[str, str]],
    busy: dict[int, dict[str, float]],
    servers: list[Server],
    args: argparse.Namespace,
    polygons: int,
    cell: int,
) -> str:
    lines = [
        f"# Vector tiles benchmark ({dt.date.today().isoformat()})",
        "",
        f"Gironde generated by `ocsge generate` at cell size {cell} m: {polygons} OCCUPATION_SOL polygons "
        f"(millésime {MILLESIME}); {args.tiles} random polygons give the tiles of each zoom; wrk "
        f"-c{args.connections} -t{args.threads}, {args.duration} s per zoom and server, {args.workers} gunicorn "
        "workers each.",
        "",
        f"Zooms {CACHED_ZOOMS} come from the tile cache (`ocsge tiles build`: generalised up to 14, exact beyond), "
        "the ones above are live and cold. "
        "Column 'how': wrk under load, or 'one by one' where one stock tile takes longer than the run (tiles/s then "
        "the upper bound workers / mean seconds per tile); 'load' is the machine's 1-minute load average.",
        "",
        "| zoom | tiles | server | how | tiles/s | p50 ms | p95 ms | features/tile | KiB/tile | max KiB | load |",
        "|---:|---:|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    ratios = []
    for z, by_server in loads.items():
        for server in servers:
            load = by_server[server.key]
            counts, sizes, _ = checks[z][server.key]
            mean_count = f"{statistics.mean(counts):.0f}" if counts else "–"
            mean_size = f"{statistics.mean(sizes) / 1024:.1f}" if sizes else "–"
            max_size = f"{max(sizes) / 1024:.1f}" if sizes else "–"
            lines.append(
                f"| {z} | {len(counts)} | {server.key} | {how[z][server.key]} | {load.rps:.1f} | {_ms(load.p50_ms)} | "
                f"{_ms(load.p95_ms)} | {mean_count} | {mean_size} | {max_size} | {busy[z][server.key]:.1f} |"
            )
        stock = by_server["stock-mvt-postgresql"].rps
        for ours in ("ours-gpkg", "ours-postgis"):
            p95 = by_server[ours].p95_ms
            ratios.append(
                f"zoom {z}: {ours} p95 {_ms(p95)} ms (target ≤ {P95_TARGET_MS:g} ms: "
                f"{'PASS' if p95 is not None and p95 <= P95_TARGET_MS else 'MISS'})"
            )
            if not stock:
                ratios.append(f"zoom {z}: stock-mvt-postgresql finished no tile: no ratio")
                continue
            r = by_server[ours].rps / stock
            ratios.append(
                f"zoom {z}: {ours} / stock-mvt-postgresql = {r:.2f}× "
                f"(target ≥ {TARGET:g}×: {'PASS' if r >= TARGET else 'MISS'})"
            )
    return "\n".join([*lines, "", *ratios, ""])


def _ms(value: float | None) -> str:
    """A latency cell: none when the server finished no tile under load."""
    return "–" if value is None else f"{value:.0f}"


def build_command(store: str) -> list[object]:
    return [
        PROJECT_BIN / "ocsge",
        "tiles",
        "build",
        "--store",
        store,
        "--collection",
        COLLECTION,
        "--zooms",
        CACHED_ZOOMS,
    ]


def start_build(store: str, key: str, run_dir: Path) -> tuple[subprocess.Popen[bytes], float, Path]:
    """``ocsge tiles build`` in the background, its progress bar in ``run_dir``/build-<key>.log."""
    say(f"… ocsge tiles build --zooms {CACHED_ZOOMS} ({key}), log in {run_dir}/build-{key}.log")
    run_dir.mkdir(parents=True, exist_ok=True)
    log = run_dir / f"build-{key}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen([str(a) for a in build_command(store)], stdout=out, stderr=subprocess.STDOUT)
    return proc, time.monotonic(), log


def finish_build(build: tuple[subprocess.Popen[bytes], float, Path], key: str) -> float:
    """Wait for a background ``ocsge tiles build``; its wall seconds (it fails the run if the build failed)."""
    proc, started, log = build
    if proc.wait() != 0:
        raise RuntimeError(f"ocsge tiles build ({key}) failed:\n{log.read_text(errors='replace')[-3000:]}")
    seconds = time.monotonic() - started
    say(f"✓ ocsge tiles build --zooms {CACHED_ZOOMS} ({key}): {seconds:.1f} s")
    return seconds


def limit_statements(pg_url: str, seconds: float) -> None:
    """PostgreSQL cancels a statement after ``seconds``: a stock tile given up by the client stops loading the
    cores (set after our builds, before any server connects)."""
    database = pg_url.rsplit("/", 1)[1]
    run(["psql", pg_url, "-qc", f"ALTER DATABASE {database} SET statement_timeout = '{int(seconds)}s'"])


def main() -> None:
    parser = load_arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]), 10, "zoom and server")
    parser.add_argument("--zooms", default="0-16", help="first-last zoom (0-16: the issue's range)")
    parser.add_argument("--tiles", type=int, default=50, help="random polygons whose tiles are requested per zoom")
    parser.add_argument("--stock-tiles", type=int, default=3, help="stock tiles timed one by one where they are slow")
    parser.add_argument("--stock-limit", type=float, default=60, help="seconds a stock tile is given")
    args = parser.parse_args()

    ensure_apt(["wrk", "postgresql-15-postgis-3"])
    dataset = prepare_data(args.polygons)
    say(f"data: {dataset.polygons} polygons (cell size {dataset.cell_size_m} m)")
    first, last = map(int, args.zooms.split("-"))
    tiles = tiles_under_polygons(dataset.gpkg, args.tiles, range(first, last + 1))
    run_dir = CACHE / "runs" / f"tiles-{dt.datetime.now():%Y%m%d-%H%M%S}"
    with ExitStack() as stack:
        gpkg_build = start_build(str(dataset.gpkg), "ours-gpkg", run_dir)
        stack.callback(gpkg_build[0].kill)
        pg_url, fleet = fleet_on_postgis(stack, dataset, args.workers, run_dir)
        pg_build = start_build(pg_url, "ours-postgis", run_dir)
        stack.callback(pg_build[0].kill)
        builds = {
            "ours-gpkg": finish_build(gpkg_build, "ours-gpkg"),
            "ours-postgis": finish_build(pg_build, "ours-postgis"),
        }
        limit_statements(pg_url, args.stock_limit)
        with step("servers"):
            start_ours(fleet, "ours-gpkg", str(dataset.gpkg))
            start_ours(fleet, "ours-postgis", pg_url)
            start_stock_mvt(fleet, ensure_venv(STOCK_VENV, STOCK_REQUIREMENTS), pg_url)
        checks: Checks = {}
        loads: dict[int, dict[str, Load]] = {}
        how: dict[int, dict[str, str]] = {}
        busy: dict[int, dict[str, float]] = {}
        for z, queries in tiles.items():
            checks[z], loads[z], how[z], busy[z] = {}, {}, {}, {}
            for server in fleet.servers:
                stock = server.key == "stock-mvt-postgresql"
                checks[z][server.key] = feature_counts(
                    server, queries[: args.stock_tiles] if stock else queries, args.stock_limit if stock else 300
                )
                seconds = checks[z][server.key][2]
                if stock and (len(seconds) < min(len(queries), args.stock_tiles) or max(seconds) > args.duration / 2):
                    # slower than the run: wrk would finish nothing and leave its queue loading what follows
                    load, how[z][server.key] = sequential_load(seconds, args.workers), "one by one"
                else:
                    if stock and len(queries) > args.stock_tiles:
                        checks[z][server.key] = feature_counts(server, queries)
                    load, how[z][server.key] = wrk(server, queries, args, fleet.roots, run_dir), "wrk"
                # the machine's load average: the servers run niced with the bench, so wrk's other-cores count
                # (normal priority only) would take them for others
                loads[z][server.key], busy[z][server.key] = load, os.getloadavg()[0]
                say(
                    f"zoom {z}: {server.key} {len(checks[z][server.key][0])} tiles, "
                    f"{sum(checks[z][server.key][0])} features, {how[z][server.key]}: {load.rps:.1f} tiles/s, "
                    f"p95 {load.p95_ms} ms"
                )
    text = report(loads, checks, how, busy, fleet.servers, args, dataset.polygons, dataset.cell_size_m)
    text += "".join(f"\n`ocsge tiles build --zooms {CACHED_ZOOMS}` on {k}: {s:.0f} s" for k, s in builds.items()) + "\n"
    print(text)
    results = {
        "machine": machine(),
        "args": vars(args),
        "polygons": dataset.polygons,
        "cell_size_m": dataset.cell_size_m,
        "cache_build_s": builds,
        "zooms": {
            z: {
                k: {
                    **asdict(load),
                    "how": how[z][k],
                    "load_average": busy[z][k],
                    "features": checks[z][k][0],
                    "bytes": checks[z][k][1],
                    "seconds": checks[z][k][2],
                }
                for k, load in by.items()
            }
            for z, by in loads.items()
        },
    }
    say(f"results: {write_results('tiles', results, text)}")


if __name__ == "__main__":
    main()
