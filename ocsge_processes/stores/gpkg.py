"""The embedded store: one GeoPackage file, read and written with the standard library's sqlite3.

SpatiaLite cannot be loaded here, so spatial work is split: the GeoPackage R-tree narrows candidates in SQL, and
an exact shapely test runs as a SQL function only on candidates whose envelope crosses the query boundary. The
file stays a standard GeoPackage (metadata, R-tree and triggers per the 1.3 standard), so QGIS and ogr2ogr open it.
"""

from __future__ import annotations

import contextlib
import functools
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Concatenate

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from pygeofilter import ast
from shapely.geometry.base import BaseGeometry

from ..errors import StoreError
from ..layers import Layer
from ..shareddb import wal_connection
from . import base, columnar, gpkg_arrow_reader, gpkgblob, tilecache_gpkg
from .base import Box, FeaturePage, FeatureQuery, FeatureStore, GeoJSON, TileEncoder, TileRequest, TileRows, quote
from .cql2 import CONVERSE, Dialect, translate
from .gpkgschema import add_missing_columns, create_feature_table, rtree_name
from .tilecache import TileCache
from .timeout import QueryTimeoutError, query_timeout

_GEOM = "geom"


def _time_limited[**Args, Result](
    method: Callable[Concatenate[GpkgStore, Args], Result],
) -> Callable[Concatenate[GpkgStore, Args], Result]:
    """Run a read under this process's query time limit: SQLite's progress handler aborts it at the deadline.

    Nested reads (extent calls tables) share the outermost deadline.
    """

    def run(self: GpkgStore, /, *args: Args.args, **kwargs: Args.kwargs) -> Result:
        limit = query_timeout()
        if limit is None or getattr(self._local, "deadline", None) is not None or not self.path.exists():
            return method(self, *args, **kwargs)
        conn = self._reader()
        deadline = self._local.deadline = time.monotonic() + limit
        conn.set_progress_handler(lambda: int(time.monotonic() > deadline), 10_000)
        try:
            return method(self, *args, **kwargs)
        except sqlite3.OperationalError as err:
            if time.monotonic() > deadline:
                raise QueryTimeoutError(limit) from err
            raise
        finally:
            self._local.deadline = None
            conn.set_progress_handler(None, 0)

    functools.update_wrapper(run, method)
    return run


#: The table of :meth:`GpkgStore.set_mark` notes.
_MARKS = "ocsge_marks"
#: Seconds a slice's write waits while another process writes: an ingest holds the file for the minute a
#: département's million rows take, where SQLite's default wait is 5 s.
WRITE_WAIT_S = 600


