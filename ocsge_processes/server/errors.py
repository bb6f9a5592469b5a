"""The one table from our domain errors to pygeoapi's provider errors (which carry the OGC code and status)."""

from __future__ import annotations

import json
from collections.abc import Callable
from http import HTTPStatus

from pygeoapi.provider.base import (ProviderConnectionError, ProviderGenericError, ProviderInvalidQueryError,
                                    ProviderItemNotFoundError)

from ..errors import InvalidInputError, OcsgeError, StoreError, UnknownCodeError
from ..stores.timeout import QueryTimeoutError


class ProviderTimeoutError(ProviderGenericError):
    """A query stopped at the store's time limit: 503, the client may retry with a narrower query."""
    ogc_exception_code = "QueryTimeout"
    http_status_code = HTTPStatus.SERVICE_UNAVAILABLE


#: Most specific first.
PROVIDER_ERRORS: list[tuple[type[OcsgeError], type[ProviderGenericError]]] = [
    (QueryTimeoutError, ProviderTimeoutError),
    (UnknownCodeError, ProviderItemNotFoundError),
    (InvalidInputError, ProviderInvalidQueryError),
    (StoreError, ProviderConnectionError),
]


def to_provider_error(err: OcsgeError) -> ProviderGenericError:
    """The pygeoapi error for ``err``, with our message shown to the client."""
    for ours, theirs in PROVIDER_ERRORS:
        if isinstance(err, ours):
            return theirs(str(err), user_msg=str(err))
    return ProviderGenericError(str(err))


def wsgi_exception(start_response: Callable, status: str, code: str, description: str,
                   close: bool = False) -> list[bytes]:
    """An OGC exception answered by WSGI middleware, before pygeoapi sees the request; ``close`` when the request
    body was left unread on the socket."""
    body = json.dumps({"code": code, "type": code, "description": description}, ensure_ascii=False).encode("utf-8")
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response(status, headers + ([("Connection", "close")] if close else []))
    return [body]
