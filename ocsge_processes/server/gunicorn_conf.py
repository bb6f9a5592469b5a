"""gunicorn settings shared by every way the server is started (``make serve``, the tests, the topology, the image):
``gunicorn -c python:ocsge_processes.server.gunicorn_conf ocsge_processes.server.app:APP``.

Command-line options still win over these (``--workers``, ``--bind``).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:

    class _Settings(Protocol):
        timeout: int

    class _Log(Protocol):
        def info(self, msg: str, *args: object) -> None: ...

    class Arbiter(Protocol):
        """What ``on_starting`` uses of gunicorn's arbiter (gunicorn ships no type information)."""

        cfg: _Settings
        log: _Log


#: gunicorn 27's control socket has one default path per user: a second server would take it over from the first,
#: and stopping either deletes it. Nothing here uses it.
control_socket_disable = True

#: The request line is bounded by our own WSGI layer (a 414 with an OGC exception, docs/limits.md); gunicorn's own
#: limit (4 094 bytes by default, 8 190 at most) would answer a bare 400 first, so it is lifted (0: its 1 MiB cap).
limit_request_line = 0

#: Seconds a worker may stay silent before the arbiter kills it (and every job thread inside it). Every store query
#: and every synchronous wait ends before this (``on_starting`` checks it), so it only fires on a truly stuck worker.
timeout = int(os.environ.get("OCSGE_WORKER_TIMEOUT", "300"))


def on_starting(server: Arbiter) -> None:
    """Refuse to start when a store query or a sync execution's wait could outlast the worker timeout."""
    from ocsge_processes.server.time_limits import configured_limits  # the arbiter's only import of the package

    limits = configured_limits(server.cfg.timeout)
    problem = limits.problem()
    if problem:
        raise RuntimeError(f"time limits out of order: {problem} (docs/limits.md)")
    server.log.info(
        "time limits: store query %s s < sync budget %s s < worker timeout %s s",
        limits.statement_s,
        limits.sync_budget_s,
        limits.worker_timeout_s,
    )


#: Threads, not sync workers: a request waiting for an expensive tile (server/tilepool.py) holds a thread, not the
#: whole worker, so other requests keep their latency; expensive tiles may hold all but 8 of them.
worker_class = "gthread"
threads = int(os.environ.get("OCSGE_WORKER_THREADS", "16"))

accesslog = "-"