class GpkgStore(FeatureStore):
    """OCS GE layers in one GeoPackage file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.url = str(self.path)
        self._local = threading.local()

    # -- reading -------------------------------------------------------------------------------------------

    def _reader(self) -> sqlite3.Connection:
        """One read-only connection per thread, kept for the life of the process."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if not self.path.exists():
                raise StoreError(f"GeoPackage store {self.path} does not exist; run `ocsge ingest` first")
            conn = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True, check_same_thread=False)
            _register_functions(conn)
            conn.execute("PRAGMA case_sensitive_like = ON")
            self._local.conn = conn
        return conn

    @_time_limited
    def tables(self) -> dict[str, int]:
        if not self.path.exists():
            return {}
        rows = self._reader().execute(
            "SELECT c.table_name, COALESCE(o.feature_count, -1) FROM gpkg_contents c "
            "LEFT JOIN gpkg_ogr_contents o ON o.table_name = c.table_name WHERE c.data_type = 'features'"
        )
        return dict(rows)

    @_time_limited
    def extent(self, layer: Layer, epsg: int) -> Box | None:
        table = base.table_name(layer, epsg)
        if table not in self.tables():
            return None
        # Kept by replace_slice in the same transaction as the rows; the R-tree scan is the fallback.
        row = (
            self._reader()
            .execute("SELECT min_x, min_y, max_x, max_y FROM gpkg_contents WHERE table_name = ?", [table])
            .fetchone()
        )
        if row is None or None in row:
            row = (
                self._reader()
                .execute(f"SELECT min(minx), min(miny), max(maxx), max(maxy) FROM {quote(_rtree(table))}")
                .fetchone()
            )
        return None if row is None or row[0] is None else (row[0], row[1], row[2], row[3])

    @_time_limited
    def query(self, layer: Layer, epsg: int, query: FeatureQuery) -> FeaturePage:
        table = base.table_name(layer, epsg)
        conn = self._reader()
        where, params = self._where(layer, table, query)
        matched = self._count(conn, table, where, params, query)
        if query.hits_only:
            return FeaturePage([], matched)
        sql, sql_params = base.page_sql(layer, quote(table), where, params, query, quote(_GEOM), "?")
        rows = conn.execute(sql, sql_params).fetchall()
        return base.page_from_rows(layer, epsg, rows, query, gpkgblob.decode, matched)

    @_time_limited
    def get(self, layer: Layer, epsg: int, feature_id: str, out_crs: pyproj.CRS | None = None) -> GeoJSON | None:
        condition = base.key_condition(layer, feature_id)
        if condition is None:
            return None
        names = list(layer.fields)
        columns = ", ".join(["fid", *(quote(n) for n in names)])
        rows = (
            self._reader()
            .execute(
                f"SELECT {columns}, {quote(_GEOM)} FROM {quote(base.table_name(layer, epsg))} "
                f"WHERE {quote(condition[0])} = ? LIMIT 1",
                [condition[1]],
            )
            .fetchall()
        )
        features = base.page_features(layer, epsg, names, rows, FeatureQuery(out_crs=out_crs), gpkgblob.decode)
        return features[0] if features else None

    @_time_limited
    def read_frame(
        self,
        layer: Layer,
        epsg: int,
        bbox: Box | None = None,
        equals: Mapping[str, object] | None = None,
        fields: Sequence[str] | None = None,
    ) -> gpd.GeoDataFrame:
        table = base.table_name(layer, epsg)
        where, params = self._where(layer, table, FeatureQuery(equals=tuple((equals or {}).items())))
        layer = base.with_fields(layer, fields)
        estimate = self.tables().get(table, 0)
        extent = None if bbox is None else self.extent(layer, epsg)
        box = None
        if bbox is not None and extent is not None and not _contains(bbox, extent):
            box = bbox
            # a commune's or a tile's box reads few rows of a large table (not worth a process's start); a
            # département's, which overruns the layer's extent a little, reads most of them
            estimate = _rows_in_box(estimate, bbox, extent)
        # GDAL only in a reader process of its own: two SQLite libraries in one process do not see each other's
        # locks, and GDAL reading while this store wrote marks or slices corrupted the file.
        if getattr(self._local, "deadline", None) is None and gpkg_arrow_reader.wanted(estimate):
            # without the R-tree clause, which GDAL would test row by row (a second a million rows): the frame's
            # own boxes, rounded as the R-tree rounds them, then pick the same rows
            read = gpkg_arrow_reader.read_frame(
                self._reader(), self.path, layer, epsg, table, gpkg_arrow_reader.inline(where, params), box
            )
            if read is not None:
                return read
        if box is not None:
            where += " AND " + _box_sql(table, box, params)
        # SQLite cuts the blob headers itself.
        columns = ", ".join([*map(quote, layer.fields), gpkgblob.wkb_sql(quote(_GEOM))])
        rows = self._reader().execute(f"SELECT {columns} FROM {quote(table)} WHERE {where} ORDER BY fid", params)
        return columnar.frame_from_rows(layer, epsg, rows.fetchall())

    @_time_limited
    def tile_rows(self, layer: Layer, epsg: int, request: TileRequest) -> TileRows:
        """Through the R-tree; the fields of a tile only."""
        table = base.table_name(layer, epsg)
        where, params = self._where(layer, table, FeatureQuery(equals=request.equals))
        where += " AND " + _box_sql(table, request.bbox, params)
        rows = (
            self._reader()
            .execute(
                f"SELECT {', '.join([*map(quote, request.fields), quote(_GEOM)])} FROM {quote(table)} "
                f"WHERE {where} ORDER BY fid",
                params,
            )
            .fetchall()
        )
        return TileRows([row[:-1] for row in rows], gpkgblob.decode([row[-1] for row in rows]))

    def tile(self, layer: Layer, epsg: int, request: TileRequest, encode: TileEncoder) -> bytes:
        """SQLite has no tile engine: the candidates are encoded in this process."""
        return encode(self.tile_rows(layer, epsg, request))

    @_time_limited
    def version(self, layer: Layer, epsg: int) -> str:
        """replace_slice stamps gpkg_contents.last_change (ms) and the feature count in the same transaction as the
        rows."""
        if not self.path.exists():
            return ""  # as tables() says: nothing was ever written
        row = (
            self._reader()
            .execute(
                "SELECT c.last_change, o.feature_count FROM gpkg_contents c LEFT JOIN gpkg_ogr_contents o "
                "ON o.table_name = c.table_name WHERE c.table_name = ?",
                [base.table_name(layer, epsg)],
            )
            .fetchone()
        )
        return "" if row is None else f"{row[0]}-{row[1]}"

    @functools.cache  # noqa: B019  # one cache object per store, which open_store keeps for the process' life
    def tile_cache(self) -> TileCache:
        return tilecache_gpkg.GpkgTileCache(self.path)

    @_time_limited
    def distinct(self, layer: Layer, epsg: int, field: str, where: ast.Node | None = None) -> list[object]:
        """Hopped along the column's index when it has one (a few seeks where the scan read every matching row:
        1 CPU s for a département's millésimes), else, or when hopping would cost more, the scan."""
        table = base.table_name(layer, epsg)
        condition, params = self._where(layer, table, FeatureQuery(where=where))
        column = base.layer_field(layer, field)
        conn = self._reader()
        conn.execute("BEGIN")  # one snapshot for the several statements of a hop, as the one scan had
        try:
            values = _hopped_distinct(conn, table, column, condition, params)
            if values is None:
                rows = conn.execute(
                    f"SELECT DISTINCT {quote(column)} FROM {quote(table)} WHERE {condition} "
                    f"AND {quote(column)} IS NOT NULL ORDER BY 1",
                    params,
                ).fetchall()
                values = [row[0] for row in rows]
        finally:
            if conn.in_transaction:  # an interrupted statement (the time limit) may have ended it
                conn.execute("ROLLBACK")
        return values

    def _where(self, layer: Layer, table: str, query: FeatureQuery) -> tuple[str, list[object]]:
        params: list[object] = []
        clauses = []
        area = base.bbox_area(query)
        if area is not None:
            clauses.append(_spatial_sql(table, "intersects", area, params))
        for name, value in query.equals:
            clauses.append(f"{quote(name)} = ?")
            params.append(value)
        if query.where is not None:
            dialect = Dialect("?", lambda op, geom, p: _spatial_sql(table, op, geom, p))
            translation = translate(query.where, layer, dialect)
            clauses.append(translation.sql)
            params.extend(translation.params)
        return (" AND ".join(clauses) or "1 = 1"), params

    def _count(
        self, conn: sqlite3.Connection, table: str, where: str, params: list[object], query: FeatureQuery
    ) -> int | None:
        """Exact count, cheap when unfiltered (GDAL's feature count); None past the cap for filtered queries."""
        if where == "1 = 1":
            count = self.tables().get(table, -1)
            if count >= 0:
                return count
        row = conn.execute(
            f"SELECT count(*) FROM (SELECT 1 FROM {quote(table)} WHERE {where} LIMIT ?)", [*params, query.count_cap + 1]
        ).fetchone()
        matched: int = row[0]
        return None if matched > query.count_cap else matched

    @_time_limited
    def slice_version(self, layer: Layer, epsg: int, slice_values: Mapping[str, object]) -> str:
        """Count and fid range of the slice: replace_slice gives a slice fids above all it held before."""
        table = base.table_name(layer, epsg)
        if table not in self.tables():
            return ""
        keys = list(slice_values)
        row = (
            self._reader()
            .execute(
                f"SELECT count(*), min(fid), max(fid) FROM {quote(table)} WHERE "
                + " AND ".join(f"{quote(k)} = ?" for k in keys),
                [slice_values[k] for k in keys],
            )
            .fetchone()
        )
        return f"{row[0]}-{row[1]}-{row[2]}" if row[0] else ""

    def marks(self, scope: str) -> dict[str, str]:
        if not self.path.exists():
            return {}
        conn = self._reader()
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [_MARKS]).fetchone() is None:
            return {}
        return dict(conn.execute(f"SELECT key, value FROM {_MARKS} WHERE scope = ?", [scope]).fetchall())

    def set_mark(self, scope: str, key: str, value: str | None) -> None:
        """In an attributes table of the file (no features: ``tables`` and the server leave it out)."""
        with self._marks_writer() as conn:
            if value is None:
                conn.execute(f"DELETE FROM {_MARKS} WHERE scope = ? AND key = ?", [scope, key])
            else:
                conn.execute(f"INSERT OR REPLACE INTO {_MARKS} VALUES (?, ?, ?)", [scope, key, value])

    def swap_mark(self, scope: str, key: str, expected: str | None, value: str | None) -> bool:
        """Each case is one statement, and SQLite runs one writer at a time: the test and the write are one step."""
        where = "scope = ? AND key = ? AND value = ?"
        with self._marks_writer() as conn:
            if expected is None:
                if value is None:
                    found = conn.execute(f"SELECT 1 FROM {_MARKS} WHERE scope = ? AND key = ?", [scope, key])
                    return found.fetchone() is None
                done = conn.execute(f"INSERT OR IGNORE INTO {_MARKS} VALUES (?, ?, ?)", [scope, key, value])
            elif value is None:
                done = conn.execute(f"DELETE FROM {_MARKS} WHERE {where}", [scope, key, expected])
            else:
                done = conn.execute(f"UPDATE {_MARKS} SET value = ? WHERE {where}", [value, scope, key, expected])
            return done.rowcount == 1

    @contextlib.contextmanager
    def _marks_writer(self) -> Iterator[sqlite3.Connection]:
        """A writing connection for one note, closed after it: notes are few (a heartbeat every few seconds), and
        one connection per note cannot outlive a fork or be shared by two threads."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = wal_connection(self.path)
        try:
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {_MARKS} (scope TEXT, key TEXT, value TEXT, PRIMARY KEY (scope, key))"
            )
            if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'gpkg_contents'").fetchone():
                conn.execute(
                    "INSERT OR IGNORE INTO gpkg_contents (table_name, data_type, identifier) "
                    "VALUES (?, 'attributes', ?)",
                    [_MARKS, _MARKS],
                )
            yield conn
        finally:
            conn.close()

    # -- writing -------------------------------------------------------------------------------------------

    def replace_slice(
        self, layer: Layer, epsg: int, frame: gpd.GeoDataFrame, slice_values: Mapping[str, object]
    ) -> int:
        table = base.table_name(layer, epsg)
        names = list(layer.fields)
        geoms = np.asarray(frame.geometry.values, dtype=object)
        blobs = gpkgblob.encode(geoms, epsg)
        bounds = shapely.bounds(geoms)
        records = frame[names].astype(object).where(frame[names].notna(), None).itertuples(index=False, name=None)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        conn = wal_connection(self.path, WRITE_WAIT_S)
        _register_functions(conn)
        try:
            conn.execute("BEGIN IMMEDIATE")
            exists = conn.execute("SELECT 1 FROM sqlite_master WHERE name = ?", [table]).fetchone()
            if not exists:
                create_feature_table(
                    conn, table, layer.fields, _GEOM, epsg, sorted({layer.id_field, *layer.slice_keys, *layer.coded})
                )
            else:
                add_missing_columns(conn, table, layer.fields)
            # before the DELETE: a slice's new fids are above its old ones, so slice_version always moves
            start = conn.execute(f"SELECT COALESCE(max(fid), 0) + 1 FROM {quote(table)}").fetchone()[0]
            tilecache_gpkg.mark_stale(conn, layer, epsg, slice_values, _box(bounds))
            keys = list(slice_values)
            conn.execute(
                f"DELETE FROM {quote(table)} WHERE " + " AND ".join(f"{quote(k)} = ?" for k in keys),
                [slice_values[k] for k in keys],
            )
            fids = range(start, start + len(frame))
            # Bulk load: insert triggers (R-tree, GDAL's feature count) are replaced by one bulk step each.
            triggers = conn.execute(
                "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = ? AND sql LIKE ?",
                [table, "%AFTER INSERT%"],
            ).fetchall()
            for name, _ in triggers:
                conn.execute(f"DROP TRIGGER {quote(name)}")
            columns = ", ".join(["fid", quote(_GEOM), *(quote(n) for n in names)])
            marks = ", ".join("?" * (len(names) + 2))
            conn.executemany(
                f"INSERT INTO {quote(table)} ({columns}) VALUES ({marks})",
                ((fid, blob, *rec) for fid, blob, rec in zip(fids, blobs, records, strict=True)),
            )
            conn.executemany(
                f"INSERT INTO {quote(_rtree(table))} VALUES (?, ?, ?, ?, ?)",
                (
                    (fid, b[0], b[2], b[1], b[3])
                    for fid, b in zip(fids, bounds.tolist(), strict=True)
                    if not np.isnan(b[0])
                ),
            )
            for _, sql in triggers:
                conn.execute(sql)
            conn.execute(
                f"UPDATE gpkg_ogr_contents SET feature_count = (SELECT count(*) FROM {quote(table)}) "
                "WHERE table_name = ?",
                [table],
            )
            conn.execute(
                "UPDATE gpkg_contents SET (min_x, min_y, max_x, max_y) = "
                f"(SELECT min(minx), min(miny), max(maxx), max(maxy) FROM {quote(_rtree(table))}), "
                "last_change = strftime('%Y-%m-%dT%H:%M:%fZ', 'now') WHERE table_name = ?",
                [table],
            )
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        finally:
            conn.close()
        self._local.conn = None
        return len(frame)


def _box(bounds: np.ndarray) -> Box | None:
    """The box of rows' bounds (shapely.bounds), None when there are none."""
    if not len(bounds) or np.isnan(bounds[:, 0]).all():
        return None
    return (
        float(np.nanmin(bounds[:, 0])),
        float(np.nanmin(bounds[:, 1])),
        float(np.nanmax(bounds[:, 2])),
        float(np.nanmax(bounds[:, 3])),
    )


