"""A per-query time limit for the stores, set by the web server and left off for batch commands and jobs.

A web request must not hold a database connection for minutes because of a huge bbox or a slow filter, but
`ocsge ingest`, the batch artificialisation and process executions (jobs, sync ones included) legitimately run
long statements; so the limit is process-wide, off by default, turned on by the WSGI application
(``OCSGE_STATEMENT_TIMEOUT``, 30 s by default), and lifted for jobs (``unlimited_queries``: a context variable, so
helper threads started with the job's context keep it). A job's time is bounded by its executor and, for a sync
execution, the client's wait by the sync budget (docs/limits.md).
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

from ..errors import QueryTimeoutError

#: Seconds a web request's query may run.
DEFAULT_WEB_TIMEOUT_S = 30.0
_timeout_s: float | None = None
_unlimited: ContextVar[bool] = ContextVar("ocsge_unlimited_queries", default=False)

__all__ = ["QueryTimeoutError", "query_timeout", "set_query_timeout", "unlimited_queries", "web_timeout_from_env"]


def set_query_timeout(seconds: float | None) -> None:
    """Limit every later store query of this process to ``seconds`` (None: no limit)."""
    global _timeout_s
    _timeout_s = seconds if seconds and seconds > 0 else None


def query_timeout() -> float | None:
    """The limit of a query made now (None inside ``unlimited_queries``)."""
    return None if _unlimited.get() else _timeout_s


@contextmanager
def unlimited_queries() -> Iterator[None]:
    """Lift the limit in this context: a job is not a web request, even when it runs in the web process."""
    token = _unlimited.set(True)
    try:
        yield
    finally:
        _unlimited.reset(token)


def web_timeout_from_env(environ: Mapping[str, str] = os.environ) -> float | None:
    """OCSGE_STATEMENT_TIMEOUT in seconds (0 turns the limit off)."""
    return float(environ.get("OCSGE_STATEMENT_TIMEOUT", DEFAULT_WEB_TIMEOUT_S)) or None
