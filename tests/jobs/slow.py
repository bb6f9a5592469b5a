"""A pygeoapi process for the job tests: it sleeps in steps, reporting progress with its process ids (its own, and
its parent's: the Celery worker that runs it).

Real artificialisation runs finish in well under a second on the demo data; cancelling and killing workers
needs a job that is still running when the test acts, and whose process the test can watch.
"""

from __future__ import annotations

import os
import time

from pygeoapi.process.base import BaseProcessor

from ocsge_processes.server.processes.progress import job_progress

PROCESS_METADATA = {
    "version": "0.1.0",
    "id": "slow",
    "title": "Slow",
    "description": "Sleeps, reporting progress.",
    "jobControlOptions": ["sync-execute", "async-execute"],
    "keywords": [],
    "links": [],
    "inputs": {
        "seconds": {
            "title": "seconds",
            "description": "How long to run.",
            "schema": {"type": "number"},
            "minOccurs": 1,
            "maxOccurs": 1,
        }
    },
    "outputs": {
        "slept": {
            "title": "slept",
            "description": "What ran.",
            "schema": {"type": "object", "contentMediaType": "application/json"},
        }
    },
}
STEP_S = 0.2


class SlowProcessor(BaseProcessor):
    def __init__(self, processor_def: dict) -> None:
        super().__init__(processor_def, PROCESS_METADATA)
        self.job_id: str | None = None

    def set_job_id(self, job_id: str) -> None:
        self.job_id = job_id

    def execute(self, data: dict, outputs: dict | None = None) -> tuple[str, dict]:
        report = job_progress(self.job_id)
        seconds = float(data["seconds"])
        started = time.monotonic()
        while (elapsed := time.monotonic() - started) < seconds:
            report(int(100 * elapsed / seconds), f"pid {os.getpid()} worker {os.getppid()}")
            time.sleep(STEP_S)
        return "application/json", {
            "seconds": seconds,
            "pid": os.getpid(),
            "started": started,
            "ended": time.monotonic(),
        }
