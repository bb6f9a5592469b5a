"""Result files in SQLite (one machine) or PostgreSQL (scaled out): the database the job records use.

Why a database and not a folder: every web replica and worker already reaches the job database, so a file written
by a worker on one machine is served by a replica on another with nothing more to deploy (no shared file system,
no object store). Files are cut into chunks of :data:`CHUNK_BYTES` rows: a range request (GDAL ``/vsicurl/``
reading a COG, a resumed download) reads only the chunks it covers, and a download streams chunk by chunk in
bounded memory. Chunks are written first, one short statement each (SQLite's write lock is never held for a whole
file, so job updates are not blocked), and the file's row last: nobody ever sees half a file.

A file lives until its ``expires`` time (the database's clock, so replicas with skewed clocks agree). The sweep
then deletes its chunks and keeps its row as a tombstone, so that a late client is told the file expired (410)
rather than that it never existed (404); removing a job's files (``DELETE /jobs/{id}``) leaves the same kind of
tombstone.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from ..shareddb import Database, Params, Row, open_database

#: Bytes per stored chunk: a COG tile read by GDAL (16 KiB to a few hundred KiB) touches one or two chunks.
CHUNK_BYTES = 1 << 20
FILES, CHUNKS = "ocsge_result_files", "ocsge_result_chunks"
#: Chunks written in one transaction: SQLite syncs each commit (one per chunk: 20 MiB/s here), and its write lock,
#: which job updates wait for, is held for one batch only (8 MiB: a fraction of a second).
CHUNKS_PER_COMMIT = 8
#: Chunks without a file row older than this are the remains of a writer that died mid-file.
ORPHAN_AFTER_S = 86_400.0
_COLUMNS = "result_id, name, media_type, size, etag, created, expires, gone, job_id"


class ResultNotFound(KeyError):
    """No result file has this id and name."""


class ResultGone(Exception):
    """The file existed and was removed: it expired, or its job was dismissed (the message says which)."""


@dataclass(frozen=True)
class ResultFile:
    """One stored file (its bytes are read with :meth:`ResultStore.read`)."""

    result_id: str
    name: str
    media_type: str
    size: int
    #: A strong validator: the SHA-256 of the bytes (quoted, as the ETag header carries it).
    etag: str
    #: Seconds since the epoch, on the database's clock.
    created: float
    expires: float
    #: Why the bytes are gone (``expired``, ``dismissed``), None while they are served.
    gone: str | None
    job_id: str | None


def open_results(connection: str) -> ResultStore:
    """The result store of a job manager's ``connection``: a ``postgresql://`` URL or a SQLite file path."""
    return ResultStore(open_database(connection, _schema, FILES))


def _schema(db: Database) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {FILES} (result_id TEXT NOT NULL, name TEXT NOT NULL, media_type TEXT NOT "
        f"NULL, size BIGINT NOT NULL, etag TEXT NOT NULL, created {db.real_type} NOT NULL, expires "
        f"{db.real_type} NOT NULL, gone TEXT, job_id TEXT, PRIMARY KEY (result_id, name))",
        f"CREATE INDEX IF NOT EXISTS {FILES}_expires ON {FILES} (expires) WHERE gone IS NULL",
        f"CREATE INDEX IF NOT EXISTS {FILES}_job ON {FILES} (job_id)",
        f"CREATE TABLE IF NOT EXISTS {CHUNKS} (result_id TEXT NOT NULL, name TEXT NOT NULL, seq INTEGER NOT "
        f"NULL, data {db.blob_type} NOT NULL, written {db.real_type} NOT NULL, PRIMARY KEY (result_id, name, "
        "seq))",
    ]


