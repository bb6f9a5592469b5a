"""``GET /results/{id}/{name}``: process result files from the result store, by any replica.

Range requests (one range; ``If-Range``) let GDAL's ``/vsicurl/`` read a COG and a client resume a download; the
ETag is the file's SHA-256, so ``If-None-Match`` answers 304. A name never stored is a 404, an expired or removed
file a 410 saying which; both are OGC exceptions. The store lives in the job database (``server.manager``
``connection``): what a worker wrote anywhere, every replica serves. Expired files are swept by whichever
replica serves a download first after :data:`SWEEP_EVERY_S`.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping

from flask import Flask, Response, request

from ..results import ResultGone, ResultNotFound, ResultStore, open_results
from ..results.ranges import UnsatisfiableRange, byte_range
from .errors import exception_response

#: Seconds between two sweeps of expired files by one web process.
SWEEP_EVERY_S = 60.0
ROUTE = "/results/<result_id>/<name>"


def results_url(base_url: str, result_id: str, name: str) -> str:
    """Where ``name`` of ``result_id`` is downloaded."""
    return f"{base_url.rstrip('/')}/results/{result_id}/{name}"


def results_connection(config: Mapping[str, Mapping[str, Mapping[str, object]]]) -> str:
    """The result store's connection in a pygeoapi configuration: the job database's."""
    return str(config["server"]["manager"]["connection"])


class _Sweeper:
    """Runs the store's sweep at most every :data:`SWEEP_EVERY_S` seconds in this process."""

    def __init__(self, store: ResultStore) -> None:
        self.store = store
        self.last = 0.0
        self.lock = threading.Lock()

    def maybe(self) -> None:
        with self.lock:
            if time.monotonic() - self.last < SWEEP_EVERY_S:
                return
            self.last = time.monotonic()
        self.store.sweep()


def install_results_endpoint(app: Flask, connection: str) -> None:
    """Add the download route of result files (kept in the database ``connection`` names) to ``app``."""
    store = open_results(connection)
    sweeper = _Sweeper(store)

    def download(result_id: str, name: str) -> Response:
        sweeper.maybe()
        try:
            file = store.info(result_id, name)
        except ResultNotFound:
            return exception_response(404, "NotFound", f"no result file {name!r} for {result_id!r}")
        except ResultGone as err:
            return exception_response(410, "Gone", str(err))
        headers = {
            "ETag": file.etag,
            "Accept-Ranges": "bytes",
            "Content-Disposition": f'attachment; filename="{name}"',
            "Expires": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(file.expires)),
            "Last-Modified": time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(file.created)),
            "Cache-Control": "private, max-age=" + str(max(int(file.expires - time.time()), 0)),
        }
        tags = _tags(request.headers.get("If-None-Match"))
        if file.etag in tags or "*" in tags:
            return Response(status=304, headers=headers)
        if_range = request.headers.get("If-Range")
        try:
            wanted = byte_range(request.headers.get("Range"), file.size) if if_range in (None, file.etag) else None
        except UnsatisfiableRange:
            response = exception_response(416, "InvalidParameterValue", f"the file has {file.size} bytes")
            response.headers["Content-Range"] = f"bytes */{file.size}"
            return response
        first, last = wanted or (0, file.size - 1)
        headers["Content-Length"] = str(max(last - first + 1, 0))
        status = 200
        if wanted is not None:
            status, headers["Content-Range"] = 206, f"bytes {first}-{last}/{file.size}"
        body = store.read(file, first, last) if request.method == "GET" and file.size else iter(())
        return Response(body, status=status, headers=headers, mimetype=file.media_type, direct_passthrough=True)

    app.add_url_rule(ROUTE, "ocsge_results", download, methods=["GET", "HEAD"])


def _tags(header: str | None) -> set[str]:
    """The entity tags of an ``If-None-Match`` header (``*`` matches any)."""
    return {tag.strip().removeprefix("W/") for tag in (header or "").split(",") if tag.strip()}
