"""OGC API – Processes 1.0 over live HTTP, walked as the OGC Executable Test Suite (ets-ogcapi-processes10) walks a
server: its test groups Core, Process Description, Job List, Dismiss (and Callback), each test citing the abstract
test it reproduces (``/conf/core/...``). The ETS itself cannot run here (its Maven build needs a registry this machine
does not reach); /conformance must declare exactly the classes this module checks. Clients as they are: OWSLib reads
a ``response=document`` result by output id.

The server runs on an empty store with the job tests' ``slow`` process beside ours: it answers fast or runs long
enough to be dismissed while running, and needs no data.
"""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests
from owslib.ogcapi.processes import Processes

from deploy.services import web_server
from ocsge_processes.jobs.document import document, output_id, results_document
from tests import services

from ..conftest import BIN, ROOT, SHARED
from ..jobs.conftest import SLOW_PROCESS

ASYNC = {"Prefer": "respond-async"}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A server on an empty store with the ``slow`` process added."""
    folder = tmp_path_factory.mktemp("ets-server")
    with web_server(
        str(folder / "empty.gpkg"),
        folder,
        BIN,
        resources={"slow": SLOW_PROCESS},
        OCSGE_DATA_DIR=str(SHARED),
        PYTHONPATH=str(ROOT),
        OCSGE_ALLOW_INTERNAL_CALLBACKS="true",  # the callback receiver listens on loopback
    ) as url:
        yield url


# --- response=document: outputs keyed by output id (Processes 1.0 results.yaml) ---------------------------------


def test_owslib_reads_a_document_response_by_output_id(live: str) -> None:
    result = Processes(live).execute("slow", inputs={"seconds": 0.1}, response="document")
    assert set(result) == {"slept"}, result
    assert result["slept"]["mediaType"] == "application/json"
    assert result["slept"]["value"]["seconds"] == 0.1


def test_async_document_results_are_keyed_by_output_id(live: str) -> None:
    job = Processes(live).execute("slow", inputs={"seconds": 0.1}, response="document", async_=True)
    assert services.wait_for_job(live, job["jobID"])["status"] == "successful"
    results = requests.get(f"{live}/jobs/{job['jobID']}/results", params={"f": "json"}, timeout=30)
    assert results.status_code == 200 and results.headers["Content-Type"].startswith("application/json")
    assert results.json()["slept"]["value"]["seconds"] == 0.1


def test_raw_response_is_the_output_itself(live: str) -> None:
    result = Processes(live).execute("slow", inputs={"seconds": 0.1}, response="raw")
    assert result["seconds"] == 0.1 and "slept" not in result


def test_document_names_the_requested_output_else_the_first_described() -> None:
    described = {"indicateurs": {}, "tableau": {}}
    assert output_id(described, None) == "indicateurs"
    assert output_id(described, {"tableau": {}}) == "tableau"
    with pytest.raises(ValueError, match="no output"):
        output_id({}, None)


def test_a_process_that_keys_its_outputs_keeps_them_in_the_document() -> None:
    outputs = {"summary": {"features": 3}, "extractedData": {"href": "http://127.0.0.1/results/a/b.gpkg"}}
    described = {"logs": {}, "summary": {}, "extractedData": {}}
    assert document(described, None, "application/json", outputs, by_id=True) == outputs
    assert document({"slept": {}}, None, "application/json", {"seconds": 1}) == {
        "slept": {"mediaType": "application/json", "value": {"seconds": 1}}
    }


def test_document_values_text_as_text_and_binary_in_base64() -> None:
    assert results_document("tableau", "text/csv", b"code;nom\n33009;Arcachon\n") == {
        "tableau": {"mediaType": "text/csv", "value": "code;nom\n33009;Arcachon\n"}
    }
    tiff = b"II*\x00\xff\xfe"
    entry = results_document("carte", "image/tiff", tiff)["carte"]
    assert entry["encoding"] == "base64" and base64.b64decode(entry["value"]) == tiff


# --- the server's conformance declaration -------------------------------------------------------------------------

PROCESSES_1 = "http://www.opengis.net/spec/ogcapi-processes-1/1.0/conf/"
#: The Processes classes this module checks, each by the tests named after it below.
CHECKED = {"core", "ogc-process-description", "json", "oas30", "job-list", "dismiss", "callback"}
REL = "http://www.opengis.net/def/rel/ogc/1.0/"
STATUS_CODES = {"accepted", "running", "successful", "failed", "dismissed"}


def _json(response: requests.Response, status: int = 200, media_type: str = "application/json") -> dict:
    assert response.status_code == status, response.text[:500]
    assert response.headers["Content-Type"].startswith(media_type), response.headers
    return response.json()


def _get(live: str, path: str, status: int = 200, **params: str) -> dict:
    return _json(requests.get(f"{live}{path}", params={"f": "json", **params}, timeout=30), status)


def _execute(live: str, process: str, body: dict, prefer_async: bool = False) -> requests.Response:
    headers = ASYNC if prefer_async else {}
    return requests.post(f"{live}/processes/{process}/execution", json=body, headers=headers, timeout=120)


def _status_info(document: dict) -> None:
    """/req/core/job-success: a statusInfo document (statusInfo.yaml: type, jobID and status required)."""
    assert document["type"] == "process" and document["jobID"] and document["status"] in STATUS_CODES, document
    assert 0 <= document.get("progress", 0) <= 100


def _exception(document: dict) -> None:
    """An exception document (exception.yaml): ``type`` required, and here a description saying what is wrong."""
    assert document["type"] and document["description"], document


def test_conformance_declares_exactly_the_checked_processes_classes(live: str) -> None:
    declared = _get(live, "/conformance")["conformsTo"]
    processes = {uri.removeprefix(PROCESSES_1) for uri in declared if uri.startswith(PROCESSES_1)}
    assert processes == CHECKED
    assert not [uri for uri in declared if "ogcapi-processes-1/2.0" in uri]  # the 2.0 draft is not claimed


# --- Core -----------------------------------------------------------------------------------------------------------


def test_core_landing_page_links_the_api_conformance_and_processes(live: str) -> None:
    """/conf/core/landingpage-op, /conf/core/landingpage-success."""
    rels = {link["rel"] for link in _get(live, "/")["links"]}
    assert {"service-desc", f"{REL}processes", f"{REL}job-list"} <= rels, rels
    assert "conformance" in rels or f"{REL}conformance" in rels


def test_core_api_definition_is_openapi_30(live: str) -> None:
    """/conf/oas30/oas-definition-1: the service-desc is an OpenAPI 3.0 document with the process paths."""
    response = requests.get(f"{live}/openapi", params={"f": "json"}, timeout=60)
    document = _json(response, media_type="application/vnd.oai.openapi+json;version=3.0")
    assert document["openapi"].startswith("3.0")
    assert {"/processes", "/jobs", "/jobs/{jobId}", "/processes/slow/execution"} <= set(document["paths"])


def test_core_process_list_and_its_limit(live: str) -> None:
    """/conf/core/process-list, /conf/core/pl-limit-response: summaries with id, version, links to themselves."""
    listed = _get(live, "/processes")
    ids = [summary["id"] for summary in listed["processes"]]
    assert {"artificialisation", "slow"} <= set(ids)
    for summary in listed["processes"]:
        assert summary["version"] and set(summary["jobControlOptions"]) <= {"sync-execute", "async-execute", "dismiss"}
        assert any(link["rel"] in ("self", f"{REL}process-desc") for link in summary["links"])
    assert len(_get(live, "/processes", limit="1")["processes"]) == 1


def test_core_unknown_process_is_a_404_exception(live: str) -> None:
    """/conf/core/process-exception/no-such-process."""
    _exception(_get(live, "/processes/no-such-process", status=404))
    _exception(_json(_execute(live, "no-such-process", {"inputs": {}}), 404))


def test_core_sync_execution_answers_the_result(live: str) -> None:
    """/conf/core/process-execute-sync-one: a sync execution answers 200 with the output."""
    response = _execute(live, "slow", {"inputs": {"seconds": 0.1}, "response": "raw"})
    assert _json(response)["seconds"] == 0.1


def test_core_async_execution_creates_a_job(live: str) -> None:
    """/conf/core/process-execute-success-async, /conf/core/job, /conf/core/job-results: 201 with Location and
    statusInfo, the job's status until it succeeds, then its results."""
    response = _execute(live, "slow", {"inputs": {"seconds": 0.3}}, prefer_async=True)
    created = _json(response, 201)
    _status_info(created)
    assert response.headers["Location"].endswith(f"/jobs/{created['jobID']}")
    assert response.headers.get("Preference-Applied") == "respond-async"
    _status_info(_get(live, f"/jobs/{created['jobID']}"))
    assert services.wait_for_job(live, created["jobID"])["status"] == "successful"
    status = _get(live, f"/jobs/{created['jobID']}")
    _status_info(status)
    assert any(link["rel"] == f"{REL}results" for link in status["links"])
    assert _get(live, f"/jobs/{created['jobID']}/results")["seconds"] == 0.3


