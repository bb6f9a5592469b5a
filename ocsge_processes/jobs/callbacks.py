"""Subscriber callbacks (OGC API – Processes ``subscriber``): which URLs may be called, and calling them.

A callback is a request the server makes on a client's behalf: left unchecked, it lets anyone reach the
server's private network. URLs go through the one outbound policy (``ocsge_processes.outbound``) when the job is
submitted (so the client gets a 400) and again when sent (the name may resolve elsewhere by then), and the callback
connects to the address that was checked; a failed callback is logged and never fails the job.
"""

from __future__ import annotations

import logging

import requests

from .. import outbound
from ..errors import InvalidInputError

LOGGER = logging.getLogger(__name__)
#: Seconds a subscriber may take to answer one callback.
TIMEOUT_S = 10


def refusal(url: str, allow_internal: bool = False) -> str | None:
    """Why ``url`` may not be called back (None when it may). With ``allow_internal`` only the URL's form is checked
    here: any address may be called, so the name is resolved (and pinned) when the callback is sent."""
    try:
        if allow_internal:
            outbound.parse(url)
        else:
            outbound.check(url)
    except InvalidInputError as err:
        return f"callback refused: {err}"
    return None


def notify(url: str | None, payload: object, allow_internal: bool = False) -> None:
    """POST ``payload`` to ``url`` when allowed; log and carry on on any failure."""
    if not url:
        return
    try:
        destination = outbound.check(url, allow_internal=allow_internal)
    except InvalidInputError as err:
        LOGGER.warning("callback not sent: %s", err)
        return
    try:
        outbound.request("POST", destination, TIMEOUT_S, json=payload).close()
    except requests.RequestException as err:
        LOGGER.warning("callback to %s failed: %s", url, err)
