"""The tile cache of a GeoPackage store: two plain tables in the same file (GeoPackage allows tables it does not
register; QGIS and GDAL ignore them), read through one read-only connection per thread, written in WAL mode."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

from ..layers import Layer
from ..shareddb import wal_connection
from . import base
from .base import Box, Row
from .gpkgschema import rtree_name
from .tilecache import TILES_TABLE, ZOOMS_TABLE, Statement, TileCache, create_sql, real_boxes, stale_params, stale_sql

_SCHEMA = create_sql(TILES_TABLE, ZOOMS_TABLE, "BLOB", "REAL")


class GpkgTileCache(TileCache):
    def __init__(self, path: Path) -> None:
        super().__init__("?", TILES_TABLE, ZOOMS_TABLE)
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

    def _fetch(self, sql: str, params: Sequence[object]) -> list[Row]:
        conn = self._reader()
        return conn.execute(sql, params).fetchall() if conn else []

    def _write(self, statements: list[Statement], many: tuple[str, list[Row]] | None = None) -> None:
        conn = wal_connection(self.path, 60)
        try:
            conn.execute("BEGIN IMMEDIATE")
            for sql in _SCHEMA:
                conn.execute(sql)
            for sql, params in statements:
                conn.execute(sql, params)
            if many is not None:
                conn.executemany(*many)
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()


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
