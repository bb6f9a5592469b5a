"""Subscriber callbacks (OGC API – Processes ``subscriber``): which URLs may be called, and calling them.

A callback is a request the server makes on a client's behalf: left unchecked, it lets anyone reach the
server's private network. URLs are checked when the job is submitted (so the client gets a 400) and again
when sent (the name may resolve elsewhere by then); a failed callback is logged and never fails the job.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
from typing import Any
from urllib.parse import urlparse

import requests

LOGGER = logging.getLogger(__name__)
#: Seconds a subscriber may take to answer one callback.
TIMEOUT_S = 10


def refusal(url: str, allow_internal: bool = False) -> str | None:
    """Why ``url`` may not be called back (None when it may)."""
    parsed = urlparse(url)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return f"callback URL {url!r} is not an absolute http(s) URL"
    if allow_internal:
        return None
    try:
        infos = socket.getaddrinfo(parsed.hostname, parsed.port or 80, proto=socket.IPPROTO_TCP)
    except (socket.gaierror, UnicodeError):
        return f"callback host {parsed.hostname!r} does not resolve"
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%")[0])
        if not address.is_global:
            return (f"callback host {parsed.hostname!r} resolves to a private, loopback or link-local address "
                    f"({address}); such callbacks are refused")
    return None


def notify(url: str | None, payload: Any, allow_internal: bool = False) -> None:
    """POST ``payload`` to ``url`` when allowed; log and carry on on any failure."""
    if not url:
        return
    reason = refusal(url, allow_internal)
    if reason:
        LOGGER.warning("callback not sent: %s", reason)
        return
    try:
        requests.post(url, json=payload, timeout=TIMEOUT_S, allow_redirects=False)
    except requests.RequestException as err:
        LOGGER.warning("callback to %s failed: %s", url, err)