def _rtree(table: str) -> str:
    return rtree_name(table, _GEOM)


def _spatial_sql(table: str, op: str, geometry: BaseGeometry, params: list[object]) -> str:
    """R-tree candidates, then the exact predicate; disjoint is the negation of intersects."""
    exact = "intersects" if op == "disjoint" else op
    sql = f"({_box_sql(table, geometry.bounds, params)} AND ocsge_relate({quote(_GEOM)}, ?, ?))"
    params.extend([shapely.to_wkb(geometry), exact])
    return f"(NOT {sql})" if op == "disjoint" else sql


def _contains(bbox: Box, extent: Box) -> bool:
    """Whether ``bbox`` holds the whole ``extent``: then the R-tree filter would keep every row, slowly."""
    return bbox[0] <= extent[0] and bbox[1] <= extent[1] and bbox[2] >= extent[2] and bbox[3] >= extent[3]


def _rows_in_box(rows: int, bbox: Box, extent: Box) -> int:
    """About how many of a layer's ``rows`` a box read returns: their share of the extent's area the box covers, as
    if they were spread evenly. Only sizes the read (which route), never filters it. An extent flat on an axis
    (one point, one line of rows) counts that axis as covered when the box meets it."""
    share = 1.0
    for low, high, box_low, box_high in (
        (extent[0], extent[2], bbox[0], bbox[2]),
        (extent[1], extent[3], bbox[1], bbox[3]),
    ):
        overlap = min(high, box_high) - max(low, box_low)
        if overlap < 0:
            return 0
        share *= overlap / (high - low) if high > low else 1.0
    return round(rows * share)


