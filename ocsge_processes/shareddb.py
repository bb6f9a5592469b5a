"""The database that every web replica and worker shares (job records, result files): SQLite or PostgreSQL.

Why one piece: both users need the same hard parts, a SQLite file opened per statement in WAL mode (readers never
wait for the writer), and on PostgreSQL one connection per process that a forked child never touches (closing it
would end its parent's session on the shared socket), reconnected once when the server restarted. Statements are
written once with ``?`` placeholders and the dialect's column types and clock come from :class:`Database`.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import psycopg

#: A row as the database drivers return it. Any: its values are typed by the SQL that selects them, not by Python.
Row = tuple[Any, ...]
#: Values bound to a statement's placeholders.
Params = tuple[object, ...]
#: The ``CREATE`` statements of a user of the database, written with the dialect's types.
Schema = Callable[["Database"], list[str]]


def open_database(connection: str, schema: Schema, name: str) -> Database:
    """The database a ``connection`` names (a ``postgresql://`` URL or a SQLite file path), its ``schema`` created.

    ``name`` serialises schema creation across processes on PostgreSQL (replicas starting together).
    """
    if connection.startswith(("postgresql://", "postgres://")):
        return PostgresDatabase(connection, schema, name)
    return SqliteDatabase(Path(connection), schema)


class Database(ABC):
    """Short statements from any thread or process, each autocommitted unless run as a batch."""

    blob_type = "BLOB"
    real_type = "REAL"
    #: Seconds since the epoch on the database's clock: replicas and workers with skewed clocks agree.
    now_sql = ""

    @abstractmethod
    def run(self, sql: str, params: Params = (), fetch: bool = False) -> tuple[list[Row], int]:
        """Execute ``sql``; the rows when ``fetch``, and the row count."""

    @abstractmethod
    def run_many(self, sql: str, rows: list[Params]) -> None:
        """Execute ``sql`` once for each of ``rows``, in one transaction."""


def wal_connection(path: Path, timeout: float = 30) -> sqlite3.Connection:
    """An autocommit connection to the SQLite file ``path`` (created if need be), in WAL mode.

    Processes opening a new file together (a replica and its workers, two workers writing their first results)
    take turns to switch it to WAL: two first openings both hold a shared lock and both need an exclusive one, a
    deadlock SQLite answers at once with "database is locked", without waiting on its busy timeout. The turn is an
    flock on a file beside the database, taken only while the file is not yet in WAL mode (it then stays so).
    """
    connection = sqlite3.connect(path, timeout=timeout, isolation_level=None)
    try:
        if connection.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
            with open(path.with_name(path.name + ".init-lock"), "a") as turn:
                fcntl.flock(turn, fcntl.LOCK_EX)
                connection.execute("PRAGMA journal_mode = WAL")
    except BaseException:
        connection.close()
        raise
    return connection


class SqliteDatabase(Database):
    """A SQLite file: one machine; a connection per statement, so any thread or forked process may call."""

    now_sql = "((julianday('now') - 2440587.5) * 86400.0)"

    def __init__(self, path: Path, schema: Schema) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        connection = wal_connection(self.path)
        try:
            for statement in schema(self):
                connection.execute(statement)
        finally:
            connection.close()

    def _connect(self) -> sqlite3.Connection:
        return sqlite3.connect(self.path, timeout=30, isolation_level=None)

    def run(self, sql: str, params: Params = (), fetch: bool = False) -> tuple[list[Row], int]:
        connection = self._connect()
        try:
            cursor = connection.execute(sql, params)
            return (cursor.fetchall() if fetch else []), cursor.rowcount
        finally:
            connection.close()

    def run_many(self, sql: str, rows: list[Params]) -> None:
        connection = self._connect()
        try:
            connection.execute("BEGIN IMMEDIATE")
            connection.executemany(sql, rows)
            connection.execute("COMMIT")
        finally:
            connection.close()


class PostgresDatabase(Database):
    """PostgreSQL: shared by machines; one connection per process, used by one thread at a time."""

    blob_type = "BYTEA"
    real_type = "DOUBLE PRECISION"
    now_sql = "extract(epoch from clock_timestamp())::double precision"

    def __init__(self, url: str, schema: Schema, name: str) -> None:
        import psycopg

        self.url = url
        self._lock = threading.Lock()
        self._connection: psycopg.Connection[Row] | None = None
        self._pid = 0
        self._inherited: list[psycopg.Connection[Row]] = []
        with psycopg.connect(url, autocommit=True) as connection, connection.transaction():
            connection.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", (name,))
            for statement in schema(self):
                connection.execute(statement)

    def run(self, sql: str, params: Params = (), fetch: bool = False) -> tuple[list[Row], int]:
        return self._with_connection(sql, [params], fetch)

    def run_many(self, sql: str, rows: list[Params]) -> None:
        self._with_connection(sql, rows, False)

    def _with_connection(self, sql: str, rows: list[Params], fetch: bool) -> tuple[list[Row], int]:
        """``sql`` for each of ``rows`` in one transaction; reconnect once when the connection dropped."""
        import psycopg

        sql = sql.replace("?", "%s")
        with self._lock:
            try:
                return self._execute(sql, rows, fetch)
            except psycopg.OperationalError:  # the server restarted or the connection dropped
                self._connection = None
                return self._execute(sql, rows, fetch)

    def _execute(self, sql: str, rows: list[Params], fetch: bool) -> tuple[list[Row], int]:
        import psycopg

        if self._pid != os.getpid() and self._connection is not None:
            # A forked child must not close its parent's socket: keep the inherited connection, untouched.
            self._inherited.append(self._connection)
            self._connection = None
        if self._connection is None or self._connection.closed:
            self._connection = psycopg.connect(self.url, autocommit=True)
            self._pid = os.getpid()
        if len(rows) == 1:
            cursor = self._connection.execute(sql, rows[0])
            return (cursor.fetchall() if fetch else []), cursor.rowcount
        with self._connection.transaction(), self._connection.cursor() as cursor:
            cursor.executemany(sql, rows, returning=fetch)
            return (cursor.fetchall() if fetch else []), cursor.rowcount
