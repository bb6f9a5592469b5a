"""The scale-out store: PostGIS, one table per layer in schema ``ocsge``, GiST-indexed.

Same contract as the GeoPackage store (the shared CQL2 translator, the same feature encoding and bulk
reprojection in Python), so a client cannot tell them apart except by speed on big data.
"""

from __future__ import annotations

import contextlib
import functools
import os
import threading
from collections.abc import Iterator

import geopandas as gpd
import numpy as np
import psycopg
import pyproj
import shapely
from psycopg_pool import ConnectionPool, PoolTimeout
from pygeofilter import ast

from ..errors import InvalidInputError, StoreBusyError, StoreError
from ..layers import Layer
from ..parallel import threaded
from .base import (
    FeaturePage,
    FeatureQuery,
    FeatureStore,
    bbox_area,
    frame_from_rows,
    key_condition,
    keyset_condition,
    layer_field,
    order_by,
    page_features,
    selected_fields,
    sort_columns,
    split_keys,
    table_name,
)
from .cql2 import Dialect, quote, translate
from .timeout import QueryTimeoutError, query_timeout

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
def _pool(url: str, timeout_ms: int = 0) -> ConnectionPool:
    """One pool per database URL, time limit and process: providers are rebuilt per request, connections must not be.

    The limit is PostgreSQL's ``statement_timeout``, set once per connection (0: none).
    """
    with _pool_lock:
        kwargs = {"autocommit": True, "options": f"-c statement_timeout={timeout_ms}"}
        pool = ConnectionPool(url, min_size=1, max_size=POOL_SIZE, kwargs=kwargs, open=False)
        try:
            pool.open(wait=True, timeout=10)
        except psycopg.OperationalError as err:
            raise StoreError(f"cannot connect to PostGIS store {_safe(url)}: {err}") from err
        return pool


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    return psycopg.conninfo.make_conninfo(url, password="***") if "password" in url or "@" in url else url


