"""WSGI middleware that refuses request bodies over a size limit with a 413, before the application reads them.

pygeoapi reads whole bodies into memory; without a limit one client can exhaust a replica's memory. Process
executions carry inline images (up to 16 MiB, base64-encoded), so they get a larger limit than any other request.
A chunked body has no Content-Length: it is read up to the limit and refused as soon as it goes past it.
"""

from __future__ import annotations

import io
import os
import re
from collections.abc import Iterable, Mapping
from wsgiref.types import InputStream, StartResponse, WSGIApplication, WSGIEnvironment

from .errors import wsgi_exception

MiB = 1024 * 1024
#: Process executions: a 16 MiB image is about 21.4 MiB in base64, plus the other inputs.
DEFAULT_EXECUTION_LIMIT = 32 * MiB
#: Everything else (CQL2 JSON filters, job requests).
DEFAULT_LIMIT = 1 * MiB
_EXECUTION = re.compile(r"^/processes/[^/]+/execution/?$")
_CHUNK = 64 * 1024


def limits_from_env(environ: Mapping[str, str] = os.environ) -> tuple[int, int]:
    """(execution limit, other limit) in bytes from OCSGE_MAX_BODY and OCSGE_MAX_BODY_OTHER."""
    return (
        int(environ.get("OCSGE_MAX_BODY", DEFAULT_EXECUTION_LIMIT)),
        int(environ.get("OCSGE_MAX_BODY_OTHER", DEFAULT_LIMIT)),
    )


class BodyLimit:
    """Answers 413 with an OGC exception when a request body is larger than its route allows."""

    def __init__(
        self, app: WSGIApplication, execution_limit: int = DEFAULT_EXECUTION_LIMIT, limit: int = DEFAULT_LIMIT
    ) -> None:
        self.app = app
        self.execution_limit = execution_limit
        self.limit = limit

    def limit_for(self, path: str) -> int:
        return self.execution_limit if _EXECUTION.match(path) else self.limit

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        limit = self.limit_for(environ.get("PATH_INFO", ""))
        length = environ.get("CONTENT_LENGTH") or ""
        if length:
            try:
                size = int(length)
            except ValueError:
                return wsgi_exception(
                    start_response,
                    "400 Bad Request",
                    "InvalidParameterValue",
                    f"Content-Length {length!r} is not a number of bytes",
                    close=True,
                )
            if size > limit:
                return _too_large(start_response, f"the request body of {size} bytes", limit)
        elif "chunked" in environ.get("HTTP_TRANSFER_ENCODING", "").lower():
            body = _read_at_most(environ["wsgi.input"], limit + 1)
            if len(body) > limit:
                return _too_large(start_response, "the chunked request body", limit)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)


def _read_at_most(stream: InputStream, size: int) -> bytes:
    parts: list[bytes] = []
    total = 0
    while total < size:
        part = stream.read(min(_CHUNK, size - total))
        if not part:
            break
        parts.append(part)
        total += len(part)
    return b"".join(parts)


def _too_large(start_response: StartResponse, what: str, limit: int) -> list[bytes]:
    return wsgi_exception(
        start_response,
        "413 Request Entity Too Large",
        "RequestEntityTooLarge",
        f"{what} is over the {limit} byte limit of this endpoint ({limit / MiB:g} MiB); "
        "send a smaller body, or a URL (href) instead of inline data",
        close=True,
    )
