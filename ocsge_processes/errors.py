"""One exception hierarchy for the whole package.

Domain code raises these with the offending value in the message; the HTTP adapters map each class to an OGC
exception code and status in one table (``server/errors.py``), so only one place knows HTTP.
"""

from dataclasses import dataclass
from http import HTTPStatus


class OcsgeError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidInputError(OcsgeError, ValueError):
    """A value given by a user is malformed or out of range."""


class UnsupportedQueryError(InvalidInputError):
    """A query (filter, sort, parameter) that the store cannot honour; never silently ignored."""


class UnknownCodeError(InvalidInputError, LookupError):
    """A CS/US code, a CRS or a collection that does not exist."""


class DeliveryError(OcsgeError):
    """An input file that is not a readable OCS GE delivery; the message names the file and the problem."""


class StoreError(OcsgeError):
    """The store cannot be opened or written."""


class StoreBusyError(StoreError):
    """Every connection to the store stayed in use past the wait for one: the client may retry shortly."""


class QueryTimeoutError(StoreError):
    """A query ran past the store's time limit and was stopped by the database."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"the query took longer than {seconds:g} s and was stopped; "
            "narrow the bbox or the filter, or lower the limit"
        )
        self.seconds = seconds


class BusyError(OcsgeError):
    """Work ahead of this request will not let it run in time: the client may retry after ``retry_after_s``."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s


@dataclass(frozen=True)
class ErrorAnswer:
    """What a client is told about an error: the OGC exception code and the HTTP status."""

    code: str
    status: HTTPStatus


#: The one table from our errors to what clients are told, most specific first; ``answer_for`` walks it.
#: An UnknownCodeError is an InvalidInputError: a code, model or territory the client wrote in a parameter or a
#: process input (400); a path that names nothing (a feature, a collection, a tile) is a 404 where the path is read.
#: DeliveryError has no row: only ``ocsge ingest`` raises it, and no server path reads a delivery.
ERROR_TABLE: tuple[tuple[type[OcsgeError], ErrorAnswer], ...] = (
    (QueryTimeoutError, ErrorAnswer("QueryTimeout", HTTPStatus.SERVICE_UNAVAILABLE)),
    (StoreBusyError, ErrorAnswer("ServiceUnavailable", HTTPStatus.SERVICE_UNAVAILABLE)),
    (BusyError, ErrorAnswer("ServiceUnavailable", HTTPStatus.SERVICE_UNAVAILABLE)),
    (InvalidInputError, ErrorAnswer("InvalidParameterValue", HTTPStatus.BAD_REQUEST)),
    (StoreError, ErrorAnswer("NoApplicableCode", HTTPStatus.INTERNAL_SERVER_ERROR)),
)

#: An exception that is not ours (a bug, a library failure): the client gets no detail, the log gets the traceback.
INTERNAL = ErrorAnswer("NoApplicableCode", HTTPStatus.INTERNAL_SERVER_ERROR)


def answer_for(err: BaseException) -> ErrorAnswer | None:
    """The answer for one of our errors, or None for an unexpected exception (the caller logs it, says INTERNAL)."""
    for kind, answer in ERROR_TABLE:
        if isinstance(err, kind):
            return answer
    return None