class PostgisStore(FeatureStore):
    """OCS GE layers in a PostGIS database."""

    def __init__(self, url: str) -> None:
        self.url = url

    @contextlib.contextmanager
    def _conn(self) -> Iterator[psycopg.Connection]:
        """A pooled connection under this process's query time limit; a cancelled statement is a QueryTimeoutError,
        a value PostgreSQL cannot take (a NUL in a text) the client's InvalidInputError."""
        limit = query_timeout()
        pool = _pool(self.url, round(limit * 1000) if limit else 0)
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

    def extent(self, layer: Layer, epsg: int) -> tuple[float, float, float, float] | None:
        table = table_name(layer, epsg)
        if table not in self.tables():
            return None
        with self._conn() as conn:
            row = conn.execute(
                f"SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM "
                f"(SELECT ST_Extent(geom) AS e FROM {SCHEMA}.{quote(table)}) s"
            ).fetchone()
        return None if row[0] is None else tuple(row)

    def query(self, layer: Layer, epsg: int, query: FeatureQuery) -> FeaturePage:
        table = f"{SCHEMA}.{quote(table_name(layer, epsg))}"
        where, params = _where(layer, epsg, query)
        with self._conn() as conn:
            matched = self._count(conn, layer, epsg, table, where, params, query)
            if query.hits_only:
                return FeaturePage([], matched)
            names = selected_fields(layer, query)
            columns = ", ".join([*sort_columns(query, quote), *(quote(n) for n in names)])
            if not query.skip_geometry:
                columns += ", ST_AsBinary(geom)"
            after, after_params = keyset_condition(query, quote, "%s")
            rows = conn.execute(
                f"SELECT {columns} FROM {table} WHERE {where} AND {after} ORDER BY {order_by(query, quote)} "
                "LIMIT %s OFFSET %s",
                [*params, *after_params, query.limit, 0 if query.after else query.offset],
            ).fetchall()
        rows, last_key = split_keys(rows, query)
        return FeaturePage(page_features(layer, epsg, names, rows, query, _decode), matched, last_key)

    def _count(
        self, conn, layer: Layer, epsg: int, table: str, where: str, params: list, query: FeatureQuery
    ) -> int | None:
        """Exact; O(1) when unfiltered (maintained at write time), capped when filtered."""
        if where == "TRUE":
            row = conn.execute(
                "SELECT feature_count FROM ocsge.layer_counts WHERE table_name = %s", [table_name(layer, epsg)]
            ).fetchone()
            return row[0] if row else 0
        row = conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {table} WHERE {where} LIMIT %s) s", [*params, query.count_cap + 1]
        ).fetchone()
        return None if row[0] > query.count_cap else row[0]

    def get(self, layer: Layer, epsg: int, feature_id: str, out_crs: pyproj.CRS | None = None) -> dict | None:
        condition = key_condition(layer, feature_id)
        if condition is None:
            return None
        names = list(layer.fields)
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT fid, {', '.join(quote(n) for n in names)}, ST_AsBinary(geom) FROM "
                f"{SCHEMA}.{quote(table_name(layer, epsg))} WHERE {quote(condition[0])} = %s LIMIT 1",
                [condition[1]],
            ).fetchall()
        features = page_features(layer, epsg, names, rows, FeatureQuery(out_crs=out_crs), _decode)
        return features[0] if features else None

    def distinct(self, layer: Layer, epsg: int, field: str, where: ast.Node | None = None) -> list:
        condition, params = _where(layer, epsg, FeatureQuery(where=where))
        column = quote(layer_field(layer, field))
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT DISTINCT {column} FROM {SCHEMA}.{quote(table_name(layer, epsg))} "
                f"WHERE {condition} AND {column} IS NOT NULL ORDER BY 1",
                params,
            ).fetchall()
        return [row[0] for row in rows]

    def read_frame(
        self,
        layer: Layer,
        epsg: int,
        bbox: tuple[float, float, float, float] | None = None,
        equals: dict[str, object] | None = None,
    ) -> gpd.GeoDataFrame:
        names = list(layer.fields)
        where, params = _where(layer, epsg, FeatureQuery(equals=tuple((equals or {}).items())))
        if bbox is not None:
            where += f" AND geom && ST_MakeEnvelope(%s, %s, %s, %s, {epsg})"
            params.extend(bbox)
        with self._conn() as conn:
            rows = conn.execute(
                f"SELECT fid, {', '.join(quote(n) for n in names)}, ST_AsBinary(geom) FROM "
                f"{SCHEMA}.{quote(table_name(layer, epsg))} WHERE {where} ORDER BY fid",
                params,
            ).fetchall()
        return frame_from_rows(layer, epsg, rows, _decode)

    def tile(
        self,
        layer: Layer,
        epsg: int,
        fields: list[str],
        z: int,
        x: int,
        y: int,
        bbox: tuple[float, float, float, float],
        tolerance: float,
        equals: dict[str, object] | None = None,
        extent: int = 4096,
        buffer: int = 64,
    ) -> bytes:
        """Vector tile z/x/y (WebMercatorQuad) of ``layer`` with ``fields``, built in one query on the GiST index.

        ``bbox`` is the buffered tile in the layer CRS. Each geometry is clipped to the buffered tile before it
        is simplified (a large polygon simplified whole can lose the sliver a tile shows), then ST_AsMVTGeom snaps,
        validates and clips it; the GeoPackage path runs the same steps in shapely. b"" when nothing is drawn.
        """
        clauses, params = [f"t.geom && ST_MakeEnvelope(%s, %s, %s, %s, {epsg})"], list(bbox)
        for name, value in (equals or {}).items():
            clauses.append(f"t.{quote(name)} = %s")
            params.append(value)
        columns = ", ".join(f"t.{quote(n)}" for n in fields)
        envelope = "ST_TileEnvelope(%s, %s, %s)"
        sql = (
            f"SELECT ST_AsMVT(m.*, %s, {int(extent)}, 'geom') FROM ("
            "SELECT ST_AsMVTGeom(ST_SimplifyPreserveTopology(ST_ClipByBox2D(ST_Transform(t.geom, 3857), "
            f"ST_TileEnvelope(%s, %s, %s, margin => %s)), %s), {envelope}, {int(extent)}, {int(buffer)}, true) "
            f"AS geom, {columns} FROM {SCHEMA}.{quote(table_name(layer, epsg))} t "
            f"WHERE {' AND '.join(clauses)} ORDER BY t.fid) m WHERE m.geom IS NOT NULL"
        )
        with self._conn() as conn:
            row = conn.execute(
                sql, [layer.collection_id, z, x, y, buffer / extent, tolerance, z, x, y, *params]
            ).fetchone()
        return bytes(row[0]) if row and row[0] is not None else b""

    def version(self, layer: Layer, epsg: int) -> str:
        """Changes whenever the layer's table is written: the transaction id that last wrote its row count.

        replace_slice updates that row in the same transaction as the data, so the marker cannot lag the data.
        """
        with self._conn() as conn:
            row = (
                conn.execute(
                    "SELECT xmin::text, feature_count FROM ocsge.layer_counts WHERE table_name = %s",
                    [table_name(layer, epsg)],
                ).fetchone()
                if _has_schema(conn)
                else None
            )
        return "" if row is None else f"{row[0]}-{row[1]}"

    def replace_slice(self, layer: Layer, epsg: int, frame: gpd.GeoDataFrame, slice_values: dict) -> int:
        table = table_name(layer, epsg)
        qualified = f"{SCHEMA}.{quote(table)}"
        names = list(layer.fields)
        geoms = shapely.to_wkb(
            shapely.set_srid(np.asarray(frame.geometry.values, dtype=object), epsg), hex=True, include_srid=True
        )
        records = frame[names].astype(object).where(frame[names].notna(), None).itertuples(index=False, name=None)
        with self._conn() as conn, conn.transaction():
            _create_table(conn, layer, epsg, table)
            conn.execute(
                f"DELETE FROM {qualified} WHERE " + " AND ".join(f"{quote(k)} = %s" for k in slice_values),
                list(slice_values.values()),
            )
            columns = ", ".join([*(quote(n) for n in names), "geom"])
            with conn.cursor().copy(f"COPY {qualified} ({columns}) FROM STDIN") as copy:
                for record, geom in zip(records, geoms):
                    copy.write_row((*record, geom))
            conn.execute(
                "INSERT INTO ocsge.layer_counts VALUES (%s, (SELECT count(*) FROM " + qualified + ")) "
                "ON CONFLICT (table_name) DO UPDATE SET feature_count = EXCLUDED.feature_count",
                [table],
            )
        with self._conn() as conn:
            conn.execute(f"ANALYZE {qualified}")
        return len(frame)


