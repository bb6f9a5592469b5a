"""The scale-out store: PostGIS, one table per layer in schema ``ocsge``, GiST-indexed.

Same contract as the GeoPackage store (the shared CQL2 translator, the same feature encoding and bulk
reprojection in Python), so a client cannot tell them apart except by speed on big data.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from typing import ClassVar

import geopandas as gpd
import numpy as np
import psycopg
import pyproj
import shapely
from psycopg_pool import ConnectionPool, PoolTimeout
from pygeofilter import ast
from shapely.geometry.base import BaseGeometry

from ..errors import InvalidInputError, StoreBusyError, StoreError
from ..layers import Layer
from ..parallel import threaded
from . import base, columnar, postgis_arrow, tilecache_pg
from .base import (
    Box,
    FeaturePage,
    FeatureQuery,
    FeatureStore,
    GeoJSON,
    Geometries,
    Row,
    TileEncoder,
    TileRequest,
    TileRows,
    quote,
)
from .cql2 import Dialect, translate
from .tilecache import TileCache
from .timeout import QueryTimeoutError, query_timeout

#: A pooled connection; rows come back as tuples (psycopg's default row factory).
Connection = psycopg.Connection[Row]

SCHEMA = "ocsge"
_SQL_TYPES = {"string": "text", "integer": "bigint", "number": "double precision", "boolean": "boolean"}
_PG_FUNCTIONS = {
    "intersects": "ST_Intersects",
    "disjoint": "ST_Disjoint",
    "contains": "ST_Contains",
    "within": "ST_Within",
    "touches": "ST_Touches",
    "crosses": "ST_Crosses",
    "overlaps": "ST_Overlaps",
    "equals": "ST_Equals",
}
_pool_lock = threading.Lock()
#: Connections per process and time limit: one for each request thread of a web worker (``OCSGE_WORKER_THREADS``,
#: 16 by default), so that requests never queue for a connection while a thread is free.
POOL_SIZE = int(os.environ.get("OCSGE_PG_POOL_SIZE", os.environ.get("OCSGE_WORKER_THREADS", "16")))
#: Seconds a query waits for a free connection before the client gets a 503 to retry.
POOL_WAIT_S = 30


@functools.cache
def _pool(url: str, timeout_ms: int = 0) -> ConnectionPool[Connection]:
    """One pool per database URL, time limit and process: providers are rebuilt per request, connections must not be.

    The limit is PostgreSQL's ``statement_timeout``, set once per connection (0: none).
    """
    with _pool_lock:
        kwargs: dict[str, object] = {"autocommit": True, "options": f"-c statement_timeout={timeout_ms}"}
        pool: ConnectionPool[Connection] = ConnectionPool(
            url, min_size=1, max_size=POOL_SIZE, kwargs=kwargs, open=False
        )
        try:
            pool.open(wait=True, timeout=10)
        except psycopg.OperationalError as err:
            raise StoreError(f"cannot connect to PostGIS store {_safe(url)}: {err}") from err
        return pool


def _timeout_ms() -> int:
    """This process's query time limit as PostgreSQL's ``statement_timeout`` (0: none)."""
    limit = query_timeout()
    return round(limit * 1000) if limit else 0


def _planned_rows(conn: Connection, sql: str, params: Sequence[object]) -> float:
    """The rows the planner expects ``sql`` to return (table statistics; no row is read)."""
    row = conn.execute(f"EXPLAIN (FORMAT JSON) {sql}", params).fetchone()
    return float(row[0][0]["Plan"]["Plan Rows"]) if row else 0.0


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    return psycopg.conninfo.make_conninfo(url, password="***") if "password" in url or "@" in url else url


class PostgisStore(FeatureStore):
    """OCS GE layers in a PostGIS database."""

    builds_tiles_in_database: ClassVar[bool] = True

    def __init__(self, url: str) -> None:
        self.url = url

    @contextlib.contextmanager
    def _conn(self) -> Iterator[Connection]:
        """A pooled connection under this process's query time limit; a cancelled statement is a QueryTimeoutError,
        a value PostgreSQL cannot take (a NUL in a text) the client's InvalidInputError."""
        limit = query_timeout()
        pool = _pool(self.url, _timeout_ms())
        try:
            conn = pool.getconn(timeout=POOL_WAIT_S)
        except PoolTimeout:
            raise StoreBusyError(
                f"all {POOL_SIZE} connections of this server to the store stayed busy for "
                f"{POOL_WAIT_S} s; retry shortly"
            ) from None
        try:
            with conn:  # as the pool's own connection(): commit or roll back, replace a broken connection
                yield conn
        except psycopg.errors.QueryCanceled as err:
            raise QueryTimeoutError(limit or 0) from err
        except psycopg.DataError as err:  # SQLSTATE class 22: a value the client sent (a NUL in a text, a range)
            raise InvalidInputError(f"the store cannot use a value of this request: {err}") from None
        finally:
            pool.putconn(conn)

    def tables(self) -> dict[str, int]:
        with self._conn() as conn:
            rows = (
                conn.execute(
                    "SELECT c.table_name, c.feature_count FROM ocsge.layer_counts c "
                    "JOIN information_schema.tables t ON t.table_schema = 'ocsge' AND t.table_name = c.table_name"
                ).fetchall()
                if _has_schema(conn)
                else []
            )
        return dict(rows)

    def extent(self, layer: Layer, epsg: int) -> Box | None:
        table = base.table_name(layer, epsg)
        if table not in self.tables():
            return None
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                f"(SELECT ST_Extent(geom) AS e FROM {SCHEMA}.{quote(table)}) s"
            ).fetchone()
        return None if row is None or row[0] is None else (row[0], row[1], row[2], row[3])

    def query(self, layer: Layer, epsg: int, query: FeatureQuery) -> FeaturePage:
        table = _qualified(layer, epsg)
        where, params = _where(layer, epsg, query)
        with self._conn() as conn:
            matched = self._count(conn, layer, epsg, table, where, params, query)
            if query.hits_only:
                return FeaturePage([], matched)
            sql, sql_params = base.page_sql(layer, table, where, params, query, "ST_AsBinary(geom)", "%s")
            rows = conn.execute(sql, sql_params).fetchall()
        return base.page_from_rows(layer, epsg, rows, query, _decode, matched)

    def _count(
        self,
        conn: Connection,
        layer: Layer,
        epsg: int,
        table: str,
        where: str,
        params: list[object],
        query: FeatureQuery,
    ) -> int | None:
        """Exact; O(1) when unfiltered (maintained at write time), capped when filtered."""
        if where == "TRUE":
            row = conn.execute(
                "SELECT feature_count FROM ocsge.layer_counts WHERE table_name = %s", [base.table_name(layer, epsg)]
            ).fetchone()
            return int(row[0]) if row else 0
        row = conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {where} LIMIT %s) s", [*params, query.count_cap + 1]
        ).fetchone()
        count = int(row[0]) if row else 0
        return None if count > query.count_cap else count

    def get(self, layer: Layer, epsg: int, feature_id: str, out_crs: pyproj.CRS | None = None) -> GeoJSON | None:
        condition = base.key_condition(layer, feature_id)
        if condition is None:
            return None
        rows = self._feature_rows(layer, epsg, f"{quote(condition[0])} = %s LIMIT 1", [condition[1]])
        features = base.page_features(layer, epsg, list(layer.fields), rows, FeatureQuery(out_crs=out_crs), _decode)
        return features[0] if features else None

    def distinct(self, layer: Layer, epsg: int, field: str, where: ast.Node | None = None) -> list[object]:
        condition, params = _where(layer, epsg, FeatureQuery(where=where))
        column = quote(base.layer_field(layer, field))
        rows = self._fetch(
            f"SELECT DISTINCT {column} FROM {_qualified(layer, epsg)} WHERE {condition} AND {column} IS NOT NULL "
            "ORDER BY 1",
            params,
        )
        return [row[0] for row in rows]

    def read_frame(
        self,
        layer: Layer,
        epsg: int,
        bbox: Box | None = None,
        equals: Mapping[str, object] | None = None,
        fields: Sequence[str] | None = None,
    ) -> gpd.GeoDataFrame:
        where, params = _where(layer, epsg, FeatureQuery(equals=tuple((equals or {}).items())))
        table = _qualified(layer, epsg)
        layer = base.with_fields(layer, fields)
        if bbox is not None:
            where += f" AND geom && ST_MakeEnvelope(%s, %s, %s, %s, {epsg})"
            params.extend(bbox)
        columns = ", ".join([*map(quote, layer.fields), "ST_AsBinary(geom) AS wkb"])
        sql = f"SELECT {columns} FROM {table} WHERE {where} ORDER BY fid"
        with self._conn() as conn:
            if postgis_arrow.wanted(_planned_rows(conn, sql, params)):
                bound = psycopg.ClientCursor(conn).mogrify(sql, params)
            else:  # binary: geometries arrive as bytes, numbers without text parsing
                return columnar.frame_from_rows(layer, epsg, conn.cursor(binary=True).execute(sql, params).fetchall())
        arrow, shapes = postgis_arrow.read_table(self.url, bound, "wkb", _timeout_ms())
        return columnar.frame(layer, epsg, {name: arrow.column(i) for i, name in enumerate(layer.fields)}, shapes)

    def _feature_rows(self, layer: Layer, epsg: int, condition: str, params: list[object]) -> list[Row]:
        """The store key, every field and the WKB of the rows meeting ``condition`` (with any ORDER BY, LIMIT)."""
        columns = ", ".join(["fid", *map(quote, layer.fields), "ST_AsBinary(geom)"])
        return self._fetch(f"SELECT {columns} FROM {_qualified(layer, epsg)} WHERE {condition}", params)

    def _fetch(self, sql: str, params: list[object]) -> list[Row]:
        """All the rows of one query, on a pooled connection given back before they are used."""
        with self._conn() as conn:
            return conn.execute(sql, params).fetchall()

    def tile_rows(self, layer: Layer, epsg: int, request: TileRequest) -> TileRows:
        """Through the GiST index; the fields of a tile only."""
        where, params = _tile_where(epsg, request)
        columns = ", ".join([*(f"t.{quote(n)}" for n in request.fields), "ST_AsBinary(t.geom)"])
        rows = self._fetch(f"SELECT {columns} FROM {_qualified(layer, epsg)} t WHERE {where} ORDER BY t.fid", params)
        return TileRows([row[:-1] for row in rows], _decode([row[-1] for row in rows]))

    def tile(self, layer: Layer, epsg: int, request: TileRequest, encode: TileEncoder) -> bytes:
        """Built in one query on the GiST index (``encode`` is not needed).

        Each geometry is clipped to the buffered tile before it is simplified (a large polygon simplified whole can
        lose the sliver a tile shows), then ST_AsMVTGeom snaps, validates and clips it, as ``tiles.mvt`` does.
        """
        where, params = _tile_where(epsg, request)
        columns = ", ".join(f"t.{quote(n)}" for n in request.fields)
        extent, buffer = int(request.extent), int(request.buffer)
        envelope = "ST_TileEnvelope(%s, %s, %s)"
        sql = (
            f"SELECT ST_AsMVT(m.*, %s, {extent}, 'geom') FROM ("
            "SELECT ST_AsMVTGeom(ST_SimplifyPreserveTopology(ST_ClipByBox2D(ST_Transform(t.geom, 3857), "
            f"ST_TileEnvelope(%s, %s, %s, margin => %s)), %s), {envelope}, {extent}, {buffer}, true) "
            f"AS geom, {columns} FROM {_qualified(layer, epsg)} t "
            f"WHERE {where} ORDER BY t.fid) m WHERE m.geom IS NOT NULL"
        )
        z, x, y = request.z, request.x, request.y
        with self._conn() as conn:
            row = conn.execute(
                sql, [layer.collection_id, z, x, y, buffer / extent, request.tolerance, z, x, y, *params]
            ).fetchone()
        return bytes(row[0]) if row and row[0] is not None else b""

    def version(self, layer: Layer, epsg: int) -> str:
        """The transaction id that last wrote the layer's row count: replace_slice updates that row in the same
        transaction as the data."""
        with self._conn() as conn:
            row = (
                conn.execute(
                    "SELECT xmin::text, feature_count FROM ocsge.layer_counts WHERE table_name = %s",
                    [base.table_name(layer, epsg)],
                ).fetchone()
                if _has_schema(conn)
                else None
            )
        return "" if row is None else f"{row[0]}-{row[1]}"

    def slice_version(self, layer: Layer, epsg: int, slice_values: Mapping[str, object]) -> str:
        """Count and fid range of the slice: fids are an identity column, so rewritten rows get new ones."""
        if base.table_name(layer, epsg) not in self.tables():
            return ""
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT count(*), min(fid), max(fid) FROM {_qualified(layer, epsg)} WHERE "
                + " AND ".join(f"{quote(k)} = %s" for k in slice_values),
                list(slice_values.values()),
            ).fetchone()
        return f"{row[0]}-{row[1]}-{row[2]}" if row and row[0] else ""

    def marks(self, scope: str) -> dict[str, str]:
        with self._conn() as conn:
            exists = conn.execute("SELECT to_regclass('ocsge.marks') IS NOT NULL").fetchone()
            if not (exists and exists[0]):
                return {}
            rows = conn.execute("SELECT key, value FROM ocsge.marks WHERE scope = %s", [scope]).fetchall()
        return {str(key): str(value) for key, value in rows}

    def set_mark(self, scope: str, key: str, value: str | None) -> None:
        with self._marks_writer() as conn:
            if value is None:
                conn.execute("DELETE FROM ocsge.marks WHERE scope = %s AND key = %s", [scope, key])
            else:
                conn.execute(
                    "INSERT INTO ocsge.marks VALUES (%s, %s, %s) "
                    "ON CONFLICT (scope, key) DO UPDATE SET value = EXCLUDED.value",
                    [scope, key, value],
                )

    def swap_mark(self, scope: str, key: str, expected: str | None, value: str | None) -> bool:
        """Each case is one statement: an UPDATE or DELETE waits for a concurrent one's row lock, then tests its
        WHERE again on the row as that one left it; a concurrent INSERT of the same key makes this one do nothing."""
        where = "scope = %s AND key = %s AND value = %s"
        with self._marks_writer() as conn:
            if expected is None:
                if value is None:
                    found = conn.execute("SELECT 1 FROM ocsge.marks WHERE scope = %s AND key = %s", [scope, key])
                    return found.fetchone() is None
                done = conn.execute(
                    "INSERT INTO ocsge.marks VALUES (%s, %s, %s) ON CONFLICT DO NOTHING", [scope, key, value]
                )
            elif value is None:
                done = conn.execute(f"DELETE FROM ocsge.marks WHERE {where}", [scope, key, expected])
            else:
                done = conn.execute(f"UPDATE ocsge.marks SET value = %s WHERE {where}", [value, scope, key, expected])
            return done.rowcount == 1

    @contextlib.contextmanager
    def _marks_writer(self) -> Iterator[Connection]:
        """A pooled connection with the notes' table created."""
        with self._conn() as conn:
            conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS ocsge.marks (scope text, key text, value text, PRIMARY KEY (scope, key))"
            )
            yield conn

    @functools.cache  # noqa: B019  # one cache object per store, which open_store keeps for the process' life
    def tile_cache(self) -> TileCache:
        return tilecache_pg.PgTileCache(self._conn)

    def replace_slice(
        self, layer: Layer, epsg: int, frame: gpd.GeoDataFrame, slice_values: Mapping[str, object]
    ) -> int:
        table = base.table_name(layer, epsg)
        qualified = f"{SCHEMA}.{quote(table)}"
        names = list(layer.fields)
        geoms = shapely.to_wkb(
            shapely.set_srid(np.asarray(frame.geometry.values, dtype=object), epsg), hex=True, include_srid=True
        )
        records = frame[names].astype(object).where(frame[names].notna(), None).itertuples(index=False, name=None)
        with self._conn() as conn, conn.transaction():
            _create_table(conn, layer, epsg, table)
            tilecache_pg.mark_stale(conn, layer, epsg, slice_values, _frame_box(frame))
            conn.execute(
                f"DELETE FROM {qualified} WHERE " + " AND ".join(f"{quote(k)} = %s" for k in slice_values),
                list(slice_values.values()),
            )
            columns = ", ".join([*(quote(n) for n in names), "geom"])
            with conn.cursor().copy(f"COPY {qualified} ({columns}) FROM STDIN") as copy:
                for record, geom in zip(records, geoms, strict=True):
                    copy.write_row((*record, geom))
            conn.execute(
                "INSERT INTO ocsge.layer_counts VALUES (%s, (SELECT count(*) FROM " + qualified + ")) "
                "ON CONFLICT (table_name) DO UPDATE SET feature_count = EXCLUDED.feature_count",
                [table],
            )
        with self._conn() as conn:
            conn.execute(f"ANALYZE {qualified}")
        return len(frame)