#: Index entries one value's test may read before hopping gives way to the scan (about 4 ms here): enough for the
#: rows of other slices before a slice that holds the value, little against a scan of a département's rows.
_HOP_ENTRIES = 10_000
#: Values past which hopping (two seeks a value) gives way to the scan: years and codes are far fewer.
_HOP_VALUES = 1_000


def _hopped_distinct(
    conn: sqlite3.Connection, table: str, column: str, condition: str, params: list[object]
) -> list[object] | None:
    """The column's values in rows meeting ``condition``, in order, without NULLs, as ``SELECT DISTINCT`` gives
    them: each next value is one seek in the column's index (a loose index scan), then tested with the index
    entries of that value (their rows in fid order, only within the fids of rows meeting ``condition``), until one
    row meets it. None when the column has no index of its own, or a test or the values would overrun their budget.
    """
    index = f"idx_{table}_{column}"
    if [row[0] for row in conn.execute("SELECT name FROM pragma_index_info(?)", [index])] != [column]:
        return None
    source = f"{quote(table)} INDEXED BY {quote(index)}"
    first, last = (
        conn.execute(f"SELECT {end}(fid) FROM {quote(table)} WHERE {condition}", params).fetchone()[0]
        for end in ("min", "max")  # two seeks where an index serves the condition (min and max together scan)
    )
    if first is None:
        return []
    entries = f"SELECT fid AS ocsge_hop FROM {source} WHERE {quote(column)} = ? AND fid BETWEEN ? AND ? LIMIT ?"
    values: list[object] = []
    for seen, value in enumerate(_index_values(conn, source, column)):
        if seen == _HOP_VALUES:
            return None
        met = condition == "1 = 1" or _met(conn, table, entries, condition, [value, first, last], params)
        if met is None:
            return None
        if met:
            values.append(value)
    return values


