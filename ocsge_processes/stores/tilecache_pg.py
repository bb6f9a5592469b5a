"""The tile cache of a PostGIS store: two tables in the store's schema, on the store's connection pool."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Mapping, Sequence

import psycopg

from ..layers import Layer
from . import base
from .base import Box, Row
from .tilecache import TILES_TABLE, ZOOMS_TABLE, Statement, TileCache, create_sql, real_boxes, stale_params, stale_sql

Connection = psycopg.Connection[Row]
#: The store's pooled connections (``PostgisStore._conn``): time limit and errors handled as for every query.
Connect = Callable[[], contextlib.AbstractContextManager[Connection]]

SCHEMA = "ocsge"
_TILES = f"{SCHEMA}.{TILES_TABLE}"
_ZOOMS = f"{SCHEMA}.{ZOOMS_TABLE}"
_CREATE = (f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}", *create_sql(_TILES, _ZOOMS, "bytea", "double precision"))


class PgTileCache(TileCache):
    def __init__(self, connect: Connect) -> None:
        super().__init__("%s", _TILES, _ZOOMS)
        self._connect = connect

    def _fetch(self, sql: str, params: Sequence[object]) -> list[Row]:
        with self._connect() as conn:
            found = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [_TILES]).fetchone()
            return conn.execute(sql, params).fetchall() if found and found[0] else []

    def _write(self, statements: list[Statement], many: tuple[str, list[Row]] | None = None) -> None:
        with self._connect() as conn, conn.transaction():
            for sql in _CREATE:
                conn.execute(sql)
            for sql, params in statements:
                conn.execute(sql, params)
            if many is not None:
                with conn.cursor() as cursor:
                    cursor.executemany(*many)


def mark_stale(
    conn: Connection, layer: Layer, epsg: int, slice_values: Mapping[str, object], written: Box | None
) -> None:
    """Mark stale, in the caller's transaction, the cached tiles that meet the rows of the slice about to be replaced
    or the ``written`` box of its new rows: called by ``PostgisStore.replace_slice`` before its DELETE."""
    found = conn.execute(
        "SELECT to_regclass(%s) IS NOT NULL, to_regclass(%s) IS NOT NULL",
        [_TILES, f"{SCHEMA}.{base.quote(base.table_name(layer, epsg))}"],
    ).fetchone()
    if not found or not found[0]:
        return
    old: Box | None = None
    if found[1]:
        keys = list(slice_values)
        row = conn.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT ST_Extent(geom) AS e FROM "
            f"{SCHEMA}.{base.quote(base.table_name(layer, epsg))} WHERE "
            + " AND ".join(f"{base.quote(k)} = %s" for k in keys)
            + ") s",
            [slice_values[k] for k in keys],
        ).fetchone()
        old = None if row is None or row[0] is None else (row[0], row[1], row[2], row[3])
    for box in real_boxes([old, written]):
        conn.execute(stale_sql("%s", _TILES), stale_params(layer, epsg, box))
