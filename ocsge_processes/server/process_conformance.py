"""The OGC API – Processes conformance classes ``/conformance`` declares: exactly those that
tests/server/test_processes_ets.py walks the server through, as the OGC test suite would.

pygeoapi 0.24 serves the job list (``GET /jobs``) and dismissal (``DELETE /jobs/{id}``) but declares neither; it
declares callbacks, which our job manager delivers. Its dismissal answer lacks what the class requires
(:func:`answer_dismissal`). The Processes 2.0 draft's classes are not declared: pygeoapi
serves the 1.0 documents, and nothing here tests them against 2.0.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from http import HTTPStatus

from pygeoapi.api import API, APIRequest
from pygeoapi.util import to_json

#: A pygeoapi API handler: (api, request, the path's id) → (headers, HTTP status, content).
Handler = Callable[[API, APIRequest, str], tuple[dict[str, str], int, str]]

PROCESSES_1 = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf"
#: Every Processes class the server implements and the test module checks.
PROCESS_CONFORMANCE = [
    f"{PROCESSES_1}/core",
    f"{PROCESSES_1}/ogc-process-description",
    f"{PROCESSES_1}/json",
    f"{PROCESSES_1}/oas30",
    f"{PROCESSES_1}/job-list",
    f"{PROCESSES_1}/dismiss",
    f"{PROCESSES_1}/callback",
]


def declare_process_conformance(classes: list[str]) -> None:
    """Make pygeoapi's Processes conformance list (changed in place) :data:`PROCESS_CONFORMANCE`."""
    classes[:] = PROCESS_CONFORMANCE


def answer_dismissal(original: Handler) -> Handler:
    """pygeoapi's ``delete_job``, whose answer is a statusInfo document as Processes 1.0 requires
    (``/req/dismiss/job-dismiss-success``): typed ``process`` and served as JSON, where pygeoapi 0.24 leaves out
    ``type`` and the Content-Type header (Flask then says text/html)."""

    @functools.wraps(original)
    def delete_job(api: API, request: APIRequest, job_id: str) -> tuple[dict[str, str], int, str]:
        headers, status, content = original(api, request, job_id)
        if status != HTTPStatus.OK:
            return headers, status, content
        document = json.loads(content)
        return (
            {**headers, "Content-Type": "application/json"},
            status,
            to_json({"type": "process", **document}, api.pretty_print),
        )

    return delete_job
