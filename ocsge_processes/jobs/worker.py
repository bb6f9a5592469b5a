"""The Celery worker that runs jobs, configured by the same runtime pygeoapi configuration as the web server.

    PYGEOAPI_CONFIG=build/pygeoapi-config.yml ocsge worker -Q cpu,gpu --concurrency 1 -n w1@%h

``ocsge worker`` builds the Celery app with ``create_app`` and runs ``celery worker`` on it with the options given;
importing this module reads nothing. Job records and the broker come from the configuration's ``server.manager``
(``connection``, ``broker``). A pool process that dies mid-job (Celery's WorkerLostError) ends its job ``failed``
right away; a whole worker that dies stops heartbeating and the sweep (run by the web side and by every worker)
fails its job after ``stale_after_s``. A new pool process lets go of the broker sockets it inherits (``forks``), and
an idle worker queues again the accepted jobs whose message was lost (``recovery``), so that no queued job waits
forever.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from billiard.exceptions import WorkerLostError
from celery import Celery, bootsteps, signals
from celery.worker import state
from celery.worker.consumer import Consumer
from kombu.asynchronous.timer import Entry

from .distributed import TASK, make_app, queue_for
from .forks import broker_addresses, release_sockets_to
from .processors import load_processor, read_config
from .records import JobNotFound, JobRecords, open_records
from .recovery import LostJobs
from .runner import Heartbeat, run_job
from .settings import JobSettings

#: The environment variable naming the runtime pygeoapi configuration (the web server's too).
CONFIG_VARIABLE = "PYGEOAPI_CONFIG"


class JobWorker:
    """A worker's configuration and Celery app, and what its jobs need: the records, the heartbeat and the lost-job
    tracker, each made on first use (in the main process or in a pool process, which then inherits none)."""

    # Any: a pygeoapi configuration is free-form YAML.
    def __init__(self, config: dict[str, Any]) -> None:
        self.config = config
        self.settings = JobSettings.from_manager((config.get("server") or {}).get("manager") or {})
        self.app = make_app(self.settings.broker, self.settings.concurrency)

    @functools.cached_property
    def records(self) -> JobRecords:
        return open_records(self.settings.connection)

    @functools.cached_property
    def heartbeat(self) -> Heartbeat:
        return Heartbeat(self.records, self.settings.heartbeat_s)

    @functools.cached_property
    def lost_jobs(self) -> LostJobs:
        return LostJobs(self.records, self.queue_of, self.send, self.settings.stale_after_s)

    def run(self, job_id: str) -> None:
        """Run one job of the records."""
        try:
            job = self.records.get(job_id)
        except JobNotFound:
            return
        try:
            processor = load_processor(self.config, job["process_id"])
        except Exception as err:  # a worker configured without this process must say so in the job
            self.records.start(job_id)
            self.records.fail(job_id, f"worker cannot load process {job['process_id']!r}: {err}")
            return
        run_job(self.records, job_id, processor, self.heartbeat, self.settings.allow_internal_callbacks)

    def queue_of(self, process_id: str, inputs: Mapping[str, object] | None = None) -> str:
        processor_def = self.config.get("resources", {}).get(process_id, {}).get("processor", {})
        return queue_for(process_id, processor_def, inputs)

    def send(self, job_id: str, queue: str) -> None:
        self.app.send_task(TASK, args=[job_id], task_id=job_id, queue=queue)

    def sweep(self, queues: list[str], busy: bool) -> None:
        """Fail the jobs of dead workers; when idle, queue again the jobs whose message was lost."""
        self.records.fail_stale(self.settings.stale_after_s)
        self.lost_jobs.check(queues, busy=busy)

    def pool_process_lost(
        self, task_id: str | None = None, exception: BaseException | None = None, **_: object
    ) -> None:
        """Sent in the worker's main process when the pool process running a job died (OOM killer, SIGKILL)."""
        if task_id and isinstance(exception, WorkerLostError):
            self.records.fail(task_id, f"worker lost: {exception}")

    def release_broker_sockets(self, **_: object) -> None:
        """In each new pool process, before it runs anything: drop the copies of the worker's broker connections."""
        release_sockets_to(broker_addresses(self.settings.broker))

    def received(self, **_: object) -> None:
        self.lost_jobs.received = True


class Sweep(bootsteps.StartStopStep):
    """Every heartbeat period, in the worker's main loop (no thread to inherit at fork): ``JobWorker.sweep``. Safe on
    every worker at once: failing is a conditional update, and a job queued twice runs once."""

    requires = ("celery.worker.consumer.tasks:Tasks",)
    #: The worker whose jobs are swept: set on the subclass that ``create_app`` adds to its app.
    worker: ClassVar[JobWorker]

    def __init__(self, parent: Consumer, **kwargs: object) -> None:
        super().__init__(parent, **kwargs)
        self.entry: Entry | None = None

    def start(self, parent: Consumer) -> None:
        self.entry = parent.timer.call_repeatedly(self.worker.settings.heartbeat_s, self.sweep, (parent,))

    def stop(self, parent: Consumer) -> None:
        if self.entry is not None:
            self.entry.cancel()
            self.entry = None

    def sweep(self, parent: Consumer) -> None:
        # task_consumer is set by the consumer's Tasks step, which this step requires.
        consumer = parent.task_consumer  # type: ignore[attr-defined]  # set at runtime; celery-types omits it
        self.worker.sweep([queue.name for queue in consumer.queues], busy=bool(state.reserved_requests))


def create_app(config_path: str | None = None) -> Celery:
    """The worker's Celery app for the runtime pygeoapi configuration at ``config_path`` (default: the file that
    ``PYGEOAPI_CONFIG`` names): the job task, the signal handlers and the periodic sweep. Raise ValueError when no
    configuration is named or its ``server.manager`` is wrong, OSError when the file cannot be read."""
    path = config_path or os.environ.get(CONFIG_VARIABLE)
    if not path:
        raise ValueError(f"{CONFIG_VARIABLE} must name the runtime pygeoapi configuration (build/pygeoapi-config.yml)")
    worker = JobWorker(read_config(path))

    def run(job_id: str) -> None:
        """Run one job of the records."""
        worker.run(job_id)

    worker.app.task(name=TASK, ignore_result=True)(run)
    # Strong references: the handlers are bound methods of a worker that nothing else keeps.
    signals.task_failure.connect(worker.pool_process_lost, weak=False)
    signals.worker_process_init.connect(worker.release_broker_sockets, weak=False)
    signals.task_received.connect(worker.received, weak=False)
    worker.app.steps["consumer"].add(type("Sweep", (Sweep,), {"worker": worker}))
    return worker.app


def run_worker(app: Celery, options: Sequence[str]) -> None:
    """``celery worker`` with ``options`` (``-Q``, ``--concurrency``, ``-n``…) on ``app`` (from ``create_app``);
    exits the process with the worker's status, as the ``celery`` command does."""
    from celery.bin.celery import celery

    celery.main(args=["worker", *options], prog_name="ocsge worker", default_map={"app": app})