def _index_values(conn: sqlite3.Connection, source: str, column: str) -> Iterator[object]:
    """The column's values, each the next one up: one seek in ``source``, the column's index."""
    value = conn.execute(f"SELECT min({quote(column)}) FROM {source}").fetchone()[0]
    while value is not None:
        yield value
        value = conn.execute(
            f"SELECT min({quote(column)}) FROM {source} WHERE {quote(column)} > ?", [value]
        ).fetchone()[0]


def _met(
    conn: sqlite3.Connection, table: str, entries: str, condition: str, value: list[object], params: list[object]
) -> bool | None:
    """Whether a row of the value's first index ``entries`` meets ``condition``; None when none does and the value
    has more entries than the budget let the test read."""
    found = conn.execute(
        f"SELECT EXISTS (SELECT 1 FROM ({entries}) CROSS JOIN {quote(table)} ON fid = ocsge_hop WHERE {condition})",
        [*value, _HOP_ENTRIES, *params],
    ).fetchone()[0]
    if found:
        return True
    count = conn.execute(f"SELECT count(*) FROM ({entries})", [*value, _HOP_ENTRIES + 1]).fetchone()[0]
    return None if count > _HOP_ENTRIES else False


def _box_sql(table: str, bounds: Box, params: list[object]) -> str:
    """Rows whose R-tree box meets ``bounds`` (minx, miny, maxx, maxy)."""
    minx, miny, maxx, maxy = bounds
    params.extend([minx, maxx, miny, maxy])
    return f"fid IN (SELECT id FROM {quote(_rtree(table))} WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?)"


