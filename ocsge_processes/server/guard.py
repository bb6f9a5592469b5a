"""WSGI middleware that checks item queries and execution bodies before pygeoapi sees them, so bad input gets a 400
that says why.

pygeoapi 0.24 ignores unknown query parameters, answers "Bad CQL text" for any filter problem, accepts a
`filter-crs` it cannot use, and fails with a 500 on a POST to items without a filter body or on an execution
body that is not UTF-8; this guard rejects those with an OGC exception naming the parameter, the value and what
is allowed. It validates only: well-formed requests pass through unchanged.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl
from wsgiref.types import StartResponse, WSGIApplication, WSGIEnvironment

from ..errors import InvalidInputError, OcsgeError
from ..filters import JSON, parse_filter
from ..layers import get_layer
from ..stores.base import INT64_MAX, checked_integer
from ..stores.cql2 import Dialect, translate
from ..territory import CRS84, WGS84_EPSG, epsg_uri
from .errors import wsgi_error
from .execution import ExecutionCheck
from .providers import FEATURE_PROVIDER, our_providers

_ITEMS = re.compile(r"^/collections/(?P<collection>[^/]+)/items/?$")
_EXECUTION = re.compile(r"^/processes/[^/]+/execution/?$")
#: EPSG:4326 as a bbox-crs: latitude first.
LAT_FIRST = epsg_uri(WGS84_EPSG)
RESERVED = frozenset(
    {
        "bbox",
        "bbox-crs",
        "crs",
        "f",
        "lang",
        "limit",
        "offset",
        "resulttype",
        "datetime",
        "sortby",
        "properties",
        "skipGeometry",
        "q",
        "filter",
        "filter-lang",
        "filter-crs",
        "cursor",
    }
)
_CHECK_ONLY = Dialect("?", lambda op, geometry, params: "1 = 1")


class RequestGuard:
    """Validates ``/collections/{id}/items`` requests for the collections our provider serves."""

    # Any: the pygeoapi configuration, free-form
    def __init__(self, app: WSGIApplication, config: dict[str, Any]) -> None:
        self.app = app
        self.config = config
        self._read_collections()
        self.executions = ExecutionCheck(config)

    def _read_collections(self) -> None:
        ours = dict(our_providers(self.config, FEATURE_PROVIDER))
        self.crs_lists = {name: list(provider.crs) for name, provider in ours.items()}
        self.collections = {name: provider.collection for name, provider in ours.items()}

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        match = _ITEMS.match(environ.get("PATH_INFO", ""))
        if match and match["collection"] not in self.collections and match["collection"] in self.config["resources"]:
            self._read_collections()  # a collection published since start (server.late)
        if match and match["collection"] in self.collections and environ["REQUEST_METHOD"] in ("GET", "POST"):
            try:
                self.check(match["collection"], environ)
            except OcsgeError as err:
                return wsgi_error(start_response, err)
        elif environ["REQUEST_METHOD"] == "POST" and _EXECUTION.match(environ.get("PATH_INFO", "")):
            try:
                self.executions.check(environ["PATH_INFO"], _read_body(environ))
            except OcsgeError as err:
                return wsgi_error(start_response, err)
        return self.app(environ, start_response)

    def check(self, collection: str, environ: WSGIEnvironment) -> None:
        """Raise InvalidInputError for the first problem found in the request."""
        layer = get_layer(self.collections[collection])
        params = dict(parse_qsl(environ.get("QUERY_STRING", ""), keep_blank_values=True))
        unknown = sorted(set(params) - RESERVED - set(layer.fields))
        if unknown:
            raise InvalidInputError(
                f"unknown query parameter {unknown[0]!r}; allowed: the OGC parameters "
                f"({', '.join(sorted(RESERVED))}) and the properties of {collection} ({', '.join(layer.fields)})"
            )
        supported = self.crs_lists[collection]
        for name in ("crs", "bbox-crs", "filter-crs"):
            if name in params and params[name] not in supported:
                raise InvalidInputError(
                    f"{name}={params[name]!r} is not supported by {collection}; supported: {', '.join(supported)}"
                )
        if "bbox" in params:
            _check_bbox(params["bbox"], params.get("bbox-crs") or CRS84)
        if "offset" in params:
            _check_offset(params["offset"])
        source, lang = params.get("filter"), params.get("filter-lang")
        if environ["REQUEST_METHOD"] == "POST" and "geo+json" in environ.get("CONTENT_TYPE", ""):
            raise InvalidInputError(f"{collection} is read-only: creating features (Features Part 4) is not offered")
        if source is None and environ["REQUEST_METHOD"] == "POST":
            source, lang = _peek_body(environ), JSON  # what pygeoapi reads a POST body as, whatever it starts with
            if not source:
                raise InvalidInputError(
                    f"a POST to {collection}/items carries its CQL2 JSON filter in the body "
                    "(Content-Type: application/query-cql-json); the body is empty"
                )
        if source:
            translate(parse_filter(source, lang), layer, _CHECK_ONLY)


def _check_bbox(text: str, crs: str) -> None:
    parts = text.split(",")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        raise InvalidInputError(f"bbox={text!r}: expected 4 or 6 comma-separated numbers") from None
    if len(numbers) not in (4, 6) or not all(math.isfinite(n) for n in numbers):
        raise InvalidInputError(f"bbox={text!r}: expected 4 or 6 comma-separated numbers, got {len(numbers)}")
    half = len(numbers) // 2
    x0, y0, x1, y1 = numbers[0], numbers[1], numbers[half], numbers[half + 1]
    if crs == LAT_FIRST:
        x0, y0, x1, y1 = y0, x0, y1, x1
    if y0 > y1:
        raise InvalidInputError(f"bbox={text!r}: the lower corner is above the upper corner")
    if crs in (CRS84, LAT_FIRST):  # degrees: beyond the globe, reprojection gives infinities
        if not all(-180 <= v <= 180 for v in (x0, x1)) or not all(-90 <= v <= 90 for v in (y0, y1)):
            raise InvalidInputError(
                f"bbox={text!r}: longitudes must lie in [-180, 180] and latitudes in [-90, 90] ({crs})"
            )
        if x0 > x1:  # OGC's reading: the box crosses the antimeridian, which no OCS GE territory does
            raise InvalidInputError(
                f"bbox={text!r}: a box whose west edge lies east of its east edge crosses the "
                "antimeridian, which is not supported; send two boxes, one each side"
            )


def _check_offset(text: str) -> None:
    try:
        checked_integer(int(text))
        if int(text) < 0:
            raise ValueError
    except ValueError:
        raise InvalidInputError(f"offset={text!r}: expected an integer from 0 to {INT64_MAX}") from None


def _peek_body(environ: WSGIEnvironment) -> str | None:
    """Read a POST filter body and put it back for pygeoapi."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    if length > 1_000_000:
        raise InvalidInputError(f"filter body of {length} bytes is over the 1 MB limit")
    body = _read_body(environ)
    return body.decode("utf-8", errors="replace") if body else None


def _read_body(environ: WSGIEnvironment) -> bytes:
    """The whole request body, put back for pygeoapi."""
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length > 0 else b""
    environ["wsgi.input"] = io.BytesIO(body)
    return body
