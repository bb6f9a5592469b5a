"""Bulk PostGIS reads as Arrow columns, through ADBC's PostgreSQL driver.

psycopg builds a Python object per cell, about half of a large read's time; the ADBC driver fetches the result by
a binary COPY straight into Arrow columns, in C, and ``columnar.streamed`` parses each batch's WKB while the next
arrives. COPY takes no parameters (the driver falls back to row-by-row binding, a third slower here), so the
query comes bound by psycopg's own client-side quoting. Opening a connection costs about 50 ms (the driver reads
PostgreSQL's type catalogue), so only reads the planner expects to be large take this route.
"""

from __future__ import annotations

import os

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc
import numpy as np
import pyarrow as pa

from ..errors import StoreError
from . import columnar
from .timeout import QueryTimeoutError

#: Set to 0 to read with psycopg only, 1 to take this route for every bulk read.
SWITCH = "OCSGE_PG_ARROW_READ"
#: Rows the planner expects, below which the connection's 50 ms cost more than the route saves (about 2.5 µs wall
#: a row on the bench's Gironde: 5.0 against 2.5 µs a polygon, one millésime read each way).
MIN_ROWS = 20_000
#: SQLSTATE of a statement cancelled by ``statement_timeout``.
_QUERY_CANCELED = "57014"


def wanted(rows: float) -> bool:
    """Whether a bulk read of about ``rows`` rows takes this route."""
    switch = os.environ.get(SWITCH, "")
    if switch in ("0", "1"):
        return switch == "1"
    return rows >= MIN_ROWS


def read_table(url: str, sql: str, wkb: str, timeout_ms: int) -> tuple[pa.Table, np.ndarray]:
    """The rows of ``sql`` (bound, parameters inlined) as an Arrow table and the geometries of its column ``wkb``,
    read on a connection of their own under PostgreSQL's ``statement_timeout`` (0: none)."""
    try:
        with adbc.connect(url, autocommit=True) as conn, conn.cursor() as cursor:
            cursor.execute(f"SET statement_timeout = {int(timeout_ms)}")
            cursor.execute(sql)
            return columnar.streamed(_batches(cursor), wkb)
    except adbc_driver_manager.Error as err:
        if getattr(err, "sqlstate", None) == _QUERY_CANCELED:
            raise QueryTimeoutError(timeout_ms / 1000) from err
        raise StoreError(f"PostGIS bulk read failed: {str(err).splitlines()[0]}") from err


def _batches(cursor: adbc.Cursor) -> pa.RecordBatchReader:
    """The result's stream through the driver's own reader, which turns an error met mid-stream (a statement
    cancelled while COPY sends rows) into an ADBC error with its SQLSTATE; the pyarrow reader that
    ``fetch_record_batch`` hands out keeps only the message (arrow-adbc issue 1523)."""
    results = cursor._results
    if results is None:
        raise StoreError("PostGIS bulk read: the query gave no result set")
    return results.reader
