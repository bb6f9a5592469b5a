"""Keyset paging for the items endpoint: ``next`` links carry a cursor, so page N costs what page 1 costs.

GDAL, QGIS and OWSLib read a whole collection by following ``next`` links. pygeoapi writes them with ``offset``,
which makes the store skip every earlier row again (page 1 000 of a département reads a million rows). Our
``next`` link keeps ``offset`` (so ``prev`` links and clients that read it still work) and adds ``cursor``: the
sort values and store key of the page's last feature, from which the store starts directly. A numeric ``offset``
alone keeps working as before.
"""

from __future__ import annotations

import base64
import binascii
import json
from urllib.parse import urlencode

import flask

from ..errors import InvalidInputError

PARAMETER = "cursor"
#: The sort values and store key of a page's last feature, as the store reads and writes them.
Key = tuple[object, ...]
_SCALARS = (str, int, float, bool, type(None))


def encode_cursor(sortby: list[tuple[str, bool]], last_key: Key, next_offset: int) -> str:
    """An opaque URL-safe token for the page after the one that ended on ``last_key``."""
    document = {"s": [[field, desc] for field, desc in sortby], "k": list(last_key), "o": next_offset}
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return base64.urlsafe_b64encode(text).rstrip(b"=").decode("ascii")


def decode_cursor(token: str, sortby: list[tuple[str, bool]]) -> tuple[Key, int]:
    """(the key to start after, the offset of that page) from a token of :func:`encode_cursor`."""
    try:
        document = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
        key, offset, order = document["k"], document["o"], document["s"]
        valid = (
            isinstance(key, list)
            and all(isinstance(v, _SCALARS) for v in key)
            and isinstance(offset, int)
            and not isinstance(offset, bool)
            and offset >= 0
            and isinstance(key[-1], int)
        )
    except (binascii.Error, ValueError, TypeError, KeyError, IndexError):
        valid = False
    if not valid:
        raise InvalidInputError(
            f"{PARAMETER}={token[:60]!r} is not a cursor this server wrote; follow the "
            "collection's next links as they are, or page with offset"
        )
    if [tuple(pair) for pair in order] != [(field, desc) for field, desc in sortby]:
        raise InvalidInputError(
            f"this {PARAMETER} was written for another sortby; keep the request's sortby when following its next link"
        )
    return tuple(key), offset


def page_links(items_url: str, cursor: str, offset: int, limit: int) -> list[dict[str, str]]:
    """``next`` (with the cursor) and ``prev`` links of the current request, its other parameters kept; none
    outside a request (pygeoapi then writes its offset links)."""
    if not flask.has_request_context():
        return []
    kept = [(k, v) for k, v in flask.request.args.items(multi=True) if k not in ("offset", PARAMETER)]
    query = urlencode([*kept, ("offset", offset + limit), (PARAMETER, cursor)])
    links = [{"type": "application/geo+json", "rel": "next", "title": "Items (next)", "href": f"{items_url}?{query}"}]
    if offset > 0:
        query = urlencode([*kept, ("offset", max(0, offset - limit))])
        links.append(
            {"type": "application/geo+json", "rel": "prev", "title": "Items (prev)", "href": f"{items_url}?{query}"}
        )
    return links
