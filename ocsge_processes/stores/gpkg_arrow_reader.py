"""Bulk GeoPackage reads through GDAL's Arrow stream, in a reader process of its own.

Python's sqlite3 makes a Python object per cell (3.4 µs a polygon of the 8.1 µs read floor); GDAL's Arrow stream
reads the same rows in columns. GDAL must not open the file in a process that writes it (its own SQLite and
Python's drop each other's POSIX locks: the corruption of stop 23), so ``gpkg_arrow_child`` reads in a child
process that holds only GDAL's SQLite, and sends Arrow IPC batches over a pipe; here the columns become the same
frame as ``columnar.frame_from_rows`` builds.

A consistent read: GDAL may read the batches through more than one SQLite connection (its asynchronous Arrow
reader opens its own), so one snapshot is not assumed but checked. ``PRAGMA data_version`` on one connection of
this process changes when any other connection, of any process, commits to the file; the read is kept only when it
did not change from before the child started to after it ended (a commit in between may have been seen half).
Otherwise it is read again once, then by the caller's own route.
"""

from __future__ import annotations

import functools
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyarrow as pa
import shapely

from ..errors import StoreError
from ..layers import Layer
from . import columnar
from .base import Box

#: Set to 0 to read with sqlite3 only, 1 to take this route for every bulk read.
SWITCH = "OCSGE_GPKG_ARROW_READ"
#: Rows of a table below which the child's start (0.6 s wall here, loaded: Python, pyarrow, GDAL) costs more than the
#: route saves (about 7 µs wall and 3.7 µs CPU a row); ``GpkgStore.read_frame`` counts, for a read a box narrows,
#: the rows in the box's share of the layer's extent.
MIN_ROWS = 100_000
_ROOT = Path(__file__).resolve().parents[2]


def wanted(rows: int) -> bool:
    """Whether a bulk read of about ``rows`` rows goes through the reader process."""
    switch = os.environ.get(SWITCH, "")
    if switch in ("0", "1"):
        return switch == "1"
    return rows >= MIN_ROWS


def inline(where: str, params: Sequence[object]) -> str:
    """``where`` with each ``?`` replaced by its parameter as an SQL literal: GDAL's attribute filter takes no
    parameters. Our clauses place ``?`` only as placeholders (names are quoted identifiers without one)."""
    parts = where.split("?")
    if len(parts) != len(params) + 1:
        raise ValueError(f"{len(params)} parameters for {len(parts) - 1} placeholders in {where!r}")
    out = [parts[0]]
    for value, part in zip(params, parts[1:], strict=True):
        out.extend([_literal(value), part])
    return "".join(out)


def _literal(value: object) -> str:
    if isinstance(value, bool):
        return str(int(value))
    if isinstance(value, int | float | np.integer | np.floating):
        return repr(float(value)) if isinstance(value, float | np.floating) else str(int(value))
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    raise ValueError(f"no SQL literal for a {type(value).__name__} parameter")


def read_frame(
    conn: sqlite3.Connection,
    path: Path,
    layer: Layer,
    epsg: int,
    table: str,
    where: str,
    box: Box | None = None,
) -> gpd.GeoDataFrame | None:
    """The frame of ``table``'s rows matching ``where`` (literal SQL), in fid order, read by a GDAL process; None
    when two tries each overlapped a commit (``conn``, a connection of this process to the file, sees them).

    ``box``: only the rows the table's R-tree finds in that box (minx, miny, maxx, maxy), as the sqlite3 route's
    R-tree clause keeps them.
    """
    keep = None if box is None else functools.partial(in_rtree_box, box=box)
    for _ in range(2):
        before = conn.execute("PRAGMA data_version").fetchone()[0]
        arrow, shapes = read_table(path, table, list(layer.fields), where, keep)
        if conn.execute("PRAGMA data_version").fetchone()[0] == before:
            return _frame(layer, epsg, arrow, shapes)
    return None


#: SQLite's R-tree stores 32-bit coordinates; a value a float cannot hold is scaled by these before it is rounded,
#: so that a stored box always holds the geometry's (sqlite ``rtreeValueDown`` and ``rtreeValueUp``).
_TOWARDS_ZERO, _AWAY_FROM_ZERO = 1.0 - 1.0 / 8388608.0, 1.0 + 1.0 / 8388608.0


def in_rtree_box(shapes: np.ndarray, box: Box) -> np.ndarray:
    """Whether the R-tree query of ``box`` finds each geometry: its bounds as the R-tree stores them meet ``box``
    (an empty geometry has no R-tree row)."""
    bounds = shapely.bounds(shapes)
    minx, miny = _rounded(bounds[:, 0], down=True), _rounded(bounds[:, 1], down=True)
    maxx, maxy = _rounded(bounds[:, 2], down=False), _rounded(bounds[:, 3], down=False)
    kept: np.ndarray = (maxx >= box[0]) & (minx <= box[2]) & (maxy >= box[1]) & (miny <= box[3])
    return kept


def _rounded(values: np.ndarray, down: bool) -> np.ndarray:
    """``values`` as the R-tree stores a box's minimums (``down``) or maximums."""
    stored = values.astype(np.float32).astype(np.float64)
    wrong = stored > values if down else stored < values
    # a minimum goes down: towards zero when positive, away from it when negative; a maximum the other way
    shrink = (values[wrong] < 0) != down
    scaled = values[wrong] * np.where(shrink, _TOWARDS_ZERO, _AWAY_FROM_ZERO)
    stored[wrong] = scaled.astype(np.float32).astype(np.float64)
    return stored


def read_table(
    path: Path, table: str, columns: list[str], where: str, keep: Callable[[np.ndarray], np.ndarray] | None = None
) -> tuple[pa.Table, np.ndarray]:
    """The Arrow table the reader process streams (``columns``, ``wkb``, ``fid``) and the geometries of its rows;
    with ``keep``, only the rows it keeps by their geometries.

    Each batch's WKB is parsed and kept or not as it arrives (``columnar.streamed``), while the child reads the next.
    """
    request = json.dumps({"path": str(path), "table": table, "columns": columns, "where": where})
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")]))}
    # stderr into a file, not a pipe: GDAL's warnings must never fill a pipe nobody reads while stdout streams
    with (
        tempfile.TemporaryFile() as errors,
        subprocess.Popen(
            [sys.executable, "-m", "ocsge_processes.stores.gpkg_arrow_child", request],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=errors,
            env=env,
        ) as child,
    ):
        assert child.stdout is not None  # a pipe, as asked
        read: tuple[pa.Table, np.ndarray] | None = None
        try:
            with pa.ipc.open_stream(child.stdout) as stream:
                read = columnar.streamed(stream, "wkb", keep)
        except pa.ArrowInvalid:
            pass  # the child failed before or while writing: its stderr says why
        if child.wait() != 0 or read is None:
            errors.seek(0)
            error = errors.read().decode(errors="replace").strip()[-2000:]
            raise StoreError(f"GeoPackage reader process failed on {path} ({table}): {error}")
    return read


def _frame(layer: Layer, epsg: int, arrow: pa.Table, shapes: np.ndarray) -> gpd.GeoDataFrame:
    """The frame in fid order, as the sqlite3 route's ``ORDER BY fid`` gives it."""
    fids = arrow.column("fid").to_numpy()
    if len(fids) > 1 and not bool(np.all(fids[1:] > fids[:-1])):
        order = np.argsort(fids, kind="stable")
        arrow, shapes = arrow.take(order), shapes[order]
    columns = {name: arrow.column(name) for name in layer.fields}
    return columnar.frame(layer, epsg, columns, shapes)