class ResultStore:
    """Result files with a lifetime; every method is a few short statements, safe from any thread or process."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.now_sql = db.now_sql

    def _run(self, sql: str, params: Params = (), fetch: bool = False) -> list[Row]:
        return self.db.run(sql, params, fetch)[0]

    def _run_many(self, sql: str, rows: list[Params]) -> None:
        self.db.run_many(sql, rows)

    def put(
        self, result_id: str, name: str, path: Path, media_type: str, lifetime_s: float, job_id: str | None = None
    ) -> ResultFile:
        """Store the file at ``path`` as ``name`` of ``result_id`` for ``lifetime_s`` seconds; replace any file of
        that name (its readers then see the new one whole, or the old one whole)."""
        if lifetime_s <= 0:
            raise ValueError(f"a result's lifetime must be positive, not {lifetime_s}")
        # Uploaded under a name no file has, so that a failed upload (a quota, a lost connection) leaves the file it
        # was to replace whole; a dead writer's staged chunks are swept as orphans.
        staged = f"{name}\n{uuid.uuid4().hex}"
        digest, size = hashlib.sha256(), 0
        batch: list[tuple[object, ...]] = []
        insert = f"INSERT INTO {CHUNKS} (result_id, name, seq, data, written) VALUES (?, ?, ?, ?, {self.now_sql})"
        with open(path, "rb") as handle:
            for seq, data in enumerate(iter(lambda: handle.read(CHUNK_BYTES), b"")):
                digest.update(data)
                size += len(data)
                batch.append((result_id, staged, seq, data))
                if len(batch) == CHUNKS_PER_COMMIT:
                    self._run_many(insert, batch)
                    batch = []
        if batch:
            self._run_many(insert, batch)
        self._run(f"DELETE FROM {CHUNKS} WHERE result_id = ? AND name = ?", (result_id, name))
        self._run(f"UPDATE {CHUNKS} SET name = ? WHERE result_id = ? AND name = ?", (name, result_id, staged))
        self._run(f"DELETE FROM {FILES} WHERE result_id = ? AND name = ?", (result_id, name))
        self._run(
            f"INSERT INTO {FILES} ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, {self.now_sql}, {self.now_sql} + ?, NULL, ?)",
            (result_id, name, media_type, size, f'"{digest.hexdigest()}"', float(lifetime_s), job_id),
        )
        return self.info(result_id, name)

    def info(self, result_id: str, name: str) -> ResultFile:
        """The file ``name`` of ``result_id``; raise ResultNotFound, or ResultGone once it expired or was removed
        (an expired file is gone at once, before any sweep deletes its bytes)."""
        rows = self._run(
            f"SELECT {_COLUMNS}, expires <= {self.now_sql} FROM {FILES} WHERE result_id = ? AND name = ?",
            (result_id, name),
            fetch=True,
        )
        if not rows:
            raise ResultNotFound(f"{result_id}/{name}")
        file = ResultFile(*rows[0][:-1])
        if file.gone == "dismissed":
            raise ResultGone(f"result {result_id}/{name} was removed when its job was dismissed")
        if file.gone or rows[0][-1]:
            raise ResultGone(f"result {result_id}/{name} expired (its lifetime ended); run the process again")
        return file

    def files(self, result_id: str) -> list[ResultFile]:
        """The files of ``result_id`` still served, by name."""
        rows = self._run(
            f"SELECT {_COLUMNS} FROM {FILES} WHERE result_id = ? AND gone IS NULL AND expires > {self.now_sql} "
            "ORDER BY name",
            (result_id,),
            fetch=True,
        )
        return [ResultFile(*row) for row in rows]

    def read(self, file: ResultFile, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """The bytes ``start`` to ``end`` (inclusive; the last byte by default) of ``file``, a chunk at a time."""
        end = file.size - 1 if end is None else min(end, file.size - 1)
        for seq in range(start // CHUNK_BYTES, end // CHUNK_BYTES + 1):
            rows = self._run(
                f"SELECT data FROM {CHUNKS} WHERE result_id = ? AND name = ? AND seq = ?",
                (file.result_id, file.name, seq),
                fetch=True,
            )
            if not rows:  # swept or replaced while it was read: the client gets a short body, never wrong bytes
                return
            data = bytes(rows[0][0])
            base = seq * CHUNK_BYTES
            yield data[max(start - base, 0) : end - base + 1]

    def remove_job(self, job_id: str) -> int:
        """Delete the bytes of every file of ``job_id``, keeping tombstones; return how many files were removed."""
        rows = self._run(f"SELECT result_id, name FROM {FILES} WHERE job_id = ? AND gone IS NULL", (job_id,), True)
        for result_id, name in rows:
            self._drop(result_id, name, "dismissed")
        return len(rows)

    def sweep(self) -> int:
        """Delete the bytes of expired files (tombstones stay) and chunks a dead writer left; return how many files
        expired. Any replica or worker may run it at any time."""
        rows = self._run(
            f"SELECT result_id, name FROM {FILES} WHERE gone IS NULL AND expires <= {self.now_sql}", fetch=True
        )
        for result_id, name in rows:
            self._drop(result_id, name, "expired")
        self._run(
            f"DELETE FROM {CHUNKS} WHERE written < {self.now_sql} - ? AND NOT EXISTS (SELECT 1 FROM {FILES} f "
            f"WHERE f.result_id = {CHUNKS}.result_id AND f.name = {CHUNKS}.name)",
            (ORPHAN_AFTER_S,),
        )
        return len(rows)

    def _drop(self, result_id: str, name: str, reason: str) -> None:
        self._run(f"UPDATE {FILES} SET gone = ? WHERE result_id = ? AND name = ?", (reason, result_id, name))
        self._run(f"DELETE FROM {CHUNKS} WHERE result_id = ? AND name = ?", (result_id, name))
