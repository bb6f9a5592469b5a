"""GeoPackage 1.3 tables created with sqlite3 alone: core metadata, a feature table, its R-tree and triggers.

The store writes its file with one SQLite library only: GDAL (through pyogrio) brings its own SQLite, and two
SQLite copies working on one file in one process break each other's POSIX locks.
"""

from __future__ import annotations

import sqlite3

import pyproj

from .base import quote

APPLICATION_ID = 0x47504B47  # "GPKG"
USER_VERSION = 10300
_SQL_TYPES = {"string": "TEXT", "integer": "INTEGER", "number": "REAL", "boolean": "BOOLEAN"}

_CORE = """
CREATE TABLE IF NOT EXISTS gpkg_spatial_ref_sys (
  srs_name TEXT NOT NULL, srs_id INTEGER PRIMARY KEY, organization TEXT NOT NULL,
  organization_coordsys_id INTEGER NOT NULL, definition TEXT NOT NULL, description TEXT);
CREATE TABLE IF NOT EXISTS gpkg_contents (
  table_name TEXT NOT NULL PRIMARY KEY, data_type TEXT NOT NULL, identifier TEXT UNIQUE,
  description TEXT DEFAULT '', last_change DATETIME NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%fZ','now')),
  min_x DOUBLE, min_y DOUBLE, max_x DOUBLE, max_y DOUBLE, srs_id INTEGER,
  CONSTRAINT fk_gc_r_srs_id FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys(srs_id));
CREATE TABLE IF NOT EXISTS gpkg_geometry_columns (
  table_name TEXT NOT NULL, column_name TEXT NOT NULL, geometry_type_name TEXT NOT NULL, srs_id INTEGER NOT NULL,
  z TINYINT NOT NULL, m TINYINT NOT NULL, CONSTRAINT pk_geom_cols PRIMARY KEY (table_name, column_name),
  CONSTRAINT fk_gc_tn FOREIGN KEY (table_name) REFERENCES gpkg_contents(table_name),
  CONSTRAINT fk_gc_srs FOREIGN KEY (srs_id) REFERENCES gpkg_spatial_ref_sys (srs_id));
CREATE TABLE IF NOT EXISTS gpkg_extensions (
  table_name TEXT, column_name TEXT, extension_name TEXT NOT NULL, definition TEXT NOT NULL, scope TEXT NOT NULL,
  CONSTRAINT ge_tce UNIQUE (table_name, column_name, extension_name));
CREATE TABLE IF NOT EXISTS gpkg_ogr_contents (table_name TEXT NOT NULL PRIMARY KEY, feature_count INTEGER);
INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES
  ('Undefined cartesian SRS', -1, 'NONE', -1, 'undefined', 'undefined cartesian coordinate reference system'),
  ('Undefined geographic SRS', 0, 'NONE', 0, 'undefined', 'undefined geographic coordinate reference system');
"""

#: R-tree maintenance triggers of GeoPackage 1.3, Annex F.3; {t} table, {g} geometry column, {r} R-tree.
_RTREE_TRIGGERS = {
    "insert": "AFTER INSERT ON {t} WHEN (new.{g} NOT NULL AND NOT ST_IsEmpty(NEW.{g})) BEGIN INSERT OR REPLACE "
    "INTO {r} VALUES (NEW.fid, ST_MinX(NEW.{g}), ST_MaxX(NEW.{g}), ST_MinY(NEW.{g}), ST_MaxY(NEW.{g})); END",
    "update1": "AFTER UPDATE OF {g} ON {t} WHEN OLD.fid = NEW.fid AND (NEW.{g} NOTNULL AND NOT ST_IsEmpty(NEW.{g})) "
    "BEGIN INSERT OR REPLACE INTO {r} VALUES (NEW.fid, ST_MinX(NEW.{g}), ST_MaxX(NEW.{g}), "
    "ST_MinY(NEW.{g}), ST_MaxY(NEW.{g})); END",
    "update2": "AFTER UPDATE OF {g} ON {t} WHEN OLD.fid = NEW.fid AND (NEW.{g} ISNULL OR ST_IsEmpty(NEW.{g})) "
    "BEGIN DELETE FROM {r} WHERE id = OLD.fid; END",
    "update3": "AFTER UPDATE ON {t} WHEN OLD.fid != NEW.fid AND (NEW.{g} NOTNULL AND NOT ST_IsEmpty(NEW.{g})) "
    "BEGIN DELETE FROM {r} WHERE id = OLD.fid; INSERT OR REPLACE INTO {r} VALUES (NEW.fid, "
    "ST_MinX(NEW.{g}), ST_MaxX(NEW.{g}), ST_MinY(NEW.{g}), ST_MaxY(NEW.{g})); END",
    "update4": "AFTER UPDATE ON {t} WHEN OLD.fid != NEW.fid AND (NEW.{g} ISNULL OR ST_IsEmpty(NEW.{g})) "
    "BEGIN DELETE FROM {r} WHERE id IN (OLD.fid, NEW.fid); END",
    "delete": "AFTER DELETE ON {t} WHEN old.{g} NOT NULL BEGIN DELETE FROM {r} WHERE id = OLD.fid; END",
}


