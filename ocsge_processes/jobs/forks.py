"""A pool process forked by a Celery worker lets go of the worker's broker connections.

A prefork worker forks a new pool process whenever one dies (a cancelled job, the OOM killer) while its main
process is connected to Redis, so the child inherits every broker socket, the one waiting in BRPOP included. After
the fork, kombu asks redis-py to disconnect its pools, and redis-py, seeing another pid, forgets the parent's
connections without closing them: the child holds the worker's BRPOP socket open for as long as it lives. When the
worker's main process dies before that child (SIGKILL of the main process, or of the whole group on a loaded
machine, where the child may exit last), Redis still sees the BRPOP connection alive and pops the next queued message
into it: the message is lost in a socket nobody reads, and its job stays ``accepted``.

The child cannot close these sockets through their owners (shutting a shared socket down would cut the parent's
connection too), so each descriptor is pointed at /dev/null: the child's reference to the socket goes away, the
parent's stays, and the Python objects that still own the descriptor number close /dev/null whenever they go.
Linux only (``/proc/self/fd``), like the workers' images.
"""

from __future__ import annotations

import os
import socket
import stat
from urllib.parse import urlsplit

REDIS_PORT = 6379


def broker_addresses(broker: str) -> set[tuple[str, int]]:
    """The (address, port) pairs a connection to ``broker`` (a redis:// URL) can have as its peer."""
    parts = urlsplit(broker)
    port = parts.port or REDIS_PORT
    infos = socket.getaddrinfo(parts.hostname or "localhost", port, type=socket.SOCK_STREAM)
    return {(str(info[4][0]), port) for info in infos}


def release_sockets_to(addresses: set[tuple[str, int]]) -> int:
    """Point every descriptor of this process that is connected to one of ``addresses`` at /dev/null; return how
    many were released. Call it in a freshly forked child, before it does anything else."""
    released = 0
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd != devnull and _peer(fd) in addresses:
                os.dup2(devnull, fd)
                released += 1
    finally:
        os.close(devnull)
    return released


def _peer(fd: int) -> tuple[str, int] | None:
    """The address and port ``fd`` is connected to, when it is a connected internet socket."""
    try:
        if not stat.S_ISSOCK(os.fstat(fd).st_mode):
            return None
        with socket.socket(fileno=os.dup(fd)) as probe:  # closing a duplicate never shuts the socket down
            if probe.family not in (socket.AF_INET, socket.AF_INET6):
                return None
            address, port = probe.getpeername()[:2]
    except OSError:  # closed meanwhile (the listing's own descriptor), or not connected
        return None
    return str(address), int(port)