def _frame_box(frame: gpd.GeoDataFrame) -> Box | None:
    """The box of a frame's geometries, None when it has none."""
    if frame.empty:
        return None
    minx, miny, maxx, maxy = (float(v) for v in frame.total_bounds)
    return (minx, miny, maxx, maxy)


def _qualified(layer: Layer, epsg: int) -> str:
    """The SQL name of a layer table, schema included."""
    return f"{SCHEMA}.{quote(base.table_name(layer, epsg))}"


def _tile_where(epsg: int, request: TileRequest) -> tuple[str, list[object]]:
    """The candidates of a tile (table alias ``t``): box on the GiST index, then the ``equals`` values."""
    clauses = [f"t.geom && ST_MakeEnvelope(%s, %s, %s, %s, {epsg})"]
    params: list[object] = list(request.bbox)
    for name, value in request.equals:
        clauses.append(f"t.{quote(name)} = %s")
        params.append(value)
    return " AND ".join(clauses), params


def _has_schema(conn: Connection) -> bool:
    row = conn.execute("SELECT to_regclass('ocsge.layer_counts') IS NOT NULL").fetchone()
    return bool(row and row[0])


def _create_table(conn: Connection, layer: Layer, epsg: int, table: str) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    conn.execute("CREATE TABLE IF NOT EXISTS ocsge.layer_counts (table_name text PRIMARY KEY, feature_count bigint)")
    columns = ", ".join(f"{quote(n)} {_SQL_TYPES[t]}" for n, t in layer.fields.items())
    qualified = f"{SCHEMA}.{quote(table)}"
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {qualified} (fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        f"{columns}, geom geometry(MultiPolygon, {epsg}) NOT NULL)"
    )
    # A table written by an earlier version gets the fields the layer gained since (null in its rows); checked first,
    # since ALTER TABLE would lock out the table's readers for the whole write.
    have = {
        row[0]
        for row in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            [SCHEMA, table],
        )
    }
    for name, kind in layer.fields.items():
        if name not in have:
            conn.execute(f"ALTER TABLE {qualified} ADD COLUMN {quote(name)} {_SQL_TYPES[kind]}")
    conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(f'{table}_geom_gist')} ON {qualified} USING gist (geom)")
    for column in sorted({layer.id_field, *layer.slice_keys, *layer.coded}):
        conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(f'{table}_{column}_idx')} ON {qualified} ({quote(column)})")


def _where(layer: Layer, epsg: int, query: FeatureQuery) -> tuple[str, list[object]]:
    params: list[object] = []
    clauses = []

    def spatial(op: str, geometry: BaseGeometry, p: list[object]) -> str:
        p.append(shapely.to_wkb(geometry))
        return f"{_PG_FUNCTIONS[op]}(geom, ST_GeomFromWKB(%s, {epsg}))"

    area = base.bbox_area(query)
    if area is not None:
        clauses.append(spatial("intersects", area, params))
    for name, value in query.equals:
        clauses.append(f"{quote(name)} = %s")
        params.append(value)
    if query.where is not None:
        translation = translate(query.where, layer, Dialect("%s", spatial, "{0} ILIKE {1}"))
        clauses.append(translation.sql)
        params.extend(translation.params)
    return (" AND ".join(clauses) or "TRUE"), params


def _decode(wkbs: Sequence[bytes | None]) -> Geometries:
    return threaded(shapely.from_wkb, np.array([None if w is None else bytes(w) for w in wkbs], dtype=object))
