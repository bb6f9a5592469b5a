"""Heavy requests cannot kill other clients' jobs: every execution is a job of the executor, a sync request waits for
its job up to the sync budget and then answers 201 with the job's status, a store query stops first (503), and a
sync execution known up front to need more than the budget is refused with a 400 that says to go async.

Each deployment is live and real: gunicorn with the in-process executor (one worker, so that the async job and the
slow sync request share it), and the local topology with Celery workers. Both run under a worker timeout (8 s)
shorter than the slow sync request (12 s): before, gunicorn killed that worker and every job inside it.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import requests

from deploy.topology import Topology
from ocsge_processes.server.time_limits import ANSWER_MARGIN_S, TimeLimits
from ocsge_processes.workflows import cost

from .. import services
from ..conftest import BIN, ROOT, SHARED
from .conftest import live_server
from .test_timeouts import slow_filter

ASYNC = {"Prefer": "respond-async"}
SLOW_PROCESS = {"type": "process", "processor": {"name": "tests.jobs.slow.SlowProcessor"}}
#: Tiny limits, in their order: store query < sync budget < worker timeout (5 s of answer margin after the budget).
SYNC_BUDGET_S, WORKER_TIMEOUT_S = 1.5, 8
LIMITS = {
    "OCSGE_STATEMENT_TIMEOUT": "0.001",
    "OCSGE_SYNC_BUDGET": str(SYNC_BUDGET_S),
    "OCSGE_WORKER_TIMEOUT": str(WORKER_TIMEOUT_S),
    "OCSGE_MAX_JOBS": "3",
    "PYTHONPATH": str(ROOT),
}
#: Runs longer than the worker timeout: a request that waited for it in the worker would get the worker killed.
LONG_S = 12.0


@dataclass(frozen=True)
class Deployment:
    url: str
    logs: tuple[Path, ...]

    def log_text(self) -> str:
        return "\n".join(path.read_text(errors="replace") for path in self.logs if path.exists())


@pytest.fixture(scope="module", params=["inprocess", "celery"])
def deployment(
    request: pytest.FixtureRequest, store_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Deployment]:
    """A live server under the tiny limits, with the tests' `slow` process, on each executor."""
    if request.param == "inprocess":
        folder = tmp_path_factory.mktemp("heavy")
        with live_server(store_url, folder, workers=1, resources={"slow": SLOW_PROCESS}, **LIMITS) as url:
            yield Deployment(url, (folder / "gunicorn.log",))
        return
    folder = Path(tempfile.mkdtemp(prefix="ocsge-heavy-"))  # PostgreSQL must reach it: not under pytest's folder
    topology = Topology(
        folder,
        BIN,
        store_url,
        replicas=1,
        workers=2,
        resources={"slow": SLOW_PROCESS},
        env={**LIMITS, "OCSGE_DATA_DIR": str(SHARED)},
    )
    try:
        topology.start()
        yield Deployment(topology.urls[0], (folder / "web0.log", folder / "worker0.log", folder / "worker1.log"))
    finally:
        topology.stop()
        shutil.rmtree(folder, ignore_errors=True)


def execute(url: str, process: str, inputs: dict, headers: dict | None = None, **body: object) -> requests.Response:
    return requests.post(
        f"{url}/processes/{process}/execution", json={"inputs": inputs, **body}, headers=headers, timeout=120
    )


def job(url: str, job_id: str) -> dict:
    return requests.get(f"{url}/jobs/{job_id}", params={"f": "json"}, timeout=30).json()


def result(url: str, job_id: str) -> requests.Response:
    return requests.get(f"{url}/jobs/{job_id}/results", params={"f": "json"}, timeout=30)


def assert_no_worker_killed(deployment: Deployment) -> None:
    log = deployment.log_text()
    assert "WORKER TIMEOUT" not in log and "worker lost" not in log.lower(), log[-3000:]


@pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
def test_sync_within_budget_answers_the_result(deployment: Deployment) -> None:
    response = execute(deployment.url, "slow", {"seconds": 0.2})
    assert response.status_code == 200, response.text
    assert response.json()["seconds"] == 0.2
    job_id = response.headers["Location"].rsplit("/", 1)[-1]
    assert job(deployment.url, job_id)["status"] == "successful", "a sync execution is a recorded job"
    assert result(deployment.url, job_id).json() == response.json()


@pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
def test_sync_over_budget_answers_201_with_the_job_which_finishes_with_its_result(deployment: Deployment) -> None:
    started = time.monotonic()
    response = execute(deployment.url, "slow", {"seconds": 4})
    waited = time.monotonic() - started
    assert response.status_code == 201, response.text
    assert SYNC_BUDGET_S <= waited < SYNC_BUDGET_S + ANSWER_MARGIN_S, waited
    body = response.json()
    assert response.headers["Location"] == f"{deployment.url}/jobs/{body['jobID']}"
    assert "Preference-Applied" not in response.headers, "the client's wait was not honoured to the end"
    assert body["status"] in ("accepted", "running") and body["processID"] == "slow"
    assert {link["rel"] for link in body["links"]} >= {"status", "http://www.opengis.net/def/rel/ogc/1.0/results"}
    final = services.wait_for_job(deployment.url, body["jobID"], 60)
    assert final["status"] == "successful", final
    answer = result(deployment.url, body["jobID"])
    assert answer.status_code == 200 and answer.json()["seconds"] == 4


@pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
def test_a_long_sync_request_does_not_kill_an_async_job_running_beside_it(deployment: Deployment) -> None:
    first = execute(deployment.url, "slow", {"seconds": 6}, ASYNC)
    assert first.status_code == 201, first.text
    async_id = first.json()["jobID"]
    services.wait_until(lambda: job(deployment.url, async_id)["status"] == "running", 30)
    long = execute(deployment.url, "slow", {"seconds": LONG_S})
    assert long.status_code == 201, long.text
    sync_id = long.json()["jobID"]
    for job_id in (async_id, sync_id):
        final = services.wait_for_job(deployment.url, job_id, 60)
        assert final["status"] == "successful", final
    slept = [result(deployment.url, job_id).json() for job_id in (async_id, sync_id)]
    if len(deployment.logs) == 1:  # in-process, one gunicorn worker: both jobs ran in the process of the request
        assert slept[0]["pid"] == slept[1]["pid"]
    assert slept[1]["ended"] - slept[1]["started"] >= LONG_S > WORKER_TIMEOUT_S
    assert_no_worker_killed(deployment)


@pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
def test_a_sync_artificialisation_is_not_bound_by_the_web_statement_timeout(deployment: Deployment) -> None:
    """Its store queries run in a job: far longer than the 1 ms a web request's query may take, and no 503."""
    response = execute(
        deployment.url, "artificialisation", {"territoire": {"communes": ["33009"]}, "millesimes": [2021, 2024]}
    )
    assert response.status_code in (200, 201), response.text
    job_id = response.headers["Location"].rsplit("/", 1)[-1]
    assert services.wait_for_job(deployment.url, job_id, 60)["status"] == "successful"
    assert result(deployment.url, job_id).json()["territoires"][0]["code"] == "33009"


def wms_image(size_m: float) -> dict:
    """A WMS input whose grid is known from its bbox: at 0.2 m, ``(size_m / 0.2)²`` pixels. Nothing listens on
    port 9 of the loopback: an accepted job fails to fetch it, and no outside address is ever called."""
    return {
        "wms": {
            "url": "http://localhost:9/wms",
            "bbox": [770000, 6277000, 770000 + size_m, 6277000 + size_m],
            "crs": "EPSG:2154",
            "resolution": 0.2,
        }
    }


COSTLY = [
    # 1 000 × 1 000 px on the CPU: at least 1e6 / (80 000 × 4) = 3.1 s > 1.5 s
    ("segmentation", {"image": wms_image(200), "device": "cpu"}, "1 000 000 pixels on the CPU"),
    # 100 communes: at least 100 × 0.08 / 4 = 2 s > 1.5 s
    (
        "artificialisation",
        {"territoire": {"communes": [f"33{n:03d}" for n in range(1, 101)]}, "millesimes": [2021, 2024]},
        "100 communes",
    ),
]


@pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
@pytest.mark.parametrize(("process", "inputs", "counted"), COSTLY, ids=["pixels", "communes"])
def test_a_sync_execution_known_to_exceed_the_budget_is_refused_and_async_accepted(
    deployment: Deployment, process: str, inputs: dict, counted: str
) -> None:
    refused = execute(deployment.url, process, inputs)
    assert refused.status_code == 400, refused.text
    body = refused.json()
    assert body["code"] == "InvalidParameterValue"
    assert counted in body["description"] and "Prefer: respond-async" in body["description"], body
    assert f"{SYNC_BUDGET_S:g} s" in body["description"]
    accepted = execute(deployment.url, process, inputs, ASYNC)
    assert accepted.status_code == 201, accepted.text
    ended = services.wait_for_job(deployment.url, accepted.json()["jobID"], 60)
    assert ended["status"] in ("successful", "failed"), ended


@pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
def test_a_sync_execution_just_under_the_known_cost_runs(deployment: Deployment) -> None:
    """60 communes: at least 1.2 s, under the 1.5 s budget: it runs (the unknown codes are the job's 400)."""
    inputs = {"territoire": {"communes": [f"33{n:03d}" for n in range(900, 960)]}, "millesimes": [2021, 2024]}
    assert cost.SECONDS_PER_COMMUNE * 60 / cost.SPEEDUP < SYNC_BUDGET_S
    response = execute(deployment.url, "artificialisation", inputs)
    assert response.status_code == 400, response.text
    assert "unknown commune" in response.json()["description"], response.text


@pytest.mark.parametrize("store_url", ["gpkg", "postgis"], indirect=True)
def test_a_slow_store_query_answers_503_and_the_workers_async_job_ends_successful(
    store_url: str, tmp_path: Path
) -> None:
    with live_server(store_url, tmp_path, workers=1, resources={"slow": SLOW_PROCESS}, **LIMITS) as url:
        started = execute(url, "slow", {"seconds": 3}, ASYNC)
        assert started.status_code == 201, started.text
        job_id = started.json()["jobID"]
        services.wait_until(lambda: job(url, job_id)["status"] == "running", 30)
        slow = requests.post(
            f"{url}/collections/ocsge-occupation-sol/items",
            json=slow_filter(store_url),
            headers={"Content-Type": "application/query-cql-json"},
            timeout=120,
            params={"filter-crs": "http://www.opengis.net/def/crs/EPSG/0/2154"},
        )
        assert slow.status_code == 503, slow.text
        assert slow.json()["code"] == "QueryTimeout"
        final = services.wait_for_job(url, job_id, 60)
        assert final["status"] == "successful", final
        assert_no_worker_killed(Deployment(url, (tmp_path / "gunicorn.log",)))


@pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"OCSGE_SYNC_BUDGET": "60", "OCSGE_WORKER_TIMEOUT": "30"}, "must end at least 5 s before the worker timeout"),
        ({"OCSGE_STATEMENT_TIMEOUT": "90"}, "must be below the sync budget"),
        ({"OCSGE_STATEMENT_TIMEOUT": "0"}, "OCSGE_STATEMENT_TIMEOUT is 0 (no limit)"),
    ],
)
def test_a_server_with_time_limits_out_of_order_refuses_to_start(
    store_url: str, tmp_path: Path, env: dict, message: str
) -> None:
    with pytest.raises(RuntimeError, match="exited at start") as refused, live_server(store_url, tmp_path, **env):
        pass
    assert "time limits out of order" in str(refused.value) and message in str(refused.value)


def test_time_limits_order() -> None:
    assert TimeLimits(30, 60, 300).problem() is None
    assert TimeLimits(30, 60, 0).problem() is None, "0: gunicorn never kills a silent worker"
    assert "below the sync budget" in TimeLimits(60, 60, 300).problem()
    assert "before the worker timeout" in TimeLimits(30, 60, 60 + ANSWER_MARGIN_S - 1).problem()
    assert "below the worker timeout" in TimeLimits(30, None, 30).problem()
