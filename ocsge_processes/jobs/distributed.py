"""Jobs on Celery workers over a Redis broker: the Celery app both sides share, and the web side's executor.

A task carries only the job id: the request, the result and the status live in the job records, so any worker
can run any job and any web replica can answer for it. Each process is routed to a queue (``gpu`` for the
segmentation, ``cpu`` for the rest, or the ``queue`` key of its processor configuration) so that GPU machines
take only the work that needs them.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from celery import Celery

from .processors import Processor

TASK = "ocsge.run_job"
DEFAULT_QUEUE = "cpu"
#: Processes that need a GPU worker unless their configuration names another queue.
GPU_PROCESSES = frozenset({"segmentation"})
#: The input with which a GPU process's job fans its work out to the gpu queue (given a ``store`` for the fan-out's
#: notes): the job itself then runs on the cpu queue, so that a job waiting for its tasks never holds their slot.
FANOUT_INPUTS = {"segmentation": "dalles"}


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
def queue_for(process_id: str, processor_def: dict[str, Any], inputs: Mapping[str, object] | None = None) -> str:
    """The queue a process's jobs go to (``inputs``: the job's, when known)."""
    if processor_def.get("queue"):
        return str(processor_def["queue"])
    fans_out = processor_def.get("store") and inputs is not None and FANOUT_INPUTS.get(process_id) in inputs
    return "gpu" if process_id in GPU_PROCESSES and not fans_out else DEFAULT_QUEUE


class CeleryExecutor:
    """Sends jobs to the workers and stops them there."""

    # Any: the process resources of the pygeoapi configuration (free-form).
    def __init__(self, broker: str, processes: dict[str, dict[str, Any]]) -> None:
        self.app = make_app(broker)
        self.processor_defs = {name: resource.get("processor", {}) for name, resource in processes.items()}

    def submit(
        self, job_id: str, process_id: str, processor: Processor, inputs: Mapping[str, object] | None = None
    ) -> None:
        """Queue ``job_id`` on its process's queue; the task id is the job id, so it can be revoked by it."""
        queue = queue_for(process_id, self.processor_defs.get(process_id, {}), inputs)
        self.app.send_task(TASK, args=[job_id], task_id=job_id, queue=queue)

    def cancel(self, job_id: str) -> None:
        """Discard the task if still queued; kill the pool process running it (the worker starts a new one)."""
        self.app.control.revoke(job_id, terminate=True)
