"""Deep-paging benchmark of the hardening issue: a page reached by its cursor against the same page by offset.

One command: ``.venv/bin/python bench/paging.py [--polygons N] [--depths 10000,100000,...] [--repeats R]``.

GDAL and QGIS read a whole collection by following ``next`` links; with offset links page N re-reads the N × limit
rows before it. The issue asks that page N cost what page 1 costs. On the generated Gironde millésime of
bench/features.py (GENERATED data, cached in bench/.cache), for each store, through a live server: the median time
of page 1, then of the page at each depth by ``offset`` (the baseline) and by ``cursor`` (ours), unfiltered and with
a CQL2 filter; prints the offset / cursor ratio and cursor / page-1. The cursor of each depth is written from the
key of the row just before it (one untimed store query), exactly as the server writes it in its next links.
Results go to bench/results/paging-<date>.md and .json.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import host, say, write_results  # noqa: E402
from features import PROJECT_BIN, TABLE, ingest_postgis, prepare_data  # noqa: E402

from deploy.services import web_server  # noqa: E402
from ocsge_processes.layers import OCCUPATION_SOL  # noqa: E402
from ocsge_processes.server.paging import encode_cursor  # noqa: E402
from ocsge_processes.stores import FeatureQuery, open_store  # noqa: E402
from tests.services import postgis  # noqa: E402

ITEMS = "/collections/ocsge-occupation-sol/items"
FILTERS = {"all": None, "CS2.1.1.1 (forests)": "code_cs = 'CS2.1.1.1'"}


def key_before(store_url: str, depth: int, where: str | None) -> tuple:
    """The store key of the row at position ``depth - 1`` in the default order (untimed)."""
    from ocsge_processes.filters import parse_filter

    query = FeatureQuery(where=parse_filter(where) if where else None, limit=1, offset=depth - 1, skip_geometry=True)
    page = open_store(store_url).query(OCCUPATION_SOL, 2154, query)
    return page.last_key


def timed(url: str, params: dict, repeats: int) -> float:
    """Median seconds of a whole page (answer read to its end)."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        response = requests.get(url, params=params, timeout=600)
        response.raise_for_status()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(base: str, store_url: str, depths: list[int], limit: int, repeats: int) -> list[dict]:
    rows = []
    for label, where in FILTERS.items():
        common = {"f": "json", "limit": limit, **({"filter": where} if where else {})}
        first = timed(base + ITEMS, common, repeats)
        for depth in depths:
            key = key_before(store_url, depth, where)
            if key is None:
                say(f"  {label}: fewer than {depth} rows, skipped")
                continue
            by_offset = timed(base + ITEMS, {**common, "offset": depth}, repeats)
            cursor = encode_cursor([], key, depth)
            by_cursor = timed(base + ITEMS, {**common, "offset": depth, "cursor": cursor}, repeats)
            rows.append(
                {
                    "filter": label,
                    "depth": depth,
                    "page1_s": first,
                    "offset_s": by_offset,
                    "cursor_s": by_cursor,
                    "offset_over_cursor": by_offset / by_cursor,
                    "cursor_over_page1": by_cursor / first,
                }
            )
            say(
                f"  {label} @ {depth}: page 1 {first * 1000:.0f} ms, offset {by_offset * 1000:.0f} ms, "
                f"cursor {by_cursor * 1000:.0f} ms ({by_offset / by_cursor:.1f}×)"
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polygons", type=int, default=500_000)
    parser.add_argument("--depths", default="10000,100000,400000")
    parser.add_argument("--limit", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    depths = [int(d) for d in args.depths.split(",")]
    dataset = prepare_data(args.polygons)
    report = {
        "host": host(),
        "polygons": dataset.polygons,
        "cell_size_m": dataset.cell_size_m,
        "limit": args.limit,
        "repeats": args.repeats,
        "stores": {},
    }
    with ExitStack() as stack:
        pg_url = stack.enter_context(postgis())
        ingest_postgis(pg_url, dataset)
        for name, store_url in (("gpkg", str(dataset.gpkg)), ("postgis", pg_url)):
            say(f"… {name}")
            folder = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix=f"paging-{name}-")))
            with web_server(store_url, folder, PROJECT_BIN) as base:
                report["stores"][name] = measure(base, store_url, depths, args.limit, args.repeats)
    lines = [
        f"# Deep paging: cursor vs offset ({dataset.polygons} GENERATED polygons, {TABLE}, limit "
        f"{args.limit}, median of {args.repeats})",
        "",
        f"Machine: {report['host']['cpus']} CPUs, {report['host']['cpu_model']}",
        "",
        "| store | filter | depth | page 1 (ms) | offset (ms) | cursor (ms) | offset / cursor | cursor / page 1 |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for store, rows in report["stores"].items():
        lines += [
            f"| {store} | {r['filter']} | {r['depth']} | {r['page1_s'] * 1000:.0f} | {r['offset_s'] * 1000:.0f} "
            f"| {r['cursor_s'] * 1000:.0f} | {r['offset_over_cursor']:.1f}× | {r['cursor_over_page1']:.2f} |"
            for r in rows
        ]
    text = "\n".join(lines) + "\n"
    print(text)
    say(f"written {write_results('paging', report, text)}")


if __name__ == "__main__":
    main()
