"""The WSGI application: pygeoapi's Flask app, patched (``patches``), with our pages, tiles and request guards.

Run with ``gunicorn ocsge_processes.server.app:APP``; ``PYGEOAPI_CONFIG`` and ``PYGEOAPI_OPENAPI`` name the
runtime files that ``ocsge config`` writes (``make serve`` does both). Request bodies are size-limited
(``OCSGE_MAX_BODY``, ``OCSGE_MAX_BODY_OTHER``) and store queries time-limited (``OCSGE_STATEMENT_TIMEOUT``).
"""

from __future__ import annotations

from pygeoapi import flask_app
from werkzeug.exceptions import HTTPException

from ..stores.timeout import set_query_timeout, web_timeout_from_env
from ..webapp import create_blueprint
from . import offline, patches
from .crsparams import CrsAliases
from .errors import http_exception
from .guard import RequestGuard
from .late import LateCollections
from .limits import BodyLimit, limits_from_env
from .providers import store_of
from .request_head import RequestHead, max_url_from_env
from .results import install_results_endpoint, results_connection
from .tiles import install_tile_endpoint

patches.apply()  # every change to pygeoapi's handlers, after checking its version
APP = flask_app.APP
offline.use_our_templates(flask_app.CONFIG, flask_app.api_.tpl_config)  # our templates first, local basemap
offline.install(APP, flask_app.CONFIG["server"]["url"])  # pygeoapi's HTML pages offline: /vendor, /basemap.svg
APP.register_blueprint(create_blueprint(flask_app.CONFIG, store_of(flask_app.CONFIG)))  # the web pages under /map
install_tile_endpoint(APP, flask_app.CONFIG)  # tiles with millésime filters, ETag and OGC exceptions
install_results_endpoint(APP, results_connection(flask_app.CONFIG))  # result files of processes, with Range
APP.register_error_handler(HTTPException, http_exception)  # Flask's own 404/405 as OGC exceptions too
GUARDED = LateCollections(RequestGuard(APP.wsgi_app, flask_app.CONFIG), flask_app.CONFIG)  # the guard sees late ones
APP.wsgi_app = RequestHead(  # type: ignore[method-assign]  # Flask's documented way to add WSGI middleware
    BodyLimit(CrsAliases(GUARDED), *limits_from_env()), max_url_from_env()
)
set_query_timeout(web_timeout_from_env())
