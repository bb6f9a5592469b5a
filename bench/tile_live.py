"""Live GeoPackage tiles (zooms 14-16, built from the polygons at each request): this tree against a baseline commit,
in one run, one tile at a time in process and under wrk through gunicorn, with the ratio and whether the bytes agree.

One command: ``.venv/bin/python bench/tile_live.py [--baseline REF] [--zooms 14-16] [--tiles 50] [--duration 10]``.

- Data: a reduced generated Gironde with the full-scale run's density (``ocsge generate`` at cell size 100 m over
  the ``--communes`` communes nearest Bordeaux's, one millésime ingested into a GeoPackage), cached in bench/.cache.
  Generated data, not IGN's.
- Tiles: per zoom, those under ``--tiles`` random polygons, as bench/tiles.py picks them (where polygons are dense).
- In process: ``serve_tile`` (the tile route's function: cache lookup, feature count, build; no WSGI) on every
  tile, the baseline's ``ocsge_processes`` (``git archive REF``) and this tree's alternating ``--rounds`` times in
  fresh processes, the median per tile kept; the bodies' digests compared.
- Under load: each tree served by gunicorn (2 workers, as ``make serve``), wrk -c8 -t2 rotating through a zoom's
  tiles for ``--duration`` seconds (bench/features.py's wrk, which records the other processes' load).
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import host, say, write_results
from features import (
    CACHE,
    PROJECT_BIN,
    ROOT,
    SHARED,
    Fleet,
    Load,
    load_arguments,
    run,
    step,
    wrk,
)
from tiles import COLLECTION, P95_TARGET_MS, TileServer, tiles_under_polygons

from deploy.services import config_command, in_venv
from ocsge_processes.layers import OCCUPATION_SOL
from ocsge_processes.stores import open_store
from ocsge_processes.tiles.source import store_tile

COMMUNES = SHARED / "communes-admin-express-2018" / "33-gironde" / "communes-33-gironde.geojson"
BORDEAUX = "33063"
MILLESIME = 2021
WORKER = Path(__file__).resolve().parent / "tile_live_worker.py"


def nearest_communes(count: int) -> list[str]:
    """INSEE codes of the ``count`` communes whose centroids are nearest Bordeaux's (Bordeaux included)."""
    features = json.loads(COMMUNES.read_text(encoding="utf-8"))["features"]
    centroids = {f["properties"]["code"]: shapely.geometry.shape(f["geometry"]).centroid for f in features}
    centre = centroids[BORDEAUX]
    return sorted(centroids, key=lambda code: centroids[code].distance(centre))[:count]


def prepare_data(communes: int, cell: int) -> Path:
    """The generated communes' millésime in a GeoPackage, made once per (communes, cell size)."""
    folder = CACHE / f"bordeaux{communes}-cell{cell}"
    gpkg = folder / "ocsge.gpkg"
    if (folder / ".done").exists():
        return gpkg
    delivery = folder / "delivery"
    codes = ",".join(nearest_communes(communes))
    with step(f"ocsge generate ({communes} communes around Bordeaux, cell size {cell} m)"):
        run([PROJECT_BIN / "ocsge", "generate", "--communes", COMMUNES, "--codes", codes, "--departement", "33",
             "--cell-size", cell, "--no-archive", "--out", delivery])  # fmt: skip
    gpkg.unlink(missing_ok=True)
    with step("ocsge ingest into the GeoPackage"):
        slice_ = next(p for p in sorted(delivery.iterdir()) if p.name.endswith(f"_{MILLESIME}-01-01"))
        run([PROJECT_BIN / "ocsge", "ingest", "--store", gpkg, slice_])
    (folder / ".done").touch()
    return gpkg