@functools.lru_cache(maxsize=32)
def _prepared(wkb: bytes) -> tuple[BaseGeometry, Box | None]:
    """The query geometry, prepared, and a box inside it (enables a header-only test), when it has one."""
    geometry = shapely.from_wkb(wkb)
    shapely.prepare(geometry)
    return geometry, _inner_box(geometry)


def _inner_box(geometry: BaseGeometry) -> Box | None:
    """A large axis-aligned box inside a polygon: its envelope, shrunk about its centre as little as it must be to
    fit (found by bisection). For a box this is the box itself; for a bbox from another CRS (its edges bent and
    turned by a few degrees) most of it. A feature whose envelope lies in this box meets the polygon, which the
    GeoPackage header alone shows."""
    if shapely.get_type_id(geometry) != shapely.GeometryType.POLYGON or geometry.is_empty:
        return None
    minx, miny, maxx, maxy = geometry.bounds
    cx, cy, hx, hy = (minx + maxx) / 2, (miny + maxy) / 2, (maxx - minx) / 2, (maxy - miny) / 2

    def scaled(k: float) -> Box:
        return (minx, miny, maxx, maxy) if k == 1.0 else (cx - k * hx, cy - k * hy, cx + k * hx, cy + k * hy)

    if geometry.contains(shapely.box(*scaled(1.0))):
        return scaled(1.0)
    low, high = 0.0, 1.0
    for _ in range(12):  # the fitting scale to within 1/4096 of the envelope: close enough for a shortcut
        middle = (low + high) / 2
        low, high = (middle, high) if geometry.contains(shapely.box(*scaled(middle))) else (low, middle)
    return scaled(low) if low > 0 else None


