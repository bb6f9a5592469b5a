"""The embedded executor: jobs run on a bounded pool of threads inside the web process, no broker needed.

Every execution runs here, sync ones included (their request only waits for the job, up to the sync budget), so a
request thread never computes and never outlives gunicorn's worker timeout with jobs inside its worker.

Jobs beyond ``max_jobs`` wait in the pool's queue; they keep a heartbeat while they wait, so that a web process
that dies takes its queued jobs to ``failed`` too instead of leaving them ``accepted`` forever. Cancel is
cooperative: the records say ``dismissed``, a queued job then never starts and a running one stops at its next
progress report (a process that never reports runs to its end, and its result is discarded).
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor

from .processors import Processor
from .records import JobRecords
from .runner import Heartbeat, run_job


class InProcessExecutor:
    """Runs jobs on at most ``max_jobs`` threads of this process."""

    def __init__(
        self, records: JobRecords, heartbeat: Heartbeat, max_jobs: int = 2, allow_internal_callbacks: bool = False
    ) -> None:
        self.records = records
        self.heartbeat = heartbeat
        self.max_jobs = max(1, int(max_jobs))
        self.allow_internal_callbacks = allow_internal_callbacks
        self._pool: ThreadPoolExecutor | None = None
        self._pid = 0
        self._lock = threading.Lock()

    def submit(
        self, job_id: str, process_id: str, processor: Processor, inputs: Mapping[str, object] | None = None
    ) -> None:
        """Queue ``job_id``; it starts as soon as one of the ``max_jobs`` threads is free (``inputs``: unused here,
        where every job runs in this process)."""
        self.heartbeat.add(job_id)
        self._threads().submit(self._run, job_id, processor)

    def cancel(self, job_id: str) -> None:
        """Nothing to signal: the runner reads the dismissal from the records."""

    def _run(self, job_id: str, processor: Processor) -> None:
        try:
            run_job(self.records, job_id, processor, self.heartbeat, self.allow_internal_callbacks)
        finally:
            self.heartbeat.discard(job_id)

    def _threads(self) -> ThreadPoolExecutor:
        with self._lock:  # a pool made before a fork has no threads in the child: make one per process
            if self._pool is None or self._pid != os.getpid():
                self._pool = ThreadPoolExecutor(self.max_jobs, thread_name_prefix="ocsge-job")
                self._pid = os.getpid()
            return self._pool