def baseline_tree(ref: str) -> tuple[Path, str]:
    """``ocsge_processes`` as it was at ``ref``, unpacked under bench/.cache/trees; returns its folder and commit."""
    commit = run(["git", "rev-parse", "--short", ref], cwd=ROOT).stdout.strip()
    tree = CACHE / "trees" / commit
    if not (tree / "ocsge_processes").exists():
        tree.mkdir(parents=True, exist_ok=True)
        archive = subprocess.run(
            ["git", "archive", commit, "ocsge_processes"], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
    return tree, commit


Timing = tuple[float, float, str]


def time_in_process(tree: Path | None, gpkg: Path, tiles_json: Path) -> dict[tuple[int, int, int], Timing]:
    """One worker run: wall seconds, CPU seconds and body digest per tile, with ``tree``'s package (None: this one);
    every tile built in the calling thread (no tile counts as expensive), so that its CPU time is all seen."""
    env = {**os.environ, "OCSGE_TILE_EXPENSIVE": str(10**9)}
    if tree:
        env["PYTHONPATH"] = str(tree)
    out = run([sys.executable, WORKER, gpkg, tiles_json], env=env, cwd=tree or ROOT).stdout
    result = json.loads(out)
    expected = (tree or ROOT) / "ocsge_processes" / "__init__.py"
    if Path(result["package"]).resolve() != expected.resolve():
        raise SystemExit(f"the worker imported {result['package']}, not {expected}")
    return {(z, x, y): (seconds, cpu, digest) for z, x, y, seconds, cpu, digest in result["tiles"]}


def start_server(fleet: Fleet, key: str, gpkg: Path, tree: Path | None) -> TileServer:
    """Gunicorn on ``tree``'s WSGI app (gunicorn puts its working directory first on the path)."""
    server = TileServer(key, key, f"/collections/{COLLECTION}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}?f=mvt")
    folder = fleet.run_dir / key
    folder.mkdir(parents=True, exist_ok=True)
    config, openapi = folder / "pygeoapi-config.yml", folder / "openapi.yml"
    run(in_venv(config_command(str(gpkg), ROOT / "pygeoapi-config.yml", config, openapi), PROJECT_BIN))
    env = {"PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)}
    if tree:
        env["PYTHONPATH"] = str(tree)
    fleet.start(server, fleet.ours(PROJECT_BIN), env, cwd=tree or ROOT)
    return server


def cache_cost(gpkg: Path, zoom: int, gironde_tiles: int) -> list[str]:
    """What caching ``zoom`` would cost: ``ocsge tiles build --zooms Z-Z`` on a copy of the GeoPackage (its CPU and
    wall seconds, tiles and bytes), against the live tiles of the same extent built one by one here."""
    copy = gpkg.with_name(f"cache-cost-z{zoom}.gpkg")
    shutil.copyfile(gpkg, copy)
    before, start = resource.getrusage(resource.RUSAGE_CHILDREN), time.monotonic()
    run([PROJECT_BIN / "ocsge", "tiles", "build", "--store", copy, "--collection", COLLECTION,
         "--zooms", f"{zoom}-{zoom}"])  # fmt: skip
    wall, after = time.monotonic() - start, resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    with sqlite3.connect(copy) as conn:
        variants = conn.execute(
            "SELECT filter, count(*), sum(length(data) > 0), sum(length(data)), max(length(data)) "
            "FROM ocsge_tile_cache WHERE z = ? GROUP BY filter ORDER BY filter",
            [zoom],
        ).fetchall()
        cells = conn.execute("SELECT x, y FROM ocsge_tile_cache WHERE z = ? AND filter = ''", [zoom]).fetchall()
    copy.unlink()
    store = open_store(str(gpkg))
    live_cpu, sizes = time.process_time(), []
    for x, y in cells:
        sizes.append(len(store_tile(store, OCCUPATION_SOL, 2154, zoom, x, y)))
    live_cpu = (time.process_time() - live_cpu) / len(cells)
    tiles, built = len(cells), sum(1 for size in sizes if size)
    lines = [
        "",
        f"Caching zoom {zoom} (load average {os.getloadavg()[0]:.1f}): `ocsge tiles build --zooms {zoom}-{zoom}` "
        f"built the {tiles} tiles of the data's extent in {wall:.0f} s wall, {cpu:.1f} s CPU "
        f"({cpu / tiles * 1000:.0f} ms CPU a tile, empty ones included), generalised as the cached zooms are:",
        "",
        "| variant | tiles | non-empty | total KiB | mean KiB (non-empty) | max KiB |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, count, filled, total, largest in variants:
        lines.append(
            f"| {name or 'unfiltered'} | {count} | {filled} | {total / 1024:.0f} | {total / max(filled, 1) / 1024:.1f} "
            f"| {largest / 1024:.1f} |"
        )
    stored = sum(v[3] for v in variants)
    lines += [
        "",
        f"The live tiles of the same {tiles} cells (full detail, one by one here): {live_cpu * 1000:.1f} ms CPU a "
        f"tile, {built} non-empty, {sum(sizes) / 1024:.0f} KiB in all, {sum(sizes) / max(built, 1) / 1024:.1f} KiB "
        "mean non-empty.",
        f"Scaled to Gironde's ~{gironde_tiles} zoom-{zoom} tiles (docs/benchmarks.md): build "
        f"{cpu / tiles * gironde_tiles / 60:.1f} CPU-minutes, {stored / tiles * gironde_tiles / 2**20:.0f} MiB "
        f"cached (all variants); the live tiles, kept as they are, would weigh "
        f"{sum(sizes) / tiles * gironde_tiles / 2**20:.0f} MiB per variant.",
    ]
    return lines


def stats(ms: list[float]) -> tuple[float, float, float, float]:
    """Mean, p50, p95 (inclusive) and max."""
    p95 = statistics.quantiles(ms, n=20, method="inclusive")[-1] if len(ms) > 1 else ms[0]
    return statistics.mean(ms), statistics.median(ms), p95, max(ms)


def main() -> None:
    parser = load_arguments(argparse.ArgumentParser(description=__doc__.splitlines()[0]), 10, "zoom and tree")
    parser.add_argument("--baseline", default="59e7dc7", help="the commit whose code is compared (git ref)")
    parser.add_argument("--communes", type=int, default=80, help="communes nearest Bordeaux to generate")
    parser.add_argument("--cell-size", type=int, default=100)
    parser.add_argument("--zooms", default="14-16")
    parser.add_argument("--tiles", type=int, default=50, help="random polygons whose tiles are taken per zoom")
    parser.add_argument("--rounds", type=int, default=3, help="in-process runs per tree (alternating)")
    parser.add_argument("--no-wrk", action="store_true", help="in-process timings only")
    parser.add_argument("--cache-cost", type=int, metavar="ZOOM", help="also measure what caching ZOOM would cost")
    parser.add_argument("--gironde-tiles", type=int, default=6500, help="tiles of that zoom over Gironde")
    args = parser.parse_args()
    low, high = map(int, args.zooms.split("-"))
    gpkg = prepare_data(args.communes, args.cell_size)
    with sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True) as conn:
        polygons = conn.execute("SELECT count(*) FROM occupation_sol").fetchone()[0]
    queries = tiles_under_polygons(gpkg, args.tiles, range(low, high + 1))
    tiles = [(z, int(q.params["x"]), int(q.params["y"])) for z, qs in queries.items() for q in qs]
    tree, commit = baseline_tree(args.baseline)
    head = run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT).stdout.strip()
    dirty = bool(run(["git", "status", "--porcelain", "--untracked-files=no", "ocsge_processes"], cwd=ROOT).stdout)
    trees = {f"baseline {commit}": tree, f"current {head}{' (modified)' if dirty else ''}": None}
    loads: dict[str, list[float]] = {}

    runs: dict[str, list[dict[tuple[int, int, int], Timing]]] = {name: [] for name in trees}
    with tempfile.NamedTemporaryFile("w", suffix=".json") as listing:
        json.dump(tiles, listing)
        listing.flush()
        for round_ in range(args.rounds):
            for name, path in trees.items():
                runs[name].append(time_in_process(path, gpkg, Path(listing.name)))
                loads.setdefault("in process", []).append(os.getloadavg()[0])
                say(f"round {round_ + 1}: {name} done (load {os.getloadavg()[0]:.1f})")
    names = list(trees)
    equal = sum(runs[names[0]][0][t][2] == runs[names[1]][0][t][2] for t in tiles)
    median_ms = {
        (name, clock): {t: 1000 * statistics.median(r[t][clock] for r in runs[name]) for t in tiles}
        for name in names
        for clock in (0, 1)
    }

    lines = [
        f"# Live GeoPackage tiles, zooms {args.zooms} ({host()['cpu_model']}, {host()['cpus']} CPUs)",
        "",
        f"Generated data (`ocsge generate`, not IGN's): the {args.communes} communes nearest Bordeaux at cell size "
        f"{args.cell_size} m, {polygons} polygons of millésime {MILLESIME}; tiles under {args.tiles} random polygons "
        f"per zoom. Bodies equal between the trees: {equal}/{len(tiles)}.",
        "",
        f"In process (`serve_tile`, one tile at a time, median of {args.rounds} per tile, trees alternating; CPU: the "
        "process' CPU time (all its threads), which other processes' load changes less than the wall time; "
        "1-minute load average "
        f"{min(loads['in process']):.1f}–{max(loads['in process']):.1f}):",
        "",
        "| zoom | tiles | tree | CPU mean ms | CPU p50 | CPU p95 | CPU max | wall mean ms | wall p95 | "
        "baseline / current (CPU mean) |",
        "|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    report: dict[str, object] = {"host": host(), "polygons": polygons, "equal": equal, "tiles": len(tiles)}
    for z in range(low, high + 1):
        zoom_tiles = [t for t in tiles if t[0] == z]
        means = {}
        for name in names:
            mean, p50, p95, top = stats([median_ms[name, 1][t] for t in zoom_tiles])
            wall_mean, _, wall_p95, _ = stats([median_ms[name, 0][t] for t in zoom_tiles])
            means[name] = mean
            ratio = f"{means[names[0]] / mean:.2f}" if name == names[1] else ""
            lines.append(
                f"| {z} | {len(zoom_tiles)} | {name} | {mean:.1f} | {p50:.1f} | {p95:.1f} | {top:.1f} | "
                f"{wall_mean:.1f} | {wall_p95:.1f} | {ratio} |"
            )
    report["in_process_ms"] = {
        f"{name} {'cpu' if clock else 'wall'}": {"/".join(map(str, t)): v for t, v in by_tile.items()}
        for (name, clock), by_tile in median_ms.items()
    }

    if not args.no_wrk:
        lines += [
            "",
            f"Under load (gunicorn {args.workers} workers, wrk -c{args.connections} -t{args.threads}, "
            f"{args.duration} s per zoom and tree; 'other cores': other processes' CPU meanwhile; 'load': 1-minute "
            "load average):",
            "",
            "| zoom | tree | tiles/s | p50 ms | p95 ms | errors | server cores | other cores | load | p95 ≤ 150 ms |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        results: dict[str, dict[int, Load]] = {}
        run_dir = CACHE / "runs" / f"tile-live-{os.getpid()}"
        with ExitStack() as stack:
            fleet = Fleet(args.workers, run_dir, stack)
            servers = {
                name: start_server(fleet, f"ours-gpkg-{i}", gpkg, path) for i, (name, path) in enumerate(trees.items())
            }
            for z in range(low, high + 1):
                for name, server in servers.items():
                    load = wrk(server, queries[z], args, fleet.roots, run_dir)
                    results.setdefault(name, {})[z] = load
                    avg = os.getloadavg()[0]
                    ok = "PASS" if load.p95_ms is not None and load.p95_ms <= P95_TARGET_MS else "MISS"
                    lines.append(
                        f"| {z} | {name} | {load.rps:.1f} | {load.p50_ms or 0:.0f} | {load.p95_ms or 0:.0f} | "
                        f"{load.errors} | {load.server_cores:.2f} | {load.other_cores:.2f} | {avg:.1f} | {ok} |"
                    )
                    say(lines[-1])
        lines.append("")
        for z in range(low, high + 1):
            before, after = results[names[0]][z], results[names[1]][z]
            lines.append(f"zoom {z}: tiles/s current / baseline = {after.rps / before.rps:.2f}")
        report["wrk"] = {name: {z: vars(load) for z, load in by.items()} for name, by in results.items()}
    if args.cache_cost is not None:
        lines += cache_cost(gpkg, args.cache_cost, args.gironde_tiles)
    text = "\n".join(lines) + "\n"
    print(text)
    write_results("tile-live", report, text)


if __name__ == "__main__":
    main()