def test_core_unknown_job_and_its_results_are_404_exceptions(live: str) -> None:
    """/conf/core/job-exception-no-such-job, /conf/core/job-results-exception/no-such-job."""
    _exception(_get(live, "/jobs/00000000-0000-0000-0000-000000000000", status=404))
    _exception(_get(live, "/jobs/00000000-0000-0000-0000-000000000000/results", status=404))


def test_core_results_of_a_running_job_are_not_ready(live: str) -> None:
    """/conf/core/job-results-exception/results-not-ready: 404 with an exception while the job runs."""
    job_id = _json(_execute(live, "slow", {"inputs": {"seconds": 30.0}}, prefer_async=True), 201)["jobID"]
    try:
        services.wait_until(lambda: _get(live, f"/jobs/{job_id}")["status"] == "running")
        not_ready = _get(live, f"/jobs/{job_id}/results", status=404)
        _exception(not_ready)
        assert not_ready["code"] == "ResultNotReady", not_ready
    finally:
        requests.delete(f"{live}/jobs/{job_id}", timeout=30)


# --- Process Description --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("process", ["artificialisation", "slow"])
def test_process_description_has_typed_inputs_and_outputs(live: str, process: str) -> None:
    """/conf/ogc-process-description/json-encoding: id, version, inputs and outputs each with a schema."""
    described = _get(live, f"/processes/{process}")
    assert described["id"] == process and described["version"]
    assert described["inputs"] and described["outputs"]
    for name, spec in {**described["inputs"], **described["outputs"]}.items():
        assert spec["title"] and isinstance(spec["schema"], dict), name
    for spec in described["inputs"].values():
        assert spec.get("minOccurs", 1) >= 0 and spec.get("maxOccurs", 1) in ("unbounded", *range(1, 10_000))