def rtree_name(table: str, geometry: str) -> str:
    """Name of the R-tree of ``table`` per the GeoPackage R-tree extension."""
    return f"rtree_{table}_{geometry}"


def ensure_core(conn: sqlite3.Connection) -> None:
    """The metadata tables every GeoPackage has."""
    conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    conn.execute(f"PRAGMA user_version = {USER_VERSION}")
    for statement in _CORE.split(";"):
        if statement.strip():
            conn.execute(statement)


def add_missing_columns(conn: sqlite3.Connection, table: str, fields: dict[str, str]) -> None:
    """Add the ``fields`` a table written by an earlier version lacks (null in its rows), so that a layer that gains
    a field (imperméabilisation in ``artificialisation_communes``) writes into an existing store."""
    have = {row[1] for row in conn.execute(f"PRAGMA table_info({quote(table)})")}
    for name, kind in fields.items():
        if name not in have:
            conn.execute(f"ALTER TABLE {quote(table)} ADD COLUMN {quote(name)} {_SQL_TYPES[kind]}")


def create_feature_table(
    conn: sqlite3.Connection, table: str, fields: dict[str, str], geometry: str, epsg: int, indexed: list[str]
) -> None:
    """A MultiPolygon feature table with its R-tree, triggers and indexes; runs inside the caller's transaction."""
    ensure_core(conn)
    crs = pyproj.CRS.from_epsg(epsg)
    conn.execute(
        "INSERT OR IGNORE INTO gpkg_spatial_ref_sys VALUES (?, ?, 'EPSG', ?, ?, NULL)",
        [crs.name, epsg, epsg, crs.to_wkt(pyproj.enums.WktVersion.WKT1_GDAL)],
    )
    columns = ", ".join(f"{quote(n)} {_SQL_TYPES[t]}" for n, t in fields.items())
    conn.execute(
        f"CREATE TABLE {quote(table)} (fid INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "
        f"{quote(geometry)} MULTIPOLYGON, {columns})"
    )
    conn.execute(
        "INSERT INTO gpkg_contents (table_name, data_type, identifier, srs_id) VALUES (?, 'features', ?, ?)",
        [table, table, epsg],
    )
    conn.execute("INSERT INTO gpkg_geometry_columns VALUES (?, ?, 'MULTIPOLYGON', ?, 0, 0)", [table, geometry, epsg])
    conn.execute("INSERT INTO gpkg_ogr_contents VALUES (?, 0)", [table])
    rtree = rtree_name(table, geometry)
    conn.execute(f"CREATE VIRTUAL TABLE {quote(rtree)} USING rtree(id, minx, maxx, miny, maxy)")
    conn.execute(
        "INSERT INTO gpkg_extensions VALUES (?, ?, 'gpkg_rtree_index', "
        "'http://www.geopackage.org/spec120/#extension_rtree', 'write-only')",
        [table, geometry],
    )
    for suffix, body in _RTREE_TRIGGERS.items():
        sql = body.format(t=quote(table), g=quote(geometry), r=quote(rtree))
        conn.execute(f"CREATE TRIGGER {quote(f'{rtree}_{suffix}')} {sql}")
    for column in indexed:
        conn.execute(f"CREATE INDEX {quote(f'idx_{table}_{column}')} ON {quote(table)} ({quote(column)})")
