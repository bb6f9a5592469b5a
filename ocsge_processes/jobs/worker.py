"""The Celery worker that runs jobs, configured by the same runtime pygeoapi configuration as the web server.

    PYGEOAPI_CONFIG=build/pygeoapi-config.yml celery -A ocsge_processes.jobs.worker worker -Q cpu,gpu \\
        --concurrency 1 -n w1@%h

Job records and the broker come from the configuration's ``server.manager`` (``connection``, ``broker``).
A pool process that dies mid-job (Celery's WorkerLostError) ends its job ``failed`` right away; a whole worker
that dies stops heartbeating and the sweep (run by the web side and by every worker) fails its job after
``stale_after_s``. A new pool process lets go of the broker sockets it inherits (``forks``), and an idle worker
queues again the accepted jobs whose message was lost (``recovery``), so that no queued job waits forever.
"""

from __future__ import annotations

import functools
import os

from billiard.exceptions import WorkerLostError
from celery import bootsteps, signals
from celery.worker import state
from celery.worker.consumer import Consumer
from pygeoapi.util import yaml_load

from .distributed import TASK, make_app, queue_for
from .forks import broker_addresses, release_sockets_to
from .records import JobNotFound, JobRecords, open_records
from .recovery import LostJobs
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


@signals.worker_process_init.connect
def _release_broker_sockets(**_: object) -> None:
    """In each new pool process, before it runs anything: drop the copies of the worker's broker connections."""
    release_sockets_to(broker_addresses(SETTINGS.broker))


def _queue_of(process_id: str) -> str:
    return queue_for(process_id, CONFIG.get("resources", {}).get(process_id, {}).get("processor", {}))


def _send(job_id: str, queue: str) -> None:
    app.send_task(TASK, args=[job_id], task_id=job_id, queue=queue)


@functools.cache
def _lost_jobs() -> LostJobs:
    return LostJobs(_records(), _queue_of, _send, SETTINGS.stale_after_s)


@signals.task_received.connect
def _received(**_: object) -> None:
    _lost_jobs().received = True


class Sweep(bootsteps.StartStopStep):
    """Every heartbeat period, in the worker's main loop (no thread to inherit at fork): fail the jobs of dead
    workers, and, when idle, queue again the jobs whose message was lost. Safe on every worker at once: failing is
    a conditional update, and a job queued twice runs once."""

    requires = ("celery.worker.consumer.tasks:Tasks",)

    def __init__(self, parent: Consumer, **kwargs: object) -> None:
        super().__init__(parent, **kwargs)
        self.entry = None

    def start(self, parent: Consumer) -> None:
        self.entry = parent.timer.call_repeatedly(SETTINGS.heartbeat_s, self.sweep, (parent,))

    def stop(self, parent: Consumer) -> None:
        if self.entry is not None:
            self.entry.cancel()
            self.entry = None

    @staticmethod
    def sweep(parent: Consumer) -> None:
        _records().fail_stale(SETTINGS.stale_after_s)
        queues = [queue.name for queue in parent.task_consumer.queues]
        _lost_jobs().check(queues, busy=bool(state.reserved_requests))


app.steps["consumer"].add(Sweep)
