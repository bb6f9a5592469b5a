"""The WSGI application: pygeoapi's Flask app with our filter parser, honest conformance and the request guard.

Run with ``gunicorn ocsge_processes.server.app:APP``; ``PYGEOAPI_CONFIG`` and ``PYGEOAPI_OPENAPI`` name the
runtime files that ``ocsge config`` writes (``make serve`` does both). Request bodies are size-limited
(``OCSGE_MAX_BODY``, ``OCSGE_MAX_BODY_OTHER``) and store queries time-limited (``OCSGE_STATEMENT_TIMEOUT``).
"""

from __future__ import annotations

from pygeoapi import flask_app
from pygeoapi.api import itemtypes
from werkzeug.exceptions import HTTPException

from ..filters import parse_filter
from ..stores.timeout import set_query_timeout, web_timeout_from_env
from ..webapp import create_blueprint
from . import speedups
from .errors import http_exception
from .guard import RequestGuard
from .limits import BodyLimit, limits_from_env
from .manager import answer_dismissed_results, answer_sync_over_budget
from .providers import store_of
from .request_head import RequestHead, max_url_from_env
from .tiles import install_tile_endpoint

CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf"
FILTERING = "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf"

#: What our collections implement beyond pygeoapi 0.24's list, and what that list claims but we do not offer.
ADDED_CONFORMANCE = [
    f"{FILTERING}/filter",
    f"{FILTERING}/features-filter",
    f"{CQL2}/cql2-json",
    f"{CQL2}/basic-spatial-functions",
    f"{CQL2}/basic-spatial-functions-plus",
    f"{CQL2}/spatial-functions",
    f"{CQL2}/case-insensitive-comparison",
    f"{CQL2}/advanced-comparison-operators",
]
REMOVED_CONFORMANCE = ["http://www.opengis.net/spec/ogcapi-features-4/1.0/conf/create-replace-delete"]


def declare_conformance() -> None:
    """Make /conformance list exactly what the feature collections support."""
    classes = itemtypes.CONFORMANCE_CLASSES_FEATURES
    for uri in REMOVED_CONFORMANCE:
        if uri in classes:
            classes.remove(uri)
    classes.extend(uri for uri in ADDED_CONFORMANCE if uri not in classes)


def use_our_filter_parser() -> None:
    """pygeoapi calls these two names to parse `filter`; ours handles quotes, CQL2 JSON over GET and bbox literals."""
    itemtypes.parse_cql2_text = parse_filter
    itemtypes.parse_cql2_json = lambda text: parse_filter(text, "cql2-json")


declare_conformance()
use_our_filter_parser()
speedups.install()
answer_dismissed_results()
answer_sync_over_budget()
APP = flask_app.APP
APP.register_blueprint(create_blueprint(flask_app.CONFIG, store_of(flask_app.CONFIG)))  # the web pages under /map
install_tile_endpoint(APP, flask_app.CONFIG)  # tiles with millésime filters, ETag and OGC exceptions
APP.register_error_handler(HTTPException, http_exception)  # Flask's own 404/405 as OGC exceptions too
APP.wsgi_app = RequestHead(
    BodyLimit(RequestGuard(APP.wsgi_app, flask_app.CONFIG), *limits_from_env()), max_url_from_env()
)
set_query_timeout(web_timeout_from_env())