# --- Job List -------------------------------------------------------------------------------------------------------


def test_job_list_holds_the_jobs_created(live: str) -> None:
    """/conf/job-list/job-list-op, /conf/job-list/job-list-success: GET /jobs lists statusInfo documents."""
    created = _json(_execute(live, "slow", {"inputs": {"seconds": 0.1}}, prefer_async=True), 201)["jobID"]
    services.wait_for_job(live, created)
    listed = _get(live, "/jobs", limit="1000")
    for job in listed["jobs"]:
        _status_info(job)
    assert created in {job["jobID"] for job in listed["jobs"]}
    assert listed["links"]
    assert len(_get(live, "/jobs", limit="1")["jobs"]) == 1


# --- Dismiss --------------------------------------------------------------------------------------------------------


def test_dismiss_a_running_job(live: str) -> None:
    """/conf/dismiss/job-dismiss-op, /conf/dismiss/job-dismiss-success: DELETE answers 200 with statusInfo
    ``dismissed``; the job stops and its results are gone."""
    job_id = _json(_execute(live, "slow", {"inputs": {"seconds": 30}}, prefer_async=True), 201)["jobID"]
    services.wait_until(lambda: _get(live, f"/jobs/{job_id}")["status"] == "running")
    dismissed = _json(requests.delete(f"{live}/jobs/{job_id}", timeout=30))
    _status_info(dismissed)
    assert dismissed["status"] == "dismissed" and dismissed["jobID"] == job_id
    assert services.wait_for_job(live, job_id, timeout_s=10)["status"] == "dismissed"
    _exception(_get(live, f"/jobs/{job_id}/results", status=404))


