"""The tile cache of a PostGIS store: two tables in the store's schema, on the store's connection pool."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping

import psycopg

from ..layers import Layer
from . import base
from .base import Box, Row
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

Connection = psycopg.Connection[Row]
#: The store's pooled connections (``PostgisStore._conn``): time limit and errors handled as for every query.
Connect = Callable[[], contextlib.AbstractContextManager[Connection]]

SCHEMA = "ocsge"
_TILES = f"{SCHEMA}.{TILES_TABLE}"
_ZOOMS = f"{SCHEMA}.{ZOOMS_TABLE}"
_CREATE = (
    f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}",
    f"CREATE TABLE IF NOT EXISTS {_TILES} (collection text NOT NULL, epsg integer NOT NULL, z integer NOT NULL, "
    "x integer NOT NULL, y integer NOT NULL, filter text NOT NULL, data bytea NOT NULL, etag text NOT NULL, "
    "minx double precision, miny double precision, maxx double precision, maxy double precision, "
    "stale boolean NOT NULL DEFAULT FALSE, PRIMARY KEY (collection, epsg, z, x, y, filter))",
    f"CREATE TABLE IF NOT EXISTS {_ZOOMS} (collection text NOT NULL, epsg integer NOT NULL, "
    "min_zoom integer NOT NULL, max_zoom integer NOT NULL, PRIMARY KEY (collection, epsg))",
)


class PgTileCache(TileCache):
    def __init__(self, connect: Connect) -> None:
        super().__init__()
        self._connect = connect

    @contextlib.contextmanager
    def _reading(self) -> Iterator[Connection | None]:
        """A pooled connection, None while the cache tables do not exist."""
        with self._connect() as conn:
            row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [_TILES]).fetchone()
            yield conn if row and row[0] else None

    @contextlib.contextmanager
    def _writing(self) -> Iterator[Connection]:
        with self._connect() as conn, conn.transaction():
            for sql in _CREATE:
                conn.execute(sql)
            yield conn

    def zooms(self, layer: Layer, epsg: int) -> tuple[int, int] | None:
        with self._reading() as conn:
            row = (
                conn.execute(
                    f"SELECT min_zoom, max_zoom FROM {_ZOOMS} WHERE collection = %s AND epsg = %s",
                    [layer.collection_id, epsg],
                ).fetchone()
                if conn
                else None
            )
        return None if row is None else (int(row[0]), int(row[1]))

    def _record(self, layer: Layer, epsg: int, zooms: tuple[int, int]) -> bool:
        if self.zooms(layer, epsg) == zooms:
            return False
        with self._writing() as conn:
            conn.execute(f"DELETE FROM {_TILES} WHERE collection = %s AND epsg = %s", [layer.collection_id, epsg])
            conn.execute(
                f"INSERT INTO {_ZOOMS} VALUES (%s, %s, %s, %s) ON CONFLICT (collection, epsg) DO UPDATE "
                "SET min_zoom = EXCLUDED.min_zoom, max_zoom = EXCLUDED.max_zoom",
                [layer.collection_id, epsg, *zooms],
            )
        return True

    def get(self, layer: Layer, epsg: int, z: int, x: int, y: int, key: str) -> CachedTile | None:
        with self._reading() as conn:
            row = (
                conn.execute(
                    f"SELECT data, etag FROM {_TILES} WHERE collection = %s AND epsg = %s AND z = %s AND x = %s "
                    "AND y = %s AND filter = %s AND NOT stale",
                    [layer.collection_id, epsg, z, x, y, key],
                ).fetchone()
                if conn
                else None
            )
        return None if row is None else CachedTile(bytes(row[0]), row[1])

    def put(self, layer: Layer, epsg: int, slot: TileSlot, variants: Mapping[str, bytes]) -> None:
        marks = ", ".join(["%s"] * len(TILE_COLUMNS))
        with self._writing() as conn:
            conn.execute(
                f"DELETE FROM {_TILES} WHERE collection = %s AND epsg = %s AND z = %s AND x = %s AND y = %s",
                [layer.collection_id, epsg, slot.z, slot.x, slot.y],
            )
            with conn.cursor() as cursor:
                cursor.executemany(
                    f"INSERT INTO {_TILES} ({', '.join(TILE_COLUMNS)}) VALUES ({marks})",
                    tile_rows(layer, epsg, slot, variants),
                )

    def counts(self, layer: Layer, epsg: int) -> tuple[int, int]:
        with self._reading() as conn:
            rows = (
                conn.execute(
                    f"SELECT stale, count(*) FROM {_TILES} WHERE collection = %s AND epsg = %s AND filter = '' "
                    "GROUP BY stale",
                    [layer.collection_id, epsg],
                ).fetchall()
                if conn
                else []
            )
        found: dict[bool, int] = dict(rows)
        return int(found.get(False, 0)), int(found.get(True, 0))


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
