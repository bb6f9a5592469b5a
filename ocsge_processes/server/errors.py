"""The one table from our domain errors to pygeoapi's provider errors (which carry the OGC code and status)."""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus

from flask import Response
from pygeoapi.provider.base import (
    ProviderConnectionError,
    ProviderGenericError,
    ProviderInvalidQueryError,
    ProviderItemNotFoundError,
)
from werkzeug.exceptions import HTTPException

from ..errors import InvalidInputError, OcsgeError, StoreBusyError, StoreError, UnknownCodeError
from ..stores.timeout import QueryTimeoutError


class ProviderTimeoutError(ProviderGenericError):
    """A query stopped at the store's time limit: 503, the client may retry with a narrower query."""

    ogc_exception_code = "QueryTimeout"
    http_status_code = HTTPStatus.SERVICE_UNAVAILABLE


class ProviderBusyError(ProviderGenericError):
    """Every store connection is in use: 503, the client may retry shortly."""

    ogc_exception_code = "ServiceUnavailable"
    http_status_code = HTTPStatus.SERVICE_UNAVAILABLE


#: Most specific first.
PROVIDER_ERRORS: list[tuple[type[OcsgeError], type[ProviderGenericError]]] = [
    (QueryTimeoutError, ProviderTimeoutError),
    (UnknownCodeError, ProviderItemNotFoundError),
    (InvalidInputError, ProviderInvalidQueryError),
    (StoreBusyError, ProviderBusyError),
    (StoreError, ProviderConnectionError),
]


def to_provider_error(err: OcsgeError) -> ProviderGenericError:
    """The pygeoapi error for ``err``, with our message shown to the client."""
    for ours, theirs in PROVIDER_ERRORS:
        if isinstance(err, ours):
            return theirs(str(err), user_msg=str(err))
    return ProviderGenericError(str(err))


def exception_body(code: str, description: str) -> bytes:
    """An OGC exception document, shaped as pygeoapi writes its own (``code``, ``type``, ``description``)."""
    return json.dumps({"code": code, "type": code, "description": description}, ensure_ascii=False).encode("utf-8")


def exception_response(status: int, code: str, description: str) -> Response:
    """An OGC exception as a Flask response, for our own routes and error handlers."""
    return Response(exception_body(code, description), status=status, mimetype="application/json")


def wsgi_exception(
    start_response: Callable, status: str, code: str, description: str, close: bool = False
) -> list[bytes]:
    """An OGC exception answered by WSGI middleware, before pygeoapi sees the request; ``close`` when the request
    body was left unread on the socket."""
    body = exception_body(code, description)
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response(status, headers + ([("Connection", "close")] if close else []))
    return [body]


#: OGC exception codes of the HTTP errors Flask raises itself (no route, wrong method), before pygeoapi runs.
_HTTP_CODES = {404: "NotFound", 405: "MethodNotAllowed"}


def http_exception(err: HTTPException) -> Response:
    """Flask's own HTTP errors (an unknown path, a method a route does not take) as OGC exceptions, like every
    other error of the API, instead of Flask's HTML page."""
    status = err.code or 500
    code = _HTTP_CODES.get(status, "InvalidRequest" if status < 500 else "ServerError")
    response = exception_response(status, code, err.description or err.name)
    if status == 405 and err.get_response().headers.get("Allow"):
        response.headers["Allow"] = err.get_response().headers["Allow"]
    return response