def test_dismiss_an_unknown_job_is_a_404(live: str) -> None:
    """/conf/dismiss/job-dismiss-op: no such job."""
    _exception(_json(requests.delete(f"{live}/jobs/00000000-0000-0000-0000-000000000000", timeout=30), 404))


# --- Callback -------------------------------------------------------------------------------------------------------


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[tuple[str, dict]]]]:
    """An HTTP listener on loopback that keeps every (path, JSON body) POSTed to it."""
    received: list[tuple[str, dict]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append((self.path, json.loads(body)))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    listener = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=listener.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{listener.server_address[1]}", received
    finally:
        listener.shutdown()


def test_callback_tells_the_subscriber_of_progress_and_success(live: str, receiver) -> None:
    """/conf/callback/job-callback: the subscriber's URIs receive the job's progress and its results."""
    url, received = receiver
    subscriber = {"successUri": f"{url}/done", "inProgressUri": f"{url}/running", "failedUri": f"{url}/failed"}
    created = _json(_execute(live, "slow", {"inputs": {"seconds": 0.2}, "subscriber": subscriber}, True), 201)
    assert services.wait_for_job(live, created["jobID"])["status"] == "successful"
    services.wait_until(lambda: any(path == "/done" for path, _ in received))
    by_path = dict(received)
    assert by_path["/running"] == {"jobID": created["jobID"], "status": "running"}
    assert by_path["/done"]["seconds"] == 0.2 and "/failed" not in by_path


# --- a second client: ogc-api-processes-client, generated from the standard's OpenAPI document ---------------------


def test_generated_client_lists_describes_executes_polls_and_dismisses(live: str) -> None:
    from ogc_api_processes_client import (
        ApiClient,
        Configuration,
        DismissApi,
        Execute,
        ExecuteApi,
        JobListApi,
        ProcessDescriptionApi,
        ProcessListApi,
        ResultApi,
        StatusApi,
    )

    with ApiClient(Configuration(host=live)) as client:
        assert {"artificialisation", "slow"} <= {p.id for p in ProcessListApi(client).get_processes().processes}
        described = ProcessDescriptionApi(client).get_process_description("slow")
        assert set(described.inputs) == {"seconds"} and set(described.outputs) == {"slept"}

        executions = ExecuteApi(client)
        # Its models take a number input only as a float: an int matches two branches of their oneOf, and an
        # object input (our territoire) none, so the typed client cannot send artificialisation's inputs. Its
        # Execute200Response cannot read any document (a map matches both its "object" and its map branches), so
        # the sync answer is read without its models.
        request = Execute.from_dict({"inputs": {"seconds": 0.1}, "response": "document"})
        sync = executions.execute_without_preload_content("slow", request)
        assert sync.status == 200
        assert json.loads(sync.data)["slept"]["value"]["seconds"] == 0.1

        body = Execute.from_dict({"inputs": {"seconds": 0.2}, "response": "document"})
        accepted = executions.execute_with_http_info("slow", body, _headers=ASYNC)
        assert accepted.status_code == 201
        job_id = accepted.headers["Location"].rsplit("/", 1)[1]
        statuses = StatusApi(client)
        services.wait_until(lambda: statuses.get_status(job_id).status.value == "successful", timeout_s=60)
        # Its results model fails on any integer (two branches of its oneOf match): read without its models.
        results = ResultApi(client).get_result_without_preload_content(job_id)
        assert results.status == 200 and json.loads(results.data)["slept"]["value"]["seconds"] == 0.2
        assert job_id in {job.job_id for job in JobListApi(client).get_jobs().jobs}

        long_run = Execute.from_dict({"inputs": {"seconds": 30.0}})
        running = executions.execute_with_http_info("slow", long_run, _headers=ASYNC)
        running_id = running.headers["Location"].rsplit("/", 1)[1]
        services.wait_until(lambda: statuses.get_status(running_id).status.value == "running")
        dismissed = DismissApi(client).dismiss(running_id)
        assert dismissed.status.value == "dismissed" and dismissed.job_id == running_id
