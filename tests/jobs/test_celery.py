"""Jobs on a real Celery worker (Redis broker, PostgreSQL records) behind a live gunicorn, over HTTP.

Runs in file order on one stack: executions, progress and cancel, pool-process loss, web restart, paging, then the
whole worker killed.
"""

from __future__ import annotations

import os
import re
import signal
import time
from pathlib import Path

import pytest
import requests

from ocsge_processes.jobs.records import open_records

from .conftest import fresh_database, new_job
from .stack import STALE_S, Stack
from .. import services

pytestmark = pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
ASYNC = {"Prefer": "respond-async"}


@pytest.fixture(scope="module")
def stack(store_url: str, postgis_url: str, tmp_path_factory: pytest.TempPathFactory) -> Stack:
    with services.redis() as broker:
        stack = Stack(tmp_path_factory.mktemp("celery"), store_url, fresh_database(postgis_url), broker)
        try:
            stack.start_web()
            stack.start_worker()
            yield stack
        finally:
            stack.stop()


def execute(stack: Stack, process: str, body: dict, headers: dict | None = None) -> requests.Response:
    return requests.post(f"{stack.url}/processes/{process}/execution", json=body, headers=headers, timeout=120)


def submit(stack: Stack, process: str, inputs: dict, **body: object) -> str:
    response = execute(stack, process, {"inputs": inputs, **body}, ASYNC)
    assert response.status_code == 201, response.text
    return response.json()["jobID"]


def status(stack: Stack, job_id: str) -> dict:
    return requests.get(f"{stack.url}/jobs/{job_id}", params={"f": "json"}, timeout=30).json()