def _has_schema(conn) -> bool:
    return conn.execute("SELECT to_regclass('ocsge.layer_counts') IS NOT NULL").fetchone()[0]


def _create_table(conn, layer: Layer, epsg: int, table: str) -> None:
    conn.execute(f"CREATE SCHEMA IF NOT EXISTS {SCHEMA}")
    conn.execute("CREATE TABLE IF NOT EXISTS ocsge.layer_counts (table_name text PRIMARY KEY, feature_count bigint)")
    columns = ", ".join(f"{quote(n)} {_SQL_TYPES[t]}" for n, t in layer.fields.items())
    qualified = f"{SCHEMA}.{quote(table)}"
    conn.execute(
        f"CREATE TABLE IF NOT EXISTS {qualified} (fid bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, "
        f"{columns}, geom geometry(MultiPolygon, {epsg}) NOT NULL)"
    )
    conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(f'{table}_geom_gist')} ON {qualified} USING gist (geom)")
    for column in sorted({layer.id_field, *layer.slice_keys, *layer.coded}):
        conn.execute(f"CREATE INDEX IF NOT EXISTS {quote(f'{table}_{column}_idx')} ON {qualified} ({quote(column)})")


def _where(layer: Layer, epsg: int, query: FeatureQuery) -> tuple[str, list]:
    params: list = []
    clauses = []

    def spatial(op: str, geometry: shapely.Geometry, p: list) -> str:
        p.append(shapely.to_wkb(geometry))
        return f"{_PG_FUNCTIONS[op]}(geom, ST_GeomFromWKB(%s, {epsg}))"

    area = bbox_area(query)
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


def _decode(wkbs: list) -> np.ndarray:
    return threaded(shapely.from_wkb, np.array([None if w is None else bytes(w) for w in wkbs], dtype=object))
