"""One exception hierarchy for the whole package.

Domain code raises these with the offending value in the message; the HTTP adapters map each class to an OGC
exception code and status in one table (``server/errors.py``), so only one place knows HTTP.
"""


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