def running_pid(stack: Stack, job_id: str, timeout_s: float = 30) -> int:
    """The pool process running a `slow` job, from the progress message it reports."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        document = status(stack, job_id)
        match = re.fullmatch(r"pid (\d+)", document.get("message") or "")
        if document["status"] == "running" and match:
            return int(match[1])
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reported running: {document}")


def alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def wait_for(predicate, timeout_s: float) -> float:
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout_s, "condition not met in time"
        time.sleep(0.1)
    return time.monotonic() - start


def test_callback_to_a_loopback_address_gets_a_400(stack: Stack) -> None:
    response = execute(stack, "slow", {"inputs": {"seconds": 0.1},
                                       "subscriber": {"successUri": "http://127.0.0.1:9/done"}}, ASYNC)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "InvalidParameterValue" and "loopback" in body["description"], body
    unresolvable = execute(stack, "slow", {"inputs": {"seconds": 0.1}, "subscriber": {
        "successUri": "https://example.org/done", "inProgressUri": "http://no-such-host.invalid/progress"}})
    assert unresolvable.status_code == 400 and "does not resolve" in unresolvable.json()["description"]


REQUESTS = [
    ({"territoire": {"communes": communes}, "millesimes": years, "methode": method}, output)
    for communes in (["33009"], ["33527"], ["33229"], ["33009", "33527"], ["33009", "33527", "33229"])
    for years, method, output in (([2021, 2024], "decree", None), ([2021, 2024], "matrix", None),
                                  ([2024], "decree", None), ([2021, 2024], "decree", "tableau"))
]


def test_twenty_async_executions_give_the_sync_results(stack: Stack) -> None:
    assert len(REQUESTS) == 20
    bodies = [{"inputs": inputs, **({"outputs": {output: {}}} if output else {})} for inputs, output in REQUESTS]
    jobs = [submit(stack, "artificialisation", **body) for body in bodies]
    started = time.monotonic()
    for job_id in jobs:
        assert services.wait_for_job(stack.url, job_id, 120)["status"] == "successful", status(stack, job_id)
    print(f"20 async artificialisation jobs on one worker: {time.monotonic() - started:.1f} s")
    for job_id, body, (_, output) in zip(jobs, bodies, REQUESTS):
        result = requests.get(f"{stack.url}/jobs/{job_id}/results", params={"f": "json"}, timeout=30)
        sync = execute(stack, "artificialisation", body)
        assert sync.status_code == result.status_code == 200
        if output == "tableau":
            assert result.headers["Content-Type"].startswith("text/csv")
            assert result.text == sync.text and result.text.count("\n") >= 2
        else:
            assert result.json() == sync.json()
            assert result.json()["territoires"][0]["surface_ha"] > 0


def test_progress_shows_and_cancel_kills_the_running_process(stack: Stack) -> None:
    job_id = submit(stack, "slow", {"seconds": 60})
    pid = running_pid(stack, job_id)
    wait_for(lambda: status(stack, job_id)["progress"] > 0, 10)
    deleted = requests.delete(f"{stack.url}/jobs/{job_id}", timeout=30)
    assert deleted.status_code == 200 and deleted.json()["status"] == "dismissed"
    took = wait_for(lambda: not alive(pid), 10)
    print(f"pool process {pid} killed {took:.1f} s after DELETE")
    assert status(stack, job_id)["status"] == "dismissed"
    result = requests.get(f"{stack.url}/jobs/{job_id}/results", params={"f": "json"}, timeout=30)
    assert result.status_code != 200 and "seconds" not in result.text
    start = time.monotonic()
    next_job = submit(stack, "slow", {"seconds": 0.5})
    assert services.wait_for_job(stack.url, next_job, 30)["status"] == "successful"
    took = time.monotonic() - start
    print(f"next job done {took:.1f} s after the cancel")
    assert took < 10
    assert status(stack, job_id)["status"] == "dismissed", "the killed job stays dismissed"


def test_a_pool_process_killed_mid_job_fails_it_at_once(stack: Stack) -> None:
    job_id = submit(stack, "slow", {"seconds": 60})
    os.kill(running_pid(stack, job_id), signal.SIGKILL)
    wait_for(lambda: status(stack, job_id)["status"] != "running", STALE_S + 5)
    document = status(stack, job_id)
    assert document["status"] == "failed" and document["message"].startswith("worker lost"), document
    assert services.wait_for_job(stack.url, submit(stack, "slow", {"seconds": 0.2}), 30)["status"] == "successful"


def test_restarting_the_web_replica_loses_no_record_or_result(stack: Stack) -> None:
    before = requests.get(f"{stack.url}/jobs", params={"f": "json", "limit": 1000}, timeout=30).json()
    finished = [job for job in before["jobs"] if job["status"] == "successful"]
    results = {job["jobID"]: requests.get(f"{stack.url}/jobs/{job['jobID']}/results", params={"f": "json"},
                                          timeout=30).content for job in finished}
    assert len(results) >= 22
    stack.stop_web()
    stack.start_web()
    after = requests.get(f"{stack.url}/jobs", params={"f": "json", "limit": 1000}, timeout=30).json()
    assert {(job["jobID"], job["status"]) for job in after["jobs"]} == {
        (job["jobID"], job["status"]) for job in before["jobs"]}
    for job_id, content in results.items():
        assert requests.get(f"{stack.url}/jobs/{job_id}/results", params={"f": "json"},
                            timeout=30).content == content


def test_job_list_pages_over_a_thousand_jobs(stack: Stack) -> None:
    records = open_records(stack.env["OCSGE_JOBS"])
    inserted = {new_job(records, "artificialisation") for _ in range(1000)}
    first = requests.get(f"{stack.url}/jobs", params={"f": "json", "limit": 100}, timeout=30).json()
    total = open_records(stack.env["OCSGE_JOBS"]).list(1)[1]
    assert total >= 1000 + 25
    seen, page, offset = [], first, 0
    while True:
        ids = [job["jobID"] for job in page["jobs"]]
        seen += ids
        links = {link["rel"]: link["href"] for link in page["links"]}
        if offset:
            assert f"offset={max(0, offset - 100)}" in links["prev"]
        else:
            assert "prev" not in links
        if "next" not in links:
            break
        assert f"offset={offset + 100}" in links["next"] and "limit=100" in links["next"]
        offset += 100
        page = requests.get(links["next"], timeout=30).json()
    assert len(seen) == len(set(seen)) == total
    assert inserted <= set(seen)
    assert len(seen) // 100 + 1 >= 11


def test_a_killed_worker_leaves_its_job_failed_with_the_reason(stack: Stack) -> None:
    job_id = submit(stack, "slow", {"seconds": 60})
    running_pid(stack, job_id)
    stack.kill_worker()
    took = wait_for(lambda: status(stack, job_id)["status"] != "running", STALE_S + 5)
    document = status(stack, job_id)
    print(f"job of the killed worker failed {took:.1f} s after SIGKILL")
    assert document["status"] == "failed", document
    assert document["message"].startswith("worker lost: no heartbeat since"), document
    waiting = submit(stack, "slow", {"seconds": 0.2})
    time.sleep(STALE_S + 1)
    assert status(stack, waiting)["status"] == "accepted", "a queued job waits for a worker, it is not lost"
    stack.start_worker()
    assert services.wait_for_job(stack.url, waiting, 30)["status"] == "successful"
