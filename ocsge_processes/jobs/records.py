"""Job records and their results in one database that every web replica and worker shares: SQLite or PostgreSQL.

A job's status only moves forward (accepted → running → successful | failed, or → dismissed at any time), and
each move is one conditional UPDATE: a worker finishing a job that was dismissed meanwhile changes nothing, and
a result is stored in the same statement that makes the job successful, so nobody ever reads half of it.
Heartbeats use the database's clock, so workers on other machines with skewed clocks are judged fairly.
"""

from __future__ import annotations

import builtins
import json
from datetime import UTC, datetime
from typing import Any

from ..shareddb import Database, Params, Row, open_database

ACTIVE = ("accepted", "running")
TERMINAL = ("successful", "failed", "dismissed")
TABLE = "ocsge_jobs"
#: The fields of a job record as pygeoapi's job documents name them, plus ours (request, heartbeat).
FIELDS = (
    "identifier",
    "process_id",
    "status",
    "message",
    "progress",
    "created",
    "started",
    "updated",
    "finished",
    "mimetype",
    "request",
    "heartbeat",
)
_ACTIVE_SQL = "status IN ('accepted', 'running')"


class JobNotFound(KeyError):
    """No job has this identifier."""


def now_text() -> str:
    """A timestamp as pygeoapi writes them in job documents (UTC, ISO 8601)."""
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def open_records(connection: str) -> JobRecords:
    """The store a manager's ``connection`` names: a ``postgresql://`` URL or a SQLite file path."""
    return JobRecords(open_database(connection, _schema, TABLE))


def _schema(db: Database) -> list[str]:
    return [
        f"CREATE TABLE IF NOT EXISTS {TABLE} (identifier TEXT PRIMARY KEY, process_id TEXT NOT NULL, "
        "status TEXT NOT NULL, message TEXT, progress INTEGER NOT NULL DEFAULT 0, created TEXT NOT NULL, "
        "started TEXT, updated TEXT, finished TEXT, mimetype TEXT, request TEXT, "
        f"result {db.blob_type}, heartbeat {db.real_type})",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_created ON {TABLE} (created DESC, identifier DESC)",
        f"CREATE INDEX IF NOT EXISTS {TABLE}_status ON {TABLE} (status)",
    ]


