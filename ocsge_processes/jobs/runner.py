"""Run one job by id, the same way under every executor: start it, run its processor, store result or failure.

While a job runs, the process reports progress through ``reporter(job_id)``; each report also reads the job's
status, so a job dismissed from any web replica stops at its next report (cooperative cancel). A heartbeat
thread tells the records that the job's runner is alive; when it stops beating, ``JobRecords.fail_stale`` ends
the job ``failed``. A job's store queries have no statement timeout, even in the web process: that limit is for
web requests, and a sync execution's client is bounded by the sync budget instead (``wait_for_end``).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from ..errors import ERROR_TABLE, INTERNAL, answer_for
from ..stores.timeout import unlimited_queries
from . import callbacks
from .document import document
from .processors import Processor, json_serial
from .records import TERMINAL, JobRecords

LOGGER = logging.getLogger(__name__)
#: Fewest seconds between two progress writes of one job at the same percentage (a new percentage is always
#: written, so a step that ends fast is still seen, and there are at most a hundred of those).
MIN_REPORT_INTERVAL_S = 1.0
#: First and longest pause between two status reads of a job someone waits for: short jobs answer fast, long ones
#: cost a few reads a second.
FIRST_POLL_S, LONGEST_POLL_S = 0.01, 0.25
#: The OGC codes a failed job's message may start with (``InvalidParameterValue: …``): the error table's.
FAILURE_CODES = frozenset([INTERNAL.code, *(answer.code for _, answer in ERROR_TABLE)])
Report = Callable[[int, str], None]
#: A JSON document as ``json.loads`` reads it.
type Json = dict[str, Json] | list[Json] | str | int | float | bool | None
_REPORTERS: dict[str, Report] = {}


class JobDismissed(Exception):
    """Raised inside a process's progress report when its job was dismissed: unwinds the process."""


def reporter(job_id: str | None) -> Report | None:
    """The progress report of ``job_id`` if it runs in this process (None otherwise)."""
    return _REPORTERS.get(job_id) if job_id else None


class Heartbeat:
    """A daemon thread that marks this process's jobs alive every ``interval_s`` seconds (restarted after fork)."""

    def __init__(self, records: JobRecords, interval_s: float) -> None:
        self.records = records
        self.interval_s = interval_s
        self._jobs: set[str] = set()
        self._lock = threading.Lock()
        self._pid = 0

    def add(self, job_id: str) -> None:
        with self._lock:
            self._jobs.add(job_id)
            if self._pid != os.getpid():
                self._pid = os.getpid()
                threading.Thread(target=self._loop, name="ocsge-heartbeat", daemon=True).start()

    def discard(self, job_id: str) -> None:
        with self._lock:
            self._jobs.discard(job_id)

    @contextmanager
    def keep(self, job_id: str) -> Iterator[None]:
        self.add(job_id)
        try:
            yield
        finally:
            self.discard(job_id)

    def _loop(self) -> None:
        pid = os.getpid()
        while pid == os.getpid():
            time.sleep(self.interval_s)
            with self._lock:
                jobs = sorted(self._jobs)
            try:
                self.records.beat(jobs)
            except Exception:  # a database hiccup must not kill the heartbeat; the next beat retries
                LOGGER.exception("heartbeat failed")


def run_job(
    records: JobRecords,
    job_id: str,
    processor: Processor,
    heartbeat: Heartbeat,
    allow_internal_callbacks: bool = False,
) -> tuple[str, object, str]:
    """Run an accepted job to its end; return (mimetype, outputs, final status).

    A job that is no longer ``accepted`` (dismissed while queued, or taken by another worker) is not run.
    """
    request = records.get(job_id)["request"]
    if not records.start(job_id):
        return "application/json", None, records.status(job_id)
    subscriber = request.get("subscriber") or {}
    callbacks.notify(subscriber.get("inProgressUri"), {"jobID": job_id, "status": "running"}, allow_internal_callbacks)
    processor.set_job_id(job_id)
    _REPORTERS[job_id] = _make_reporter(records, job_id)
    try:
        with heartbeat.keep(job_id), unlimited_queries():
            extra = {"outputs": request.get("outputs")} if processor.supports_outputs else {}
            mimetype, outputs = processor.execute(request.get("inputs") or {}, **extra)
            if request.get("response") == "document":
                described, by_id = processor.metadata.get("outputs") or {}, getattr(processor, "outputs_by_id", False)
                outputs = document(described, request.get("outputs"), mimetype, outputs, by_id)
                mimetype = "application/json"
            if not records.succeed(job_id, mimetype, encode(outputs)):
                return mimetype, None, records.status(job_id)
    except JobDismissed:
        return "application/json", None, "dismissed"
    except Exception as err:  # the job fails: ours with the table's code and message, anything else as internal
        answer = answer_for(err)
        if answer is None:
            LOGGER.exception("job %s failed", job_id)
            answer, description = INTERNAL, f"internal error, see the log for job {job_id}"
        else:
            LOGGER.info("job %s failed: %s", job_id, err)
            description = str(err)
        error = {"type": answer.code, "code": answer.code, "description": description}
        records.fail(job_id, f"{answer.code}: {description}")
        callbacks.notify(
            subscriber.get("failedUri"), {"jobID": job_id, "status": "failed", **error}, allow_internal_callbacks
        )
        return "application/json", error, "failed"
    finally:
        _REPORTERS.pop(job_id, None)
    callbacks.notify(
        subscriber.get("successUri"),
        outputs if isinstance(outputs, (dict, list)) else {"jobID": job_id, "status": "successful"},
        allow_internal_callbacks,
    )
    return mimetype, outputs, "successful"


def wait_for_end(records: JobRecords, job_id: str, timeout_s: float) -> str:
    """Wait until ``job_id`` ends or ``timeout_s`` pass, whichever comes first; return its status then.

    Reads the records, so it works whichever executor (or machine) runs the job.
    """
    deadline = time.monotonic() + timeout_s
    pause = FIRST_POLL_S
    while (status := records.status(job_id)) not in TERMINAL:
        left = deadline - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(pause, left))
        pause = min(pause * 1.5, LONGEST_POLL_S)
    return status


def failure(message: str | None) -> dict[str, str]:
    """The OGC exception of a failed job, from its message (the runner's, or the sweep's ``worker lost: …``)."""
    text = message or "the job failed"
    code, found, description = text.partition(": ")
    if found and code in FAILURE_CODES:
        return {"type": code, "code": code, "description": description}
    return {"type": "NoApplicableCode", "code": "NoApplicableCode", "description": text}


def encode(outputs: object) -> bytes:
    """A process's outputs as the bytes stored for ``GET /jobs/{id}/results``."""
    if isinstance(outputs, bytes):
        return outputs
    if isinstance(outputs, str):
        return outputs.encode("utf-8")
    return json.dumps(outputs, default=json_serial).encode("utf-8")


def decode(mimetype: str | None, data: bytes) -> Json | bytes:
    """Stored bytes back as pygeoapi serves them: JSON documents parsed, everything else as bytes."""
    if mimetype in (None, "application/json"):
        document: Json = json.loads(data)
        return document
    return data


def _make_reporter(records: JobRecords, job_id: str) -> Report:
    last = (0.0, -1)  # when the last write was, at which percentage

    def report(percent: int, message: str) -> None:
        nonlocal last
        now = time.monotonic()
        if percent == last[1] and now - last[0] < MIN_REPORT_INTERVAL_S:
            return
        last = (now, percent)
        if records.report(job_id, min(int(percent), 99), message) == "dismissed":
            raise JobDismissed(job_id)

    return report
