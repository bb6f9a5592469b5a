"""Size budget of the coarse zooms: the densest cached tiles of zooms 7-9 of the full-scale Gironde, as the previous
generalisation built them (read from the store's tile cache) against the current one (rebuilt here), with each
tile's bytes and its worst per-class area error against the full-resolution polygons.

One command: ``.venv/bin/python bench/tile_budget.py [--gpkg bench/.cache/gironde-cell100-seed0/ocsge.gpkg]``.

The GeoPackage of bench/tiles.py (1.75 M generated polygons) with its pyramid built by ``ocsge tiles build``; it is
only read. A full rebuild of zooms 0-13 takes ~50 min here, so only the densest tile of ``--top`` (default 7) and its
subtree down to zoom 9 are rebuilt, from the cached zoom-10 tiles as a build does (zoom 10 is generalised finely
in both). Classes are judged as tests/tiles/test_generalise.py does: those covering at least 1 % of the tile, per
(CS code, millésime) and (US code, millésime), against the issue's 5 %.
"""

from __future__ import annotations

import argparse
import collections
import sqlite3
import sys
import time
from pathlib import Path

import numpy as np
import pyogrio
import pyproj
import shapely

sys.path.insert(0, str(Path(__file__).resolve().parent))

from common import host, say, write_results

from ocsge_processes.stores.reproject import reproject
from ocsge_processes.tiles.decode import decode
from ocsge_processes.tiles.generalise import LAST_COARSE_ZOOM, generalise
from ocsge_processes.tiles.matrix import EXTENT, ORIGIN, tile_bounds, tile_query_bbox, tile_span
from ocsge_processes.tiles.mvt import encode_layer
from ocsge_processes.tiles.pyramid import on_grid

COLLECTION, TABLE, EPSG = "ocsge-occupation-sol", "occupation_sol", 2154
FIELDS = ("code_cs", "code_us", "millesime")
JUDGED = (("code_cs", "millesime"), ("code_us", "millesime"))
BUDGET = 500_000
FLOOR = 0.01
Tile = tuple[int, int, int]


class Pyramid:
    """The cached tiles (read only) and the current generalisation of the coarse zooms above them."""

    def __init__(self, gpkg: Path) -> None:
        self.db = sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True)
        self.seconds = 0.0

    def cached(self, z: int, x: int, y: int) -> bytes:
        row = self.db.execute(
            "SELECT data FROM ocsge_tile_cache WHERE collection = ? AND epsg = ? AND z = ? AND x = ? AND y = ? "
            "AND filter = ''",
            [COLLECTION, EPSG, z, x, y],
        ).fetchone()
        return bytes(row[0]) if row else b""

    def densest(self, z: int) -> Tile:
        row = self.db.execute(
            "SELECT x, y FROM ocsge_tile_cache WHERE collection = ? AND epsg = ? AND z = ? AND filter = '' "
            "ORDER BY length(data) DESC LIMIT 1",
            [COLLECTION, EPSG, z],
        ).fetchone()
        return z, int(row[0]), int(row[1])

    def rebuilt(self, z: int, x: int, y: int, out: dict[Tile, bytes]) -> bytes:
        """Tile z/x/y generalised from its children (rebuilt themselves down to the first fine zoom), kept in
        ``out``."""
        if z > LAST_COARSE_ZOOM:
            return self.cached(z, x, y)
        keys: list[tuple[object, ...]] = []
        parts = []
        for cx in (2 * x, 2 * x + 1):
            for cy in (2 * y, 2 * y + 1):
                child_keys, geoms = features(self.rebuilt(z + 1, cx, cy, out), z + 1, cx, cy)
                keys += child_keys
                parts.append(geoms)
        start = time.perf_counter()
        result = generalise(FIELDS, keys, np.concatenate(parts), z, x, y)
        bounds = tile_bounds(z, x, y)
        data = encode_layer(COLLECTION, on_grid(result.geometries, bounds), result.properties(), bounds, 0.0, EXTENT, 0)
        self.seconds += time.perf_counter() - start
        out[(z, x, y)] = data
        say(f"rebuilt {z}/{x}/{y}: {len(data)} bytes")
        return data


def features(data: bytes, z: int, x: int, y: int) -> tuple[list[tuple[object, ...]], np.ndarray]:
    """A tile's classes and geometries back in EPSG:3857, as pyramid._Builder._cached decodes them."""
    found = decode(data)[COLLECTION].features if data else []
    unit = 2 * ORIGIN / (EXTENT << z)
    geoms = shapely.transform(
        np.array([f.geometry for f in found], dtype=object),
        lambda c: np.column_stack((-ORIGIN + (x * EXTENT + c[:, 0]) * unit, ORIGIN - (y * EXTENT + c[:, 1]) * unit)),
    )
    return [tuple(f.properties.get(n) for n in FIELDS) for f in found], geoms


