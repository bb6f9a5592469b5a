"""Where one items request of our server spends its time, for acting on benchmark misses.

Runs the real WSGI app (``ocsge_processes.server.app:APP``, configured by ``ocsge config``) in-process through
Flask's test client, times the request without a profiler, then profiles a few with cProfile and splits the time
into stages: pygeoapi/Flask, our request guard and filter parsing, the store's count and page SQL, geometry
decoding, reprojection, GeoJSON geometry dicts, feature dicts and the final JSON encoding. Stages match pygeoapi's
functions and the replacements in ocsge_processes/server/speedups.py alike.

Usage: .venv/bin/python bench/profile_request.py --store STORE --path '/collections/…/items?…' --work DIR
"""

from __future__ import annotations

import argparse
import cProfile
import os
import pstats
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
Key = tuple[str, int, str]
Match = Callable[[Key], bool]


def func(file_part: str, *names: str) -> Match:
    """Functions named ``names`` in files whose path contains ``file_part`` (builtins: file '~')."""
    return lambda key: file_part in key[0] and key[2] in names


def builtin(text: str) -> Match:
    """C functions and methods whose description contains ``text`` (e.g. 'sqlite3.Connection')."""
    return lambda key: key[0] == "~" and text in key[2]


def any_of(*matches: Match) -> Match:
    return lambda key: any(m(key) for m in matches)


STORE_QUERY = any_of(func("stores/gpkg.py", "query"), func("stores/postgis.py", "query"))
PAGE_SQL = any_of(
    builtin("sqlite3.Connection"),
    builtin("sqlite3.Cursor"),
    func("psycopg/connection.py", "execute"),
    func("psycopg/cursor.py", "fetchall"),
)
#: (depth, label, callee, caller): cumulative time of the callee, counted only for calls from the caller if given.
STAGES: list[tuple[int, str, Match, Match | None]] = [
    (1, "request guard (validation, filter parsed once more)", func("server/guard.py", "check"), None),
    (
        1,
        "pygeoapi items handler (get_collection_items)",
        func("pygeoapi/api/itemtypes.py", "get_collection_items"),
        None,
    ),
    (
        2,
        "bbox to storage CRS (transform_bbox)",
        any_of(func("pygeoapi/crs.py", "transform_bbox"), func("server/speedups.py", "transform_bbox")),
        None,
    ),
    (2, "filter geometries to storage CRS (modify_pygeofilter)", func("pygeoapi/crs.py", "modify_pygeofilter"), None),
    (
        2,
        "filter parsing (ours, called by pygeoapi)",
        func("ocsge_processes/filters.py", "parse_filter"),
        func("pygeoapi/api/itemtypes.py", "get_collection_items"),
    ),
    (2, "provider query (ours)", func("server/provider.py", "query"), None),
    (
        3,
        "numberMatched count (SQL)",
        any_of(func("stores/gpkg.py", "_count"), func("stores/postgis.py", "_count")),
        None,
    ),
    (3, "page SQL: execute + fetch", PAGE_SQL, STORE_QUERY),
    (4, "exact spatial test in Python (ocsge_relate, count and page)", func("stores/gpkg.py", "_relate"), None),
    (3, "features from rows (page_features)", func("stores/base.py", "page_features"), None),
    (
        4,
        "geometry decoding (WKB/GPKG blobs -> shapely)",
        any_of(func("stores/gpkgblob.py", "decode"), func("stores/postgis.py", "_decode")),
        None,
    ),
    (4, "reprojection to CRS84", func("stores/reproject.py", "reproject"), None),
    (4, "GeoJSON geometry dicts (geojson_geometries)", func("stores/base.py", "geojson_geometries"), None),
    (4, "feature dicts (make_feature)", func("stores/base.py", "make_feature"), None),
    (
        2,
        "response JSON encoding (to_json)",
        any_of(func("pygeoapi/util.py", "to_json"), func("server/speedups.py", "to_json")),
        None,
    ),
]


def cumulative(stats: pstats.Stats, callee: Match, caller: Match | None) -> float:
    """Seconds spent in ``callee`` and below, optionally only when ``caller`` called it."""
    total = 0.0
    for key, (_, _, _, cum, callers) in stats.stats.items():
        if not callee(key):
            continue
        if caller is None:
            total += cum
        else:
            total += sum(entry[3] for by, entry in callers.items() if caller(by))
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", required=True, help="GeoPackage path or postgresql:// URL")
    parser.add_argument("--path", required=True, help="request path and query string")
    parser.add_argument("--work", required=True, type=Path, help="folder for the runtime configuration")
    parser.add_argument("--requests", type=int, default=10)
    args = parser.parse_args()

    config, openapi = args.work / "pygeoapi-config.yml", args.work / "openapi.yml"
    sys.path.insert(0, str(ROOT))
    from deploy.services import config_command, in_venv

    command = config_command(args.store, ROOT / "pygeoapi-config.yml", config, openapi)
    subprocess.run(
        in_venv(command, Path(sys.executable).parent),
        check=True,
        capture_output=True,
    )
    os.environ["PYGEOAPI_CONFIG"], os.environ["PYGEOAPI_OPENAPI"] = str(config), str(openapi)
    from ocsge_processes.server.app import APP

    client = APP.test_client()

    def requests() -> int:
        size = 0
        for _ in range(args.requests):
            response = client.get(args.path)
            if response.status_code != 200:
                raise SystemExit(f"{args.path}: HTTP {response.status_code}: {response.data[:300]!r}")
            size = len(response.data)
        return size

    requests()
    start = time.perf_counter()
    size = requests()
    plain_ms = (time.perf_counter() - start) / args.requests * 1000
    profiler = cProfile.Profile()
    profiler.runcall(requests)
    stats = pstats.Stats(profiler)
    total = cumulative(stats, func("profile_request.py", "requests"), None)
    per = 1000 / args.requests
    print(
        f"one request: {plain_ms:.1f} ms without profiler, {total * per:.1f} ms under cProfile; "
        f"{size / 1024:.0f} KiB response"
    )
    print(f"{'stage (cProfile, per request)':<72} {'ms':>7} {'share':>6}")
    for depth, label, callee, caller in STAGES:
        seconds = cumulative(stats, callee, caller)
        print(f"{'  ' * depth + label:<72} {seconds * per:7.1f} {seconds / total:6.0%}")
    print("top functions by own time:")
    rows = sorted(stats.stats.items(), key=lambda item: item[1][2], reverse=True)[:12]
    for (file, line, name), (_, calls, own, _, _) in rows:
        where = name if file == "~" else f"{Path(file).parent.name}/{Path(file).name}:{line} {name}"
        print(f"  {own * per:7.1f} ms  {calls // args.requests:>7} calls  {where}")


if __name__ == "__main__":
    main()
