"""Progress of a running job written to pygeoapi's job manager, so that `GET /jobs/{id}` shows it.

pygeoapi gives a processor its job id but no handle on the manager; the manager is rebuilt here from the same
configuration file the server runs on. Updates are throttled: a job status is a file write.
"""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable

from pygeoapi.process.manager.base import BaseManager, get_manager
from pygeoapi.util import yaml_load

#: Fewest seconds between two writes of a job's progress.
MIN_INTERVAL_S = 1.0


def job_progress(job_id: str | None) -> Callable[[int, str], None]:
    """``report(percent, message)`` for ``job_id``; does nothing outside a job or without a job store."""
    manager = _manager() if job_id else None
    if manager is None:
        return lambda _percent, _message: None
    last = [0.0]

    def report(percent: int, message: str) -> None:
        now = time.monotonic()
        if percent < 100 and now - last[0] < MIN_INTERVAL_S:
            return
        last[0] = now
        manager.update_job(job_id, {"progress": min(int(percent), 99), "message": message})

    return report


@functools.cache
def _manager() -> BaseManager | None:
    path = os.environ.get("PYGEOAPI_CONFIG")
    if not path:
        return None
    with open(path, encoding="utf-8") as file:
        manager = get_manager(yaml_load(file))
    return manager if getattr(manager, "connection", None) else None
