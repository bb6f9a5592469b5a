"""WSGI middleware for the request head, before anything reads it: a bounded request target (414 beyond it) and
content-negotiation lists that pygeoapi can read.

pygeoapi 0.24 sorts ``Accept``, ``Accept-Language`` and the ``lang`` parameter by ``1 / q``
(``pygeoapi/util.py``, ``get_choice_from_headers``): ``q=0`` divides by zero and ``q=1.2.3`` fails in ``float``,
a 500 on every route. Here each list keeps only what the client accepts: entries with ``q=0`` (RFC 9110: "not
acceptable") or a malformed q are dropped, the rest is rewritten as ``value;q=...``. A list left empty is removed,
so the server answers in its default format or language, which RFC 9110 §12.5.1 allows when nothing listed is
available.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlencode
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from .errors import wsgi_exception

#: Default longest request target (path and query) in bytes; nginx's large_client_header_buffers matches it.
DEFAULT_MAX_URL = 64 * 1024
_QVALUE = re.compile(r"0(?:\.\d{0,3})?|1(?:\.0{0,3})?")  # RFC 9110 §12.4.2
_NEGOTIATED = ("HTTP_ACCEPT", "HTTP_ACCEPT_LANGUAGE")


def max_url_from_env(environ: Mapping[str, str] = os.environ) -> int:
    """The longest request target in bytes, from OCSGE_MAX_URL."""
    return int(environ.get("OCSGE_MAX_URL", DEFAULT_MAX_URL))


def acceptable(header: str) -> str:
    """The entries of an Accept-style list the client accepts, as ``value`` or ``value;q=x``, best first
    as sent; entries refused (q=0) or with a malformed q are left out."""
    kept = []
    for entry in header.split(","):
        value, *parameters = (part.strip() for part in entry.split(";"))
        quality: float | None = 1.0
        for parameter in parameters:
            name, _, number = parameter.partition("=")
            if name.strip().lower() == "q":
                number = number.strip()
                quality = float(number) if _QVALUE.fullmatch(number) else None
        if value and quality:
            kept.append(value if quality == 1 else f"{value};q={quality:g}")
    return ",".join(kept)


class RequestHead:
    """Answers 414 for a request target over ``max_url`` bytes and cleans the negotiation lists."""

    def __init__(self, app: WSGIApplication, max_url: int = DEFAULT_MAX_URL) -> None:
        self.app = app
        self.max_url = max_url

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        target = environ.get("RAW_URI") or environ.get("PATH_INFO", "") + "?" + environ.get("QUERY_STRING", "")
        if len(target) > self.max_url:
            return wsgi_exception(
                start_response,
                "414 URI Too Long",
                "URITooLong",
                f"the request target (path and query) is {len(target)} bytes, over this server's limit of "
                f"{self.max_url} bytes ({self.max_url / 1024:g} KiB); send a long filter in the body of a POST to "
                "/collections/{collectionId}/items with Content-Type: application/query-cql-json",
                close=True,
            )
        for key in _NEGOTIATED:
            if key in environ:
                cleaned = acceptable(environ[key])
                if cleaned:
                    environ[key] = cleaned
                else:
                    del environ[key]
        query = environ.get("QUERY_STRING", "")
        if "lang=" in query:
            environ["QUERY_STRING"] = _clean_lang(query)
        return self.app(environ, start_response)


def _clean_lang(query: str) -> str:
    """The query string with its ``lang`` values cleaned like Accept-Language (pygeoapi parses them alike)."""
    pairs = parse_qsl(query, keep_blank_values=True)
    if not any(name == "lang" and (";" in value or "," in value) for name, value in pairs):
        return query
    cleaned = [(name, acceptable(value) if name == "lang" else value) for name, value in pairs]
    return urlencode([(name, value) for name, value in cleaned if name != "lang" or value])
