"""Progress of a running job, shown by ``GET /jobs/{id}`` (``progress``, ``message``).

The job runner (``ocsge_processes.jobs.runner``) registers a report for each job it runs, under any executor;
the report also stops the process, by raising ``JobDismissed``, when the job was dismissed meanwhile.
"""

from __future__ import annotations

from collections.abc import Callable

from ...jobs.runner import reporter


def job_progress(job_id: str | None) -> Callable[[int, str], None]:
    """``report(percent, message)`` for ``job_id``; does nothing outside a job."""
    return reporter(job_id) or (lambda _percent, _message: None)
