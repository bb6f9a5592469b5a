"""Where the GeoPackage read floor of bench/artificialisation.py goes: one millésime of OCCUPATION_SOL read as
``GpkgStore.read_frame`` reads it, split into its steps, each timed alone (wall and CPU µs a polygon), and the lower
bounds of the steps that hold it measured on the same bytes already in memory.

One command: ``.venv/bin/python bench/read_steps.py`` (after bench/artificialisation.py made its cached GeoPackage:
the GENERATED cell-185 Gironde). Results go to bench/results/read-steps-<date>.md and .json.
"""

from __future__ import annotations

import datetime as dt
import os
import resource
import sqlite3
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import pyarrow as pa  # noqa: E402
import shapely  # noqa: E402
from common import host, say, write_results  # noqa: E402

from ocsge_processes.layers import OCCUPATION_SOL  # noqa: E402
from ocsge_processes.parallel import WORKERS, threaded  # noqa: E402
from ocsge_processes.stores import columnar, gpkg_arrow_reader, gpkgblob, open_store  # noqa: E402

STORE = ROOT / "bench" / ".cache" / "gironde-cell185-seed0" / "artificialisation.gpkg"
MILLESIME = 2024
WHERE = f"millesime = {MILLESIME}"


def _cpu() -> float:
    """CPU seconds of this process and of its ended children (the GDAL reader process)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed[T](rows: list[dict], name: str, count: int, func: Callable[[], T], note: str = "") -> T:
    """Run ``func`` once; its wall and CPU µs a polygon go into ``rows``."""
    wall, cpu = time.perf_counter(), _cpu()
    result = func()
    wall, cpu = time.perf_counter() - wall, _cpu() - cpu
    rows.append({"step": name, "wall_us": wall / count * 1e6, "cpu_us": cpu / count * 1e6, "note": note})
    say(f"{name}: {wall / count * 1e6:.2f} µs wall, {cpu / count * 1e6:.2f} µs CPU a polygon")
    return result


def main() -> None:
    if not STORE.exists():
        raise SystemExit(f"{STORE} is missing: run bench/artificialisation.py first (it builds and caches it)")
    conn = sqlite3.connect(f"file:{STORE}?mode=ro", uri=True)
    count = conn.execute(f"SELECT count(*) FROM occupation_sol WHERE {WHERE}").fetchone()[0]
    rows: list[dict] = []
    cut = gpkgblob.wkb_sql("geom")
    columns = ", ".join([*OCCUPATION_SOL.fields, cut])
    select = f"SELECT {columns} FROM occupation_sol WHERE {WHERE} ORDER BY fid"
    conn.execute(f"SELECT sum(length(geom)) FROM occupation_sol WHERE {WHERE}").fetchone()  # pages into the OS cache

    # the path read_frame takes, step by step
    timed(
        rows,
        "SQLite reads every row's pages and blob (no Python object)",
        count,
        lambda: conn.execute(f"SELECT sum(length(geom)) FROM occupation_sol WHERE {WHERE}").fetchone(),
    )
    timed(
        rows,
        "… and cuts the blob header in SQL",
        count,
        lambda: conn.execute(f"SELECT sum(length({cut})) FROM occupation_sol WHERE {WHERE}").fetchone(),
    )
    timed(
        rows,
        "sqlite3 rows of the WKB alone",
        count,
        lambda: conn.execute(f"SELECT {cut} FROM occupation_sol WHERE {WHERE} ORDER BY fid").fetchall(),
    )
    fetched = timed(
        rows, "sqlite3 rows of the 11 fields + WKB (read_frame's query)", count, lambda: conn.execute(select).fetchall()
    )
    transposed = timed(rows, "rows → columns (zip)", count, lambda: list(zip(*fetched, strict=True)))
    kinds = list(OCCUPATION_SOL.fields.items())
    arrow = timed(
        rows,
        "11 field columns → Arrow",
        count,
        lambda: {
            name: pa.array(transposed[i], type=columnar._ARROW_TYPES[kind]) for i, (name, kind) in enumerate(kinds)
        },
    )
    wkb = timed(
        rows,
        "WKB column → Arrow → numpy",
        count,
        lambda: pa.array(transposed[-1], type=pa.binary()).to_numpy(zero_copy_only=False),
    )
    timed(rows, "from_wkb, one thread", count, lambda: shapely.from_wkb(wkb))
    geoms = timed(rows, f"from_wkb on {WORKERS} threads (read_frame's)", count, lambda: threaded(shapely.from_wkb, wkb))
    timed(
        rows,
        "field columns → pandas (a repeated text built once)",
        count,
        lambda: {name: columnar._pandas(arrow[name], kind) for name, kind in kinds},
    )
    fetched.clear()  # free the rows before the whole read
    transposed.clear()
    store = open_store(str(STORE))
    os.environ[gpkg_arrow_reader.SWITCH] = "0"
    frame = timed(
        rows,
        "read_frame as a whole, sqlite3 route",
        count,
        lambda: store.read_frame(OCCUPATION_SOL, 2154, None, {"millesime": MILLESIME}),
    )
    assert len(frame) == count

    # the GDAL reader process route (the default for 100k rows and more), step by step then whole
    fields = list(OCCUPATION_SOL.fields)
    arrow_table, shapes = timed(
        rows,
        "GDAL reader process → Arrow IPC over a pipe → Arrow table here, each batch's WKB parsed as it arrives",
        count,
        lambda: gpkg_arrow_reader.read_table(STORE, "occupation_sol", fields, WHERE),
        "CPU of both processes",
    )
    timed(
        rows,
        "Arrow table → frame (fid order, pandas columns)",
        count,
        lambda: gpkg_arrow_reader._frame(OCCUPATION_SOL, 2154, arrow_table, shapes),
    )
    os.environ[gpkg_arrow_reader.SWITCH] = "1"
    through_gdal = timed(
        rows,
        "read_frame as a whole, GDAL reader process route",
        count,
        lambda: store.read_frame(OCCUPATION_SOL, 2154, None, {"millesime": MILLESIME}),
        "CPU of both processes",
    )
    assert through_gdal.equals(frame)
    assert bool(shapely.equals_exact(through_gdal.geometry.values, frame.geometry.values, 0).all())

    # lower bounds and the routes around them
    ragged = shapely.to_ragged_array(geoms)
    timed(
        rows,
        "geometries from GeoArrow coordinates in memory (from_ragged_array)",
        count,
        lambda: shapely.from_ragged_array(*ragged),
        "what a pre-decoded columnar copy would cost",
    )
    import pyogrio

    timed(
        rows,
        "GDAL's Arrow stream (pyogrio.read_arrow), every field + WKB",
        count,
        lambda: pyogrio.read_arrow(STORE, layer="occupation_sol", where=WHERE),
        "in this process only because this bench writes nothing",
    )
    coordinates = int(shapely.get_num_coordinates(geoms).sum())
    text = report(rows, count, coordinates, sum(map(len, wkb)))
    print(text)
    say(f"results: {write_results('read-steps', {'rows': rows, 'polygons': count, 'host': host()}, text)}")


def report(rows: list[dict], count: int, coordinates: int, wkb_bytes: int) -> str:
    lines = [
        f"# GeoPackage read floor, step by step ({dt.date.today().isoformat()})",
        "",
        f"OCCUPATION_SOL {MILLESIME} of the GENERATED cell-185 Gironde (bench/artificialisation.py's cached "
        "GeoPackage): "
        f"{count:,} polygons, {coordinates / count:.1f} coordinates and {wkb_bytes / count:.0f} WKB bytes a polygon. "
        f"Each step timed alone, once, in one process; pages in the OS cache. Machine: {host()}; load average "
        f"{os.getloadavg()[0]:.1f} at the end (other work shares the cores: compare CPU µs).",
        "",
        "| step | wall µs a polygon | CPU µs a polygon | note |",
        "|---|---:|---:|---|",
        *[f"| {r['step']} | {r['wall_us']:.2f} | {r['cpu_us']:.2f} | {r['note']} |" for r in rows],
        "",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
