"""The tile cache of a GeoPackage store: two plain tables in the same file (GeoPackage allows tables it does not
register; QGIS and GDAL ignore them), read through one read-only connection per thread, written in WAL mode."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping
from pathlib import Path

from ..layers import Layer
from . import base
from .base import Box
from .gpkgschema import rtree_name
from .tilecache import (
    TILE_COLUMNS,
    TILES_TABLE,
    ZOOMS_TABLE,
    CachedTile,
    TileCache,
    TileSlot,
    real_boxes,
    stale_params,
    stale_sql,
    tile_rows,
)

_SCHEMA = (
    f"CREATE TABLE IF NOT EXISTS {TILES_TABLE} (collection TEXT NOT NULL, epsg INTEGER NOT NULL, z INTEGER NOT NULL, "
    "x INTEGER NOT NULL, y INTEGER NOT NULL, filter TEXT NOT NULL, data BLOB NOT NULL, etag TEXT NOT NULL, "
    "minx REAL, miny REAL, maxx REAL, maxy REAL, stale BOOLEAN NOT NULL DEFAULT FALSE, "
    "PRIMARY KEY (collection, epsg, z, x, y, filter))",
    f"CREATE TABLE IF NOT EXISTS {ZOOMS_TABLE} (collection TEXT NOT NULL, epsg INTEGER NOT NULL, "
    "min_zoom INTEGER NOT NULL, max_zoom INTEGER NOT NULL, PRIMARY KEY (collection, epsg))",
)


class GpkgTileCache(TileCache):
    def __init__(self, path: Path) -> None:
        super().__init__()
        self.path = path
        self._local = threading.local()

    def _reader(self) -> sqlite3.Connection | None:
        """A read-only connection of this thread, None while the file or the cache tables do not exist."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            if not self.path.exists():
                return None
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            self._local.conn = conn
        exists = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [TILES_TABLE]).fetchone()
        return conn if exists else None

    def _write(
        self, statements: list[tuple[str, list[object]]], many: tuple[str, list[tuple[object, ...]]] | None = None
    ) -> int:
        """Run ``statements`` then ``many`` in one transaction; returns the rows the last statement changed."""
        conn = sqlite3.connect(self.path, isolation_level=None, timeout=60)
        try:
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("BEGIN IMMEDIATE")
            for sql in _SCHEMA:
                conn.execute(sql)
            changed = 0
            for sql, params in statements:
                changed = conn.execute(sql, params).rowcount
            if many is not None:
                conn.executemany(*many)
            conn.execute("COMMIT")
            return changed
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()

    def zooms(self, layer: Layer, epsg: int) -> tuple[int, int] | None:
        conn = self._reader()
        row = (
            conn.execute(
                f"SELECT min_zoom, max_zoom FROM {ZOOMS_TABLE} WHERE collection = ? AND epsg = ?",
                [layer.collection_id, epsg],
            ).fetchone()
            if conn
            else None
        )
        return None if row is None else (int(row[0]), int(row[1]))

    def _record(self, layer: Layer, epsg: int, zooms: tuple[int, int]) -> bool:
        if self.zooms(layer, epsg) == zooms:
            return False
        self._write(
            [
                (f"DELETE FROM {TILES_TABLE} WHERE collection = ? AND epsg = ?", [layer.collection_id, epsg]),
                (f"INSERT OR REPLACE INTO {ZOOMS_TABLE} VALUES (?, ?, ?, ?)", [layer.collection_id, epsg, *zooms]),
            ]
        )
        return True

    def get(self, layer: Layer, epsg: int, z: int, x: int, y: int, key: str) -> CachedTile | None:
        conn = self._reader()
        row = (
            conn.execute(
                f"SELECT data, etag FROM {TILES_TABLE} WHERE collection = ? AND epsg = ? AND z = ? AND x = ? "
                "AND y = ? AND filter = ? AND NOT stale",
                [layer.collection_id, epsg, z, x, y, key],
            ).fetchone()
            if conn
            else None
        )
        return None if row is None else CachedTile(bytes(row[0]), row[1])

    def put(self, layer: Layer, epsg: int, slot: TileSlot, variants: Mapping[str, bytes]) -> None:
        marks = ", ".join("?" * len(TILE_COLUMNS))
        self._write(
            [
                (
                    f"DELETE FROM {TILES_TABLE} WHERE collection = ? AND epsg = ? AND z = ? AND x = ? AND y = ?",
                    [layer.collection_id, epsg, slot.z, slot.x, slot.y],
                )
            ],
            (
                f"INSERT INTO {TILES_TABLE} ({', '.join(TILE_COLUMNS)}) VALUES ({marks})",
                tile_rows(layer, epsg, slot, variants),
            ),
        )

    def counts(self, layer: Layer, epsg: int) -> tuple[int, int]:
        conn = self._reader()
        if conn is None:
            return 0, 0
        rows = dict(
            conn.execute(
                f"SELECT stale, count(*) FROM {TILES_TABLE} WHERE collection = ? AND epsg = ? AND filter = '' "
                "GROUP BY stale",
                [layer.collection_id, epsg],
            ).fetchall()
        )
        return int(rows.get(0, 0)), int(rows.get(1, 0))


def mark_stale(
    conn: sqlite3.Connection, layer: Layer, epsg: int, slice_values: Mapping[str, object], written: Box | None
) -> None:
    """Mark stale, in the caller's transaction, the cached tiles that meet the rows of the slice about to be replaced
    or the ``written`` box of its new rows: called by ``GpkgStore.replace_slice`` before its DELETE."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [TILES_TABLE]).fetchone():
        return
    table = base.quote(base.table_name(layer, epsg))
    exists = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [base.table_name(layer, epsg)]).fetchone()
    old: Box | None = None
    if exists:
        keys = list(slice_values)
        row = conn.execute(
            f"SELECT min(r.minx), min(r.miny), max(r.maxx), max(r.maxy) FROM {base.quote(_rtree(layer, epsg))} r "
            f"JOIN {table} t ON t.fid = r.id WHERE " + " AND ".join(f"t.{base.quote(k)} = ?" for k in keys),
            [slice_values[k] for k in keys],
        ).fetchone()
        old = None if row is None or row[0] is None else (row[0], row[1], row[2], row[3])
    for box in real_boxes([old, written]):
        conn.execute(stale_sql("?", TILES_TABLE), stale_params(layer, epsg, box))


def _rtree(layer: Layer, epsg: int) -> str:
    return rtree_name(base.table_name(layer, epsg), "geom")
