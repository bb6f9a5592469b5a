"""Live GeoPackage tiles (zooms 14-16): the time to build one, from the R-tree query to the encoded bytes, with the
current MVT encoder against a baseline commit's, on the same tiles in one run, and whether their bytes are equal.

One command: ``.venv/bin/python bench/tile_encode.py [--baseline f83120a~1] [--zoom 14] [--tiles 48]``.

Tiles: the children of the densest cached tiles of the zoom above in the full-scale Gironde of bench/tiles.py
(1.75 M generated polygons; its GeoPackage is only read), i.e. the tiles a user zoomed into a town gets. Each tile
is built ``--repeat`` times per encoder, alternating, and the median kept.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sqlite3
import statistics
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import host, say, write_results

from ocsge_processes.layers import OCCUPATION_SOL
from ocsge_processes.stores import open_store
from ocsge_processes.stores.base import TileRequest
from ocsge_processes.stores.reproject import reproject
from ocsge_processes.tiles import mvt
from ocsge_processes.tiles.matrix import BUFFER, EXTENT, simplify_tolerance, tile_bounds, tile_query_bbox
from ocsge_processes.tiles.source import _MERCATOR, tile_fields

EPSG = 2154


def baseline_encoder(commit: str) -> ModuleType:
    """ocsge_processes/tiles/mvt.py as it was at ``commit``, loaded beside the current one."""
    source = subprocess.run(
        ["git", "show", f"{commit}:ocsge_processes/tiles/mvt.py"], capture_output=True, text=True, check=True
    ).stdout
    spec = importlib.util.spec_from_loader("ocsge_processes.tiles.mvt_baseline", loader=None)
    assert spec is not None
    module = importlib.util.module_from_spec(spec)
    module.__package__ = "ocsge_processes.tiles"
    exec(compile(source, f"{commit}:mvt.py", "exec"), module.__dict__)  # the project's own file, at a commit
    return module


def densest_children(gpkg: Path, z: int, count: int) -> list[tuple[int, int, int]]:
    db = sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True)
    rows = db.execute(
        "SELECT x, y FROM ocsge_tile_cache WHERE collection = ? AND epsg = ? AND z = ? AND filter = '' "
        "ORDER BY length(data) DESC LIMIT ?",
        [OCCUPATION_SOL.collection_id, EPSG, z - 1, (count + 3) // 4],
    ).fetchall()
    return [(z, 2 * x + i, 2 * y + j) for x, y in rows for i in (0, 1) for j in (0, 1)][:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpkg", type=Path, default=Path("bench/.cache/gironde-cell100-seed0/ocsge.gpkg"))
    parser.add_argument("--baseline", default="f83120a~1", help="the commit whose encoder is compared")
    parser.add_argument("--zoom", type=int, default=14)
    parser.add_argument("--tiles", type=int, default=48)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    encoders = {"baseline": baseline_encoder(args.baseline), "current": mvt}
    store = open_store(str(args.gpkg))
    layer = OCCUPATION_SOL
    fields = tuple(tile_fields(layer))
    times: dict[str, list[float]] = {name: [] for name in encoders}
    polygons, equal = [], 0
    for z, x, y in densest_children(args.gpkg, args.zoom, args.tiles):
        request = TileRequest(z, x, y, fields, tile_query_bbox(z, x, y, EPSG), simplify_tolerance(z), EXTENT, BUFFER)
        out: dict[str, bytes] = {}
        runs: dict[str, list[float]] = {name: [] for name in encoders}
        for _ in range(args.repeat):
            for name, encoder in encoders.items():
                start = time.perf_counter()
                rows = store.tile_rows(layer, EPSG, request)
                properties = [dict(zip(fields, row, strict=True)) for row in rows.rows]
                geometries = reproject(rows.geometries, EPSG, _MERCATOR)
                out[name] = encoder.encode_layer(
                    layer.collection_id, geometries, properties, tile_bounds(z, x, y), request.tolerance
                )
                runs[name].append(time.perf_counter() - start)
        for name in encoders:
            times[name].append(statistics.median(runs[name]))
        polygons.append(len(rows.rows))
        equal += out["baseline"] == out["current"]
        say(
            f"{z}/{x}/{y}: {len(rows.rows)} polygons, "
            + ", ".join(f"{n} {t[-1] * 1000:.0f} ms" for n, t in times.items())
        )

    def p95(values: list[float]) -> float:
        return statistics.quantiles(values, n=20, method="inclusive")[-1] if len(values) > 1 else values[0]

    lines = [
        f"# Live GeoPackage tile build, zoom {args.zoom} ({host()['cpu_model']}, {host()['cpus']} CPUs)",
        "",
        f"{len(polygons)} tiles, {statistics.mean(polygons):.0f} polygons on average (max {max(polygons)}); "
        f"bytes equal to the baseline's ({args.baseline}): {equal}/{len(polygons)}; "
        f"load average at the end {os.getloadavg()[0]:.1f}",
        "",
        "| encoder | mean ms | p50 ms | p95 ms | max ms |",
        "|---|---:|---:|---:|---:|",
    ]
    for name, values in times.items():
        ms = [v * 1000 for v in values]
        lines.append(
            f"| {name} | {statistics.mean(ms):.0f} | {statistics.median(ms):.0f} | {p95(ms):.0f} | {max(ms):.0f} |"
        )
    ratio = statistics.mean(times["baseline"]) / statistics.mean(times["current"])
    lines += ["", f"Baseline / current (mean time per tile): {ratio:.2f}"]
    text = "\n".join(lines) + "\n"
    print(text)
    write_results(f"tile-encode-z{args.zoom}", {"host": host(), "times_s": times, "polygons": polygons}, text)


if __name__ == "__main__":
    main()
