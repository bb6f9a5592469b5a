"""What clients are told about errors, in every shape the server answers them: pygeoapi's provider and processor
errors, Flask responses and WSGI answers. The code and status of each of our errors come from the one table,
``ocsge_processes.errors.ERROR_TABLE``; anything else is an internal error whose traceback goes to the log under a
reference that the client is given instead of the exception's text.
"""

from __future__ import annotations

import json
import logging
import uuid
from http import HTTPStatus
from wsgiref.types import StartResponse

from flask import Response
from pygeoapi.process.base import ProcessorExecuteError
from pygeoapi.provider.base import ProviderGenericError
from werkzeug.exceptions import HTTPException

from ..errors import ERROR_TABLE, INTERNAL, BusyError, ErrorAnswer, answer_for

LOGGER = logging.getLogger(__name__)


def describe(err: BaseException, reference: str | None = None) -> tuple[ErrorAnswer, str]:
    """The answer and the description a client gets for ``err``: one of our errors with its own message, anything
    else INTERNAL with "internal error, see the log for <reference>" (``request <id>`` when none is given) and
    the traceback logged under that reference."""
    answer = answer_for(err)
    if answer is not None:
        return answer, str(err)
    reference = reference or f"request {uuid.uuid4().hex[:12]}"
    LOGGER.error("internal error for %s", reference, exc_info=err)
    return INTERNAL, f"internal error, see the log for {reference}"


def answer_for_code(code: str) -> ErrorAnswer:
    """The answer whose OGC code is ``code`` (a failed job's message keeps the code only); INTERNAL if none."""
    return next((answer for _, answer in ERROR_TABLE if answer.code == code), INTERNAL)


class ProviderAnswerError(ProviderGenericError):
    """One of our errors as pygeoapi's provider error, which carries the OGC code and status it answers with."""

    def __init__(self, answer: ErrorAnswer, description: str) -> None:
        super().__init__(description, user_msg=description)
        self.ogc_exception_code = answer.code
        self.http_status_code = answer.status


class ProcessAnswerError(ProcessorExecuteError):
    """An execution refused or failed, as pygeoapi's processor error (which carries the OGC code and status)."""

    def __init__(self, answer: ErrorAnswer, description: str) -> None:
        super().__init__(description, user_msg=description)
        self.ogc_exception_code = answer.code
        self.http_status_code = answer.status


def provider_error(err: BaseException) -> ProviderAnswerError:
    """The pygeoapi error for ``err`` raised in a provider."""
    return ProviderAnswerError(*describe(err))


def process_error(err: BaseException) -> ProcessAnswerError:
    """The pygeoapi error for ``err`` raised while an execution is accepted."""
    return ProcessAnswerError(*describe(err))


def exception_body(code: str, description: str) -> bytes:
    """An OGC exception document, shaped as pygeoapi writes its own (``code``, ``type``, ``description``)."""
    return json.dumps({"code": code, "type": code, "description": description}, ensure_ascii=False).encode("utf-8")


def exception_response(status: int, code: str, description: str) -> Response:
    """An OGC exception as a Flask response, for our own routes and error handlers."""
    return Response(exception_body(code, description), status=status, mimetype="application/json")


def error_response(err: BaseException) -> Response:
    """``err`` as a Flask response, with ``Retry-After`` when the client is told to come back later."""
    answer, description = describe(err)
    response = exception_response(answer.status, answer.code, description)
    if isinstance(err, BusyError):
        response.headers["Retry-After"] = str(err.retry_after_s)
    return response


def wsgi_exception(
    start_response: StartResponse, status: str, code: str, description: str, close: bool = False
) -> list[bytes]:
    """An OGC exception answered by WSGI middleware, before pygeoapi sees the request; ``close`` when the request
    body was left unread on the socket."""
    body = exception_body(code, description)
    headers = [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    start_response(status, headers + ([("Connection", "close")] if close else []))
    return [body]


def wsgi_error(start_response: StartResponse, err: BaseException) -> list[bytes]:
    """``err`` answered by WSGI middleware."""
    answer, description = describe(err)
    return wsgi_exception(start_response, f"{answer.status.value} {answer.status.phrase}", answer.code, description)


#: OGC exception codes of the HTTP errors Flask raises itself (no route, wrong method), before pygeoapi runs.
_HTTP_CODES = {404: "NotFound", 405: "MethodNotAllowed"}


def http_exception(err: HTTPException) -> Response:
    """Flask's own HTTP errors (an unknown path, a method a route does not take) as OGC exceptions, like every
    other error of the API, instead of Flask's HTML page."""
    status = err.code or HTTPStatus.INTERNAL_SERVER_ERROR
    code = _HTTP_CODES.get(status, "InvalidRequest" if status < 500 else "ServerError")
    response = exception_response(status, code, err.description or err.name)
    if status == 405 and err.get_response().headers.get("Allow"):
        response.headers["Allow"] = err.get_response().headers["Allow"]
    return response
