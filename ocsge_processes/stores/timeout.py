"""A per-query time limit for the stores, set by the web server and left off for batch commands.

A web request must not hold a database connection for minutes because of a huge bbox or a slow filter, but
`ocsge ingest` and the batch artificialisation legitimately run long statements; so the limit is process-wide,
off by default, and the WSGI application turns it on (``OCSGE_STATEMENT_TIMEOUT``, 30 s by default).
"""

from __future__ import annotations

import os

from ..errors import StoreError

#: Seconds a web request's query may run.
DEFAULT_WEB_TIMEOUT_S = 30.0
_timeout_s: float | None = None


class QueryTimeoutError(StoreError):
    """A query ran past the limit and was stopped by the database."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"the query took longer than {seconds:g} s and was stopped; "
                         "narrow the bbox or the filter, or lower the limit")
        self.seconds = seconds


def set_query_timeout(seconds: float | None) -> None:
    """Limit every later store query of this process to ``seconds`` (None: no limit)."""
    global _timeout_s
    _timeout_s = seconds if seconds and seconds > 0 else None


def query_timeout() -> float | None:
    return _timeout_s


def web_timeout_from_env(environ: dict[str, str] = os.environ) -> float | None:
    """OCSGE_STATEMENT_TIMEOUT in seconds (0 turns the limit off)."""
    return float(environ.get("OCSGE_STATEMENT_TIMEOUT", DEFAULT_WEB_TIMEOUT_S)) or None