class FullResolution:
    """The polygons under a tile, in EPSG:3857, for the per-class areas a tile should hold."""

    def __init__(self, gpkg: Path, tile: Tile) -> None:
        frame = pyogrio.read_dataframe(gpkg, layer=TABLE, bbox=tile_query_bbox(*tile, EPSG), columns=list(FIELDS))
        self.frame = frame
        self.geoms = reproject(np.asarray(frame.geometry.values, dtype=object), EPSG, pyproj.CRS.from_epsg(3857))

    def areas(self, tile: Tile, fields: tuple[str, ...]) -> dict[tuple[object, ...], float]:
        clipped = shapely.area(shapely.clip_by_rect(self.geoms, *tile_bounds(*tile)))
        out: dict[tuple[object, ...], float] = collections.Counter()
        for key, area in zip(zip(*(self.frame[f] for f in fields), strict=True), clipped, strict=True):
            out[tuple(v.item() if hasattr(v, "item") else v for v in key)] += float(area)
        return out


def worst_error(data: bytes, tile: Tile, full: FullResolution) -> tuple[float, str, int]:
    """The largest relative area error over the judged classes, which class, and how many were judged."""
    keys, geoms = features(data, *tile)
    areas = shapely.area(geoms)
    worst, which, judged = 0.0, "", 0
    for fields in JUDGED:
        got: dict[tuple[object, ...], float] = collections.Counter()
        for key, area in zip(keys, areas, strict=True):
            got[tuple(key[FIELDS.index(f)] for f in fields)] += float(area)
        for key, area in full.areas(tile, fields).items():
            if area < FLOOR * tile_span(tile[0]) ** 2:
                continue
            judged += 1
            error = abs(got.get(key, 0.0) - area) / area
            if error > worst:
                worst, which = error, " ".join(map(str, key))
    return worst, which, judged


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gpkg", type=Path, default=Path("bench/.cache/gironde-cell100-seed0/ocsge.gpkg"))
    parser.add_argument("--top", type=int, default=7, help="the zoom whose densest tile's subtree is rebuilt")
    args = parser.parse_args()
    pyramid = Pyramid(args.gpkg)
    top = pyramid.densest(args.top)
    rebuilt: dict[Tile, bytes] = {}
    pyramid.rebuilt(*top, rebuilt)
    say("reading the full-resolution polygons")
    full = FullResolution(args.gpkg, top)
    chosen = [top] + [
        max((t for t in rebuilt if t[0] == z), key=lambda t: len(pyramid.cached(*t)))
        for z in range(args.top + 1, LAST_COARSE_ZOOM + 1)
    ]
    rows = []
    for tile in chosen:
        before, after = pyramid.cached(*tile), rebuilt[tile]
        rows.append(
            {
                "tile": "/".join(map(str, tile)),
                "before_bytes": len(before),
                "after_bytes": len(after),
                "ratio": len(before) / len(after),
                "before_error": worst_error(before, tile, full),
                "after_error": worst_error(after, tile, full),
            }
        )
    lines = [
        f"# Coarse zooms' size budget ({host()['cpu_model']}, {len(full.frame)} polygons under {rows[0]['tile']})",
        "",
        f"Rebuilt {len(rebuilt)} tiles (zooms {args.top}-{LAST_COARSE_ZOOM}), {pyramid.seconds:.0f} s generalising.",
        "",
        "| tile | before KiB | after KiB | before / after | worst class error before | after | classes judged |",
        "|---|---:|---:|---:|---|---|---:|",
    ]
    for row in rows:
        b, a = row["before_error"], row["after_error"]
        lines.append(
            f"| {row['tile']} | {row['before_bytes'] / 1024:.0f} | {row['after_bytes'] / 1024:.0f} | "
            f"{row['ratio']:.2f} | {b[0]:.1%} ({b[1]}) | {a[0]:.1%} ({a[1]}) | {a[2]} |"
        )
    lines += ["", "| zoom | tiles rebuilt | largest before KiB | largest after KiB |", "|---:|---:|---:|---:|"]
    for z in range(args.top, LAST_COARSE_ZOOM + 1):
        tiles = [t for t in rebuilt if t[0] == z]
        lines.append(
            f"| {z} | {len(tiles)} | {max(len(pyramid.cached(*t)) for t in tiles) / 1024:.0f} | "
            f"{max(len(rebuilt[t]) for t in tiles) / 1024:.0f} |"
        )
    verdict = max(map(len, rebuilt.values())) <= BUDGET and all(r["after_error"][0] <= 0.05 for r in rows)
    lines += ["", f"Budget {BUDGET} bytes and 5 % per class: {'PASS' if verdict else 'FAIL'}"]
    text = "\n".join(lines) + "\n"
    print(text)
    sizes = sorted(len(d) for d in rebuilt.values())
    write_results("tile-budget", {"host": host(), "rows": rows, "rebuilt_sizes": sizes}, text)


if __name__ == "__main__":
    main()