def _relate(blob: bytes | None, wkb: bytes, op: str) -> int:
    if blob is None:
        return 0
    geometry, box = _prepared(wkb)
    if box is not None and op == "intersects" and blob[3] & 0b1110:
        minx, maxx, miny, maxy = struct.unpack_from("<4d" if blob[3] & 1 else ">4d", blob, 8)
        if minx >= box[0] and maxx <= box[2] and miny >= box[1] and maxy <= box[3]:
            return 1
    feature = shapely.from_wkb(blob[gpkgblob.wkb_offset(blob) :])
    # "feature OP literal" evaluated as "literal CONVERSE-OP feature", so that the prepared literal comes first.
    return int(getattr(shapely, CONVERSE.get(op, op))(geometry, feature))


def _envelope_part(index: int) -> Callable[[bytes | None], float | None]:
    def part(blob: bytes | None) -> float | None:
        env = gpkgblob.envelope(blob)
        return None if env is None else env[index]

    return part


def _register_functions(conn: sqlite3.Connection) -> None:
    """Our exact spatial test, and the functions GeoPackage R-tree triggers call (normally from SpatiaLite/GDAL)."""
    conn.create_function("ocsge_relate", 3, _relate, deterministic=True)
    for index, name in enumerate(("ST_MinX", "ST_MaxX", "ST_MinY", "ST_MaxY")):
        conn.create_function(name, 1, _envelope_part(index), deterministic=True)
    conn.create_function(
        "ST_IsEmpty", 1, lambda b: None if b is None else int(gpkgblob.envelope(b) is None), deterministic=True
    )
