"""Extraction benchmark: the `extraction` workflow against GDAL's own copy of the same table.

One command: ``.venv/bin/python bench/extraction.py [--store data/ocsge.gpkg] [--format GPKG] [--filter CQL2]``.

Each measurement runs in a child process of its own (its peak resident memory is its own): our
``workflows.extraction.plan`` + ``extract`` of the ``occupation_sol`` table (id, code_cs, code_us, millesime,
departement and the geometry), then the baseline, ``ogr2ogr`` of the same columns from the same store GeoPackage
into a new file of the same format (GDAL reading the GeoPackage directly: the fastest copy this machine has).
Prints both wall times, peak resident memories and the ratio. A GeoPackage store only (ogr2ogr reads the file).
``--results PATH_OR_URL`` measures the result store instead: a 100 MiB file stored, read whole, read by ranges.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ATTRIBUTES = ["id", "code_cs", "code_us", "millesime", "departement"]
DRIVERS = {"GPKG": ("GPKG", "gpkg"), "GEOJSON": ("GeoJSON", "geojson"), "PARQUET": ("Parquet", "parquet")}


def ours(store: str, fmt: str, cql: str | None) -> dict[str, object]:
    """Run in a child: our extraction, timed."""
    sys.path.insert(0, str(ROOT))
    from ocsge_processes.server.processes.extraction import _to_storage
    from ocsge_processes.stores import open_store
    from ocsge_processes.workflows.extraction import extract, plan

    source = open_store(store)
    relation = {"attributes": [*ATTRIBUTES, "geometry"], **({"filters": cql} if cql else {})}
    start = time.perf_counter()
    request = plan(source, {"relations": {"occupation_sol": relation}, "format": fmt})
    with tempfile.TemporaryDirectory() as folder:
        result = extract(source, request, Path(folder), _to_storage, lambda _p, _m: None)
        seconds = time.perf_counter() - start
        size = sum(path.stat().st_size for path in result.files)
    return {"seconds": seconds, "features": result.summary["tables"][0]["features"], "bytes": size}


#: Runs a command and prints, after its output, its peak resident memory (the wrapper's only child).
_WRAPPER = (
    "import resource, subprocess, sys; done = subprocess.run(sys.argv[1:], capture_output=True, text=True, "
    "check=True); print(done.stdout); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)"
)


def _child(args: list[str]) -> dict[str, object]:
    """A measurement in a child process of its own: its JSON line (if any) and its peak resident memory."""
    lines = subprocess.run([sys.executable, "-c", _WRAPPER, *args], capture_output=True, text=True, check=True)
    output = [line for line in lines.stdout.strip().splitlines() if line.strip()]
    document: dict[str, object] = json.loads(output[-2]) if len(output) > 1 and output[-2].startswith("{") else {}
    document["peak_mb"] = round(int(output[-1]) / 1024)
    return document


def result_store(connection: str, mib: int = 100) -> None:
    """The result store: a ``mib`` MiB file of noise stored, read whole, then 200 reads of 64 KiB ranges."""
    sys.path.insert(0, str(ROOT))
    from ocsge_processes.results import open_results

    store = open_results(connection)
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "noise.bin"
        path.write_bytes(os.urandom(mib * 1024 * 1024))
        start = time.perf_counter()
        file = store.put("bench-extraction", "noise.bin", path, "application/octet-stream", 600)
        put_s = time.perf_counter() - start
    start = time.perf_counter()
    size = sum(len(part) for part in store.read(file))
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    for index in range(200):
        first = index * (file.size // 200)
        assert len(b"".join(store.read(file, first, first + 65_535))) == 65_536
    range_ms = (time.perf_counter() - start) / 200 * 1000
    store.sweep()
    print(
        f"result store {connection.rsplit('@', 1)[-1]}: {mib} MiB stored at {mib / put_s:.0f} MiB/s, read at "
        f"{size / 1048576 / read_s:.0f} MiB/s, a 64 KiB range in {range_ms:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", default=str(ROOT / "data" / "ocsge.gpkg"))
    parser.add_argument("--format", default="GPKG", choices=sorted(DRIVERS))
    parser.add_argument("--filter", help="a CQL2 text filter (ours) — the baseline copies the whole table")
    parser.add_argument("--results", help="measure the result store at this SQLite path or postgresql:// URL instead")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.results:
        result_store(args.results)
        return
    if args.child:
        print(json.dumps(ours(args.store, args.format, args.filter)))
        return
    me = [sys.executable, __file__, "--child", "--store", args.store, "--format", args.format]
    measured = _child([*me, *(["--filter", args.filter] if args.filter else [])])
    driver, suffix = DRIVERS[args.format]
    with tempfile.TemporaryDirectory() as folder:
        out = Path(folder) / f"copy.{suffix}"
        command = ["ogr2ogr", "-f", driver, str(out), args.store, "occupation_sol", "-select", ",".join(ATTRIBUTES)]
        start = time.perf_counter()
        try:
            baseline = _child(command)
        except subprocess.CalledProcessError as err:  # GDAL 3.6 here has no Parquet driver
            baseline = {"error": err.stderr.strip()[:200]}
        baseline["seconds"] = time.perf_counter() - start
        baseline["bytes"] = out.stat().st_size if out.exists() else None
    print(f"machine: {platform.machine()} {platform.processor() or ''}, Python {platform.python_version()}")
    print(f"ours     {args.format}: {measured}")
    print(f"ogr2ogr  {args.format}: {baseline}")
    if "error" not in baseline:
        print(f"ratio ours / ogr2ogr wall time: {float(measured['seconds']) / float(baseline['seconds']):.2f}")


if __name__ == "__main__":
    main()
