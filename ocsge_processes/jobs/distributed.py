"""Jobs on Celery workers over a Redis broker: the Celery app both sides share, and the web side's executor.

A task carries only the job id: the request, the result and the status live in the job records, so any worker
can run any job and any web replica can answer for it. Each process is routed to a queue (``gpu`` for the
segmentation, ``cpu`` for the rest, or the ``queue`` key of its processor configuration) so that GPU machines
take only the work that needs them.
"""

from __future__ import annotations

from typing import Any

from celery import Celery

from .processors import Processor

TASK = "ocsge.run_job"
DEFAULT_QUEUE = "cpu"
#: Processes that need a GPU worker unless their configuration names another queue.
GPU_PROCESSES = frozenset({"segmentation"})


def make_app(broker: str, concurrency: int | None = None) -> Celery:
    """The Celery app: no result backend (results are in the job records), one task per free worker slot.

    A task is acknowledged when it starts, and a worker reserves no task beyond those it runs: a SIGKILLed worker
    loses only its running jobs (which the heartbeat sweep fails), none that were waiting for it. A message lost
    between the broker and a job's start is sent again by an idle worker (``recovery``): a job runs at most once
    whatever the number of its messages, because only one worker can move it from ``accepted`` to ``running``.
    """
    app = Celery("ocsge", broker=broker, set_as_current=False)
    app.conf.update(
        task_ignore_result=True,
        task_acks_late=False,
        worker_prefetch_multiplier=1,
        worker_disable_prefetch=True,
        task_default_queue=DEFAULT_QUEUE,
        broker_connection_retry_on_startup=True,
        worker_hijack_root_logger=False,
    )
    if concurrency:
        app.conf.worker_concurrency = int(concurrency)
    return app


# Any: a processor's definition is free-form pygeoapi configuration.
def queue_for(process_id: str, processor_def: dict[str, Any]) -> str:
    """The queue a process's jobs go to."""
    return str(processor_def.get("queue") or ("gpu" if process_id in GPU_PROCESSES else DEFAULT_QUEUE))


class CeleryExecutor:
    """Sends jobs to the workers and stops them there."""

    # Any: the process resources of the pygeoapi configuration (free-form).
    def __init__(self, broker: str, processes: dict[str, dict[str, Any]]) -> None:
        self.app = make_app(broker)
        self.queues = {name: queue_for(name, resource.get("processor", {})) for name, resource in processes.items()}

    def submit(self, job_id: str, process_id: str, processor: Processor) -> None:
        """Queue ``job_id`` on its process's queue; the task id is the job id, so it can be revoked by it."""
        self.app.send_task(TASK, args=[job_id], task_id=job_id, queue=self.queues.get(process_id, DEFAULT_QUEUE))

    def cancel(self, job_id: str) -> None:
        """Discard the task if still queued; kill the pool process running it (the worker starts a new one)."""
        self.app.control.revoke(job_id, terminate=True)
