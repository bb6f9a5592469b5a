"""Cost of ingest's checks (placement and the overlap/gap report) next to reading and writing the same delivery.

``.venv/bin/python bench/ingest_checks.py DELIVERY [--repeat 3]``: reads the delivery (``read_delivery``, which now
includes the finite and area-of-use checks), runs ``check_batches`` (département extent, overlaps and gaps), and
writes the batches into a fresh GeoPackage, each timed ``--repeat`` times in this one process; prints the medians and
the checks' share of the whole ingest. Use a generated département (``ocsge generate``), never real data you do not
have the right to copy.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ocsge_processes.ingest import read_delivery  # noqa: E402
from ocsge_processes.ingest.checks import check_batches  # noqa: E402
from ocsge_processes.stores import open_store  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("delivery", type=Path)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"read": [], "checks": [], "write": []}
    for _ in range(args.repeat):
        start = time.perf_counter()
        batches = list(read_delivery(args.delivery))
        times["read"].append(time.perf_counter() - start)
        start = time.perf_counter()
        lines = check_batches(batches, {}, strict=False)
        times["checks"].append(time.perf_counter() - start)
        with tempfile.TemporaryDirectory() as scratch:
            store = open_store(str(Path(scratch) / "bench.gpkg"))
            start = time.perf_counter()
            for batch in batches:
                store.replace_slice(batch.layer, batch.epsg, batch.frame, batch.slice)
            times["write"].append(time.perf_counter() - start)
    polygons = sum(len(batch.frame) for batch in batches)
    medians = {name: statistics.median(values) for name, values in times.items()}
    total = sum(medians.values())
    print(f"{polygons} polygons in {len(batches)} batch(es); medians of {args.repeat} runs:")
    for name, value in medians.items():
        print(f"  {name:7s} {value:7.2f} s  ({value / total * 100:4.1f} % of the ingest)")
    print(f"  checks add {medians['checks'] / (total - medians['checks']) * 100:.1f} % to reading + writing")
    for line, _ in lines:
        print(f"  {line}")


if __name__ == "__main__":
    main()