class JobRecords:
    """Job records and results; every method is one short statement (or two), safe from any thread or process."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.now_sql = db.now_sql

    def _run(self, sql: str, params: Params = (), fetch: bool = False) -> tuple[builtins.list[Row], int]:
        return self.db.run(sql, params, fetch)

    # Any: a job document as pygeoapi's manager passes it, and the execution request's free-form JSON.
    def add(self, job: dict[str, Any], request: dict[str, Any] | None = None) -> None:
        """Record a new job (pygeoapi's job metadata) and the request that a worker will need to run it."""
        values = {**{name: job.get(name) for name in FIELDS}, "request": json.dumps(request or {}), "heartbeat": None}
        self._run(
            f"INSERT INTO {TABLE} ({', '.join(FIELDS)}) VALUES ({', '.join('?' * len(FIELDS))})",
            tuple(values[name] for name in FIELDS),
        )

    # Any: an execution request is free-form JSON (inputs, outputs, response, subscriber).
    def set_request(self, job_id: str, request: dict[str, Any]) -> None:
        """Attach the execution request (inputs, outputs, response, subscriber) to an accepted job."""
        self._run(f"UPDATE {TABLE} SET request = ? WHERE identifier = ?", (json.dumps(request), job_id))

    # Any: a job document as pygeoapi's manager interface returns it (``BaseManager.get_job``: a plain dict).
    def get(self, job_id: str) -> dict[str, Any]:
        """The record of ``job_id`` (no result bytes); raise JobNotFound."""
        rows, _ = self._run(f"SELECT {', '.join(FIELDS)} FROM {TABLE} WHERE identifier = ?", (job_id,), fetch=True)
        if not rows:
            raise JobNotFound(job_id)
        return _record(rows[0])

    # Any: job documents as pygeoapi's manager interface returns them (``BaseManager.get_jobs``: plain dicts).
    def list(self, limit: int, offset: int = 0, status: str | None = None) -> tuple[list[dict[str, Any]], int]:
        """One page of jobs, newest first, and how many jobs match in all (pages are cut by the database)."""
        where, params = ("WHERE status = ?", (status,)) if status else ("", ())
        rows, _ = self._run(
            f"SELECT {', '.join(FIELDS)} FROM {TABLE} {where} ORDER BY created DESC, identifier DESC LIMIT ? OFFSET ?",
            (*params, int(limit), int(offset)),
            fetch=True,
        )
        count, _ = self._run(f"SELECT COUNT(*) FROM {TABLE} {where}", params, fetch=True)
        return [_record(row) for row in rows], int(count[0][0])

    def start(self, job_id: str) -> bool:
        """accepted → running; False when the job is no longer waiting (dismissed, or run elsewhere)."""
        now = now_text()
        _, count = self._run(
            f"UPDATE {TABLE} SET status = 'running', started = ?, updated = ?, message = 'Job running', "
            f"heartbeat = {self.now_sql} WHERE identifier = ? AND status = 'accepted'",
            (now, now, job_id),
        )
        return count == 1

    def report(self, job_id: str, progress: int, message: str) -> str:
        """Record progress of an active job; return the job's status (``dismissed`` tells the job to stop)."""
        self._run(
            f"UPDATE {TABLE} SET progress = ?, message = ?, updated = ? WHERE identifier = ? AND {_ACTIVE_SQL}",
            (int(progress), message, now_text(), job_id),
        )
        return self.status(job_id)

    def status(self, job_id: str) -> str:
        """The status of ``job_id``; raise JobNotFound."""
        rows, _ = self._run(f"SELECT status FROM {TABLE} WHERE identifier = ?", (job_id,), fetch=True)
        if not rows:
            raise JobNotFound(job_id)
        return str(rows[0][0])

    def succeed(self, job_id: str, mimetype: str, data: bytes) -> bool:
        """running → successful with its result, in one statement; False if the job was dismissed or failed."""
        now = now_text()
        _, count = self._run(
            f"UPDATE {TABLE} SET status = 'successful', result = ?, mimetype = ?, progress = 100, "
            "message = 'Job complete', finished = ?, updated = ? WHERE identifier = ? AND status = 'running'",
            (data, mimetype, now, now, job_id),
        )
        return count == 1

    def fail(self, job_id: str, message: str) -> bool:
        """An active job → failed with ``message``; False if it had already ended."""
        now = now_text()
        _, count = self._run(
            f"UPDATE {TABLE} SET status = 'failed', message = ?, finished = ?, updated = ?, "
            f"mimetype = 'application/json' WHERE identifier = ? AND {_ACTIVE_SQL}",
            (message, now, now, job_id),
        )
        return count == 1

    def dismiss(self, job_id: str) -> str:
        """Any job → dismissed, its result dropped; return the status it had. Raise JobNotFound."""
        before = self.status(job_id)
        now = now_text()
        self._run(
            f"UPDATE {TABLE} SET status = 'dismissed', result = NULL, message = 'Job dismissed', "
            "finished = COALESCE(finished, ?), updated = ? WHERE identifier = ?",
            (now, now, job_id),
        )
        return before

    def result(self, job_id: str) -> tuple[str, bytes]:
        """The mimetype and bytes of a successful job's result; raise JobNotFound when there is none."""
        rows, _ = self._run(
            f"SELECT mimetype, result FROM {TABLE} WHERE identifier = ? AND status = 'successful'",
            (job_id,),
            fetch=True,
        )
        if not rows or rows[0][1] is None:
            raise JobNotFound(job_id)
        return rows[0][0], bytes(rows[0][1])

    def beat(self, job_ids: builtins.list[str]) -> None:
        """Tell the sweep that whoever runs or queues these jobs is alive."""
        for job_id in job_ids:
            self._run(
                f"UPDATE {TABLE} SET heartbeat = {self.now_sql} WHERE identifier = ? AND {_ACTIVE_SQL}", (job_id,)
            )

    def fail_stale(self, max_age_s: float) -> builtins.list[str]:
        """Fail the active jobs whose heartbeat is older than ``max_age_s``: their worker died. Return their ids.

        Jobs never given a heartbeat (waiting in a broker queue) are left alone: no worker has taken them yet.
        """
        rows, _ = self._run(
            f"SELECT identifier, heartbeat FROM {TABLE} WHERE {_ACTIVE_SQL} AND heartbeat IS NOT "
            f"NULL AND heartbeat < {self.now_sql} - ?",
            (float(max_age_s),),
            fetch=True,
        )
        failed = []
        for job_id, heartbeat in rows:
            since = datetime.fromtimestamp(float(heartbeat), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            now = now_text()
            _, count = self._run(
                f"UPDATE {TABLE} SET status = 'failed', message = ?, finished = ?, updated = ?, "
                f"mimetype = 'application/json' WHERE identifier = ? AND {_ACTIVE_SQL} AND heartbeat = ?",
                (f"worker lost: no heartbeat since {since}", now, now, job_id, heartbeat),
            )
            if count:
                failed.append(job_id)
        return failed


def _record(row: Row) -> dict[str, Any]:
    record = dict(zip(FIELDS, row, strict=True))  # every SELECT of a record lists FIELDS
    record["request"] = json.loads(record["request"] or "{}")
    return record
