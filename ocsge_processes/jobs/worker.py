"""The Celery worker that runs jobs, configured by the same runtime pygeoapi configuration as the web server.

    PYGEOAPI_CONFIG=build/pygeoapi-config.yml celery -A ocsge_processes.jobs.worker worker -Q cpu,gpu \\
        --concurrency 1 -n w1@%h

Job records and the broker come from the configuration's ``server.manager`` (``connection``, ``broker``).
A pool process that dies mid-job (Celery's WorkerLostError) ends its job ``failed`` right away; a whole worker
that dies stops heartbeating and the web side's sweep fails its job after ``stale_after_s``.
"""

from __future__ import annotations

import functools
import os

from billiard.exceptions import WorkerLostError
from celery import signals
from pygeoapi.util import yaml_load

from .distributed import TASK, make_app
from .records import JobNotFound, JobRecords, open_records
from .runner import Heartbeat, load_processor, run_job
from .settings import JobSettings


def _load_config() -> dict:
    path = os.environ.get("PYGEOAPI_CONFIG")
    if not path:
        raise RuntimeError("PYGEOAPI_CONFIG must name the runtime pygeoapi configuration (build/pygeoapi-config.yml)")
    with open(path, encoding="utf-8") as handle:
        return yaml_load(handle)


CONFIG = _load_config()
SETTINGS = JobSettings.from_manager(CONFIG["server"]["manager"])
app = make_app(SETTINGS.broker, SETTINGS.concurrency)


@functools.cache
def _records() -> JobRecords:
    return open_records(SETTINGS.connection)


@functools.cache
def _heartbeat() -> Heartbeat:
    return Heartbeat(_records(), SETTINGS.heartbeat_s)


@app.task(name=TASK, ignore_result=True)
def run(job_id: str) -> None:
    """Run one job of the records."""
    records = _records()
    try:
        job = records.get(job_id)
    except JobNotFound:
        return
    try:
        processor = load_processor(CONFIG, job["process_id"])
    except Exception as err:  # a worker configured without this process must say so in the job
        records.start(job_id)
        records.fail(job_id, f"worker cannot load process {job['process_id']!r}: {err}")
        return
    run_job(records, job_id, processor, _heartbeat(), SETTINGS.allow_internal_callbacks)


@signals.task_failure.connect
def _pool_process_lost(task_id: str | None = None, exception: BaseException | None = None, **_: object) -> None:
    """Sent in the worker's main process when the pool process running a job died (OOM killer, SIGKILL)."""
    if task_id and isinstance(exception, WorkerLostError):
        _records().fail(task_id, f"worker lost: {exception}")
