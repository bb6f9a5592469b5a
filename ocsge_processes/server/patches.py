"""Every change the server makes to pygeoapi at run time, in one function that first checks pygeoapi's version.

pygeoapi's request handlers call module-level functions by name, so where they fall short we put ours under
those names, in the modules that call them:

- ``/conformance`` lists exactly what the feature collections support (CQL2 JSON and the spatial functions added,
  the transactions pygeoapi 0.24 claims but we do not offer removed);
- ``filter`` is parsed by ours (``filters.parse_filter``: quotes, CQL2 JSON over GET, bbox literals);
- bbox and filter geometries take their true shapes in the storage CRS, and JSON is written by orjson
  (``speedups``);
- ``GET /jobs/{id}/results`` of a dismissed job is a 404 saying so, where pygeoapi answers 500;
- ``/conformance`` declares the Processes classes we serve and test, and ``DELETE /jobs/{id}`` answers the
  statusInfo document they require (``process_conformance``);
- a sync execution still running at the end of the sync budget answers 201 with the job's status, as an async one
  (pygeoapi would answer the empty result of a sync execution).

Each was written against pygeoapi 0.24 and may be wrong for another version, where the replaced function may have
moved, changed its arguments or gone: ``apply`` refuses any other version, and every name it replaces must exist,
so an upgrade fails at start-up instead of serving with a patch silently lost.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from http import HTTPStatus
from types import ModuleType
from typing import Any

import pygeoapi
from pygeoapi.api import API, APIRequest, itemtypes
from pygeoapi.api import processes as processes_api
from pygeoapi.process.base import JobNotFoundError
from pygeoapi.util import JobStatus, RequestedProcessExecutionMode, to_json
from pygeofilter import ast

from ..filters import parse_filter
from . import speedups
from .manager import status_document
from .process_conformance import answer_dismissal, declare_process_conformance

#: The pygeoapi release (major.minor) the patches were written and tested for.
PYGEOAPI_SERIES = "0.24"

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

#: A pygeoapi API handler: (api, request, the path's id) → (headers, HTTP status, content).
Handler = Callable[[API, APIRequest, str], tuple[dict[str, str], int, str]]


@functools.cache
def apply() -> None:
    """Apply every patch, once per process; raise RuntimeError on a pygeoapi they were not written for."""
    check_version(pygeoapi.__version__)
    declare_conformance(itemtypes.CONFORMANCE_CLASSES_FEATURES)
    declare_process_conformance(processes_api.CONFORMANCE_CLASSES)
    _replace(itemtypes, "parse_cql2_text", parse_filter)
    _replace(itemtypes, "parse_cql2_json", _parse_cql2_json)
    _replace(itemtypes, "transform_bbox", speedups.transform_bbox)
    _replace(itemtypes, "modify_pygeofilter", speedups.modify_pygeofilter)
    _replace(itemtypes, "to_json", speedups.to_json)
    _replace(processes_api, "get_job_result", answer_dismissed_results(processes_api.get_job_result))
    _replace(processes_api, "execute_process", answer_sync_over_budget(processes_api.execute_process))
    _replace(processes_api, "delete_job", answer_dismissal(processes_api.delete_job))


def check_version(version: str) -> None:
    """Raise RuntimeError unless ``version`` is of the pygeoapi series the patches were written for."""
    if version.split(".")[:2] != PYGEOAPI_SERIES.split("."):
        raise RuntimeError(
            f"pygeoapi {version} is installed, but ocsge_processes/server/patches.py was written for pygeoapi "
            f"{PYGEOAPI_SERIES}.x: check each patch against the new version, then change PYGEOAPI_SERIES"
        )


def declare_conformance(classes: list[str]) -> None:
    """Make the feature conformance list (pygeoapi's, changed in place) say exactly what our collections support."""
    for uri in REMOVED_CONFORMANCE:
        if uri in classes:
            classes.remove(uri)
    classes.extend(uri for uri in ADDED_CONFORMANCE if uri not in classes)


def answer_dismissed_results(original: Handler) -> Handler:
    """pygeoapi's ``get_job_result``, with a 404 NoSuchJob for a dismissed job, where pygeoapi 0.24 answers 500.

    pygeoapi handles running, accepted and failed jobs itself and treats any other missing result as a server
    fault; a dismissed job's result was deleted on purpose.
    """

    @functools.wraps(original)
    def get_job_result(api: API, request: APIRequest, job_id: str) -> tuple[dict[str, str], int, str]:
        try:
            dismissed = api.manager.get_job(job_id)["status"] == JobStatus.dismissed.value
        except JobNotFoundError:
            dismissed = False  # pygeoapi answers 404 NoSuchJob
        if dismissed:
            headers = request.get_response_headers(**api.api_headers)
            return api.get_exception(
                HTTPStatus.NOT_FOUND,
                headers,
                request.format,
                "NoSuchJob",
                f"job {job_id} was dismissed: its result was deleted",
            )
        return original(api, request, job_id)

    return get_job_result


def answer_sync_over_budget(original: Handler) -> Handler:
    """pygeoapi's ``execute_process``, where a sync execution still running at the end of the budget answers 201
    Created, ``Location: /jobs/{id}`` and the job's status document, as OGC API – Processes answers an async
    execution; the job carries on and its result stays at ``/jobs/{id}/results``."""

    @functools.wraps(original)
    def execute_process(api: API, request: APIRequest, process_id: str) -> tuple[dict[str, str], int, str]:
        headers, status, content = original(api, request, process_id)
        asked_async = headers.get("Preference-Applied") == RequestedProcessExecutionMode.respond_async.value
        if status != HTTPStatus.CREATED or asked_async or "Location" not in headers:
            return headers, status, content
        job_id = headers["Location"].rstrip("/").rsplit("/", 1)[-1]
        job = api.manager.get_job(job_id)
        headers["Content-Type"] = "application/json"
        return headers, status, to_json(status_document(job, api.base_url), api.pretty_print)

    return execute_process


def _parse_cql2_json(text: str | dict[str, Any]) -> ast.Node:
    return parse_filter(text, "cql2-json")


def _replace(module: ModuleType, name: str, replacement: object) -> None:
    """Put ``replacement`` under ``name`` in ``module``, which must already have it (else the patch would be lost)."""
    if not hasattr(module, name):
        raise RuntimeError(f"{module.__name__}.{name} is gone: the pygeoapi patch for it no longer applies")
    setattr(module, name, replacement)
