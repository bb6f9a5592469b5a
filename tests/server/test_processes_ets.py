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
from collections.abc import Iterator

import pytest
import requests
from owslib.ogcapi.processes import Processes

from deploy.services import web_server
from ocsge_processes.jobs.document import output_id, results_document
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


def test_document_values_text_as_text_and_binary_in_base64() -> None:
    assert results_document("tableau", "text/csv", b"code;nom\n33009;Arcachon\n") == {
        "tableau": {"mediaType": "text/csv", "value": "code;nom\n33009;Arcachon\n"}
    }
    tiff = b"II*\x00\xff\xfe"
    entry = results_document("carte", "image/tiff", tiff)["carte"]
    assert entry["encoding"] == "base64" and base64.b64decode(entry["value"]) == tiff
