"""Web map zoom benchmark: the time from a zoom to MapLibre's ``idle`` (tiles loaded and drawn) at each zoom 6 to 16.

One command: ``.venv/bin/python bench/map_zoom.py [--store data/ocsge.gpkg] [--center LON,LAT] [--runs N]``.

1. The store: the demo store of ``make demo-data`` by default; ``ocsge tiles build`` on its couverture first (a
   no-op when the pyramid is current: the build is resumable), as ``make demo-data`` leaves it.
2. A live server on it (gunicorn, 2 workers, as ``make serve``), the /map pages bundled by ``make web``.
3. Debian's Chromium with software WebGL (no GPU here), driven by Playwright: /map opens on the whole extent, then
   jumps from zoom 6 to 16 one zoom at a time over ``--center`` and times each jump until ``idle``; each run in a
   fresh browser context against a fresh server, so every tile is cold (never asked before at that zoom).
4. Prints, per zoom, the time to idle, the tiles fetched and the slowest tile response, then the worst zoom
   against the issue's target (< 1 s per zoom on this machine); results in bench/results/map-zoom-<date>.md/.json.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import host, say, write_results

from deploy.services import web_server
from tests.conftest import SHARED
from tests.web.conftest import CHROMIUM, CHROMIUM_ARGS
from tests.web.test_map import open_map
from tests.web.test_map_zoom import CENTER, ZOOM_TO_IDLE, ZOOMS

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
#: The issue's target: each zoom drawn in under a second.
TARGET_MS = 1000.0
COLLECTION = "ocsge-occupation-sol"


def one_run(store: str, center: list[float]) -> dict[int, dict[str, float]]:
    """Zoom 6 to 16 in a fresh browser context on a fresh server; per zoom: ms to idle, tiles, slowest tile (ms)."""
    from playwright.sync_api import sync_playwright

    steps: dict[int, dict[str, float]] = {}
    with (
        tempfile.TemporaryDirectory(prefix="map-zoom-") as folder,
        web_server(store, Path(folder), BIN, OCSGE_DATA_DIR=str(SHARED), OCSGE_TRUSTED_HOSTS="localhost") as url,
        sync_playwright() as playwright,
    ):
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        with contextlib.closing(browser):
            context = browser.new_context(viewport={"width": 1280, "height": 800})
            page = context.new_page()
            open_map(page, url)
            tiles: list[float] = []
            page.on("requestfinished", lambda r: "/tiles/" in r.url and tiles.append(r.timing["responseEnd"]))
            for zoom in ZOOMS:
                tiles.clear()
                step = page.evaluate(ZOOM_TO_IDLE, [zoom, center])
                if not step["loaded"] or not step["drawn"]:
                    raise SystemExit(f"zoom {zoom}: idle with tiles loaded={step['loaded']}, drawn={step['drawn']}")
                steps[zoom] = {"ms": step["ms"], "tiles": len(tiles), "slowest_tile_ms": max(tiles, default=0.0)}
                say(f"zoom {zoom}: {step['ms']:.0f} ms, {len(tiles)} tiles, slowest {max(tiles, default=0):.0f} ms")
    return steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default=str(ROOT / "data" / "ocsge.gpkg"), help="GeoPackage or postgresql:// URL")
    parser.add_argument("--center", default=",".join(map(str, CENTER)), help="LON,LAT zoomed in on")
    parser.add_argument("--runs", type=int, default=3, help="runs, each cold; the median per zoom is reported")
    args = parser.parse_args()
    center = [float(v) for v in args.center.split(",")]

    subprocess.run(["make", "--no-print-directory", "web"], cwd=ROOT, check=True, capture_output=True)
    started = time.monotonic()
    subprocess.run([BIN / "ocsge", "tiles", "build", "--store", args.store, "--collection", COLLECTION], check=True)
    build_s = time.monotonic() - started
    runs = []
    for number in range(args.runs):
        say(f"run {number + 1} of {args.runs}")
        runs.append(one_run(args.store, center))
    median = {z: statistics.median(run[z]["ms"] for run in runs) for z in ZOOMS}
    worst = max(median, key=lambda z: median[z])
    load = os.getloadavg()[0]
    lines = [
        f"# Web map zoom to idle ({time.strftime('%Y-%m-%d')})",
        "",
        f"Store {args.store} (cached zooms by `ocsge tiles build`: {build_s:.0f} s, 0 when current), center "
        f"{center}, {args.runs} cold runs (fresh server and browser context each), Chromium with software WebGL; "
        f"1-minute load average at the end: {load:.1f}.",
        "",
        "| zoom | " + " | ".join(str(z) for z in ZOOMS) + " |",
        "| --- |" + " --- |" * len(ZOOMS),
        "| zoom → idle, median (ms) | " + " | ".join(f"{median[z]:.0f}" for z in ZOOMS) + " |",
        "| zoom → idle, worst run (ms) | " + " | ".join(f"{max(r[z]['ms'] for r in runs):.0f}" for z in ZOOMS) + " |",
        "| tiles fetched | " + " | ".join(str(runs[0][z]["tiles"]) for z in ZOOMS) + " |",
        "| slowest tile, median (ms) | "
        + " | ".join(f"{statistics.median(r[z]['slowest_tile_ms'] for r in runs):.0f}" for z in ZOOMS)
        + " |",
        "",
        f"Worst zoom: {worst} at {median[worst]:.0f} ms (median) — target < {TARGET_MS:.0f} ms per zoom: "
        f"{'PASS' if median[worst] < TARGET_MS else 'MISS'}",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    results = {"machine": {**host(), "load_average": load}, "args": vars(args), "build_s": build_s, "runs": runs}
    say(f"results: {write_results('map-zoom', results, text)}")


if __name__ == "__main__":
    main()
