"""Jobs on the local topology (deploy/topology.py): two gunicorn replicas, two Celery workers, Redis, PostgreSQL
records, all real processes, driven over HTTP.

Runs in file order on one topology: executions across replicas, progress and cancel, pool-process loss, web
restarts, paging, then whole workers killed.
"""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests

from deploy.topology import Topology
from ocsge_processes.jobs.records import open_records

from .. import services
from .conftest import ASYNC, alive, execute, new_job, running, status, submit, topology_on, worker_index

pytestmark = pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
#: Seconds without heartbeat after which a job ends failed: short, so that a killed worker shows fast.
STALE_S = 3


@pytest.fixture(scope="module")
def topology(store_url: str) -> Topology:
    with topology_on(store_url, replicas=2, stale_after_s=STALE_S) as topology:
        yield topology


def test_callback_to_a_loopback_address_gets_a_400(topology: Topology) -> None:
    url = topology.urls[0]
    response = execute(
        url, "slow", {"inputs": {"seconds": 0.1}, "subscriber": {"successUri": "http://127.0.0.1:9/done"}}, ASYNC
    )
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["code"] == "InvalidParameterValue" and "loopback" in body["description"], body
    unresolvable = execute(
        url,
        "slow",
        {
            "inputs": {"seconds": 0.1},
            "subscriber": {
                "successUri": "https://example.org/done",
                "inProgressUri": "http://no-such-host.invalid/progress",
            },
        },
    )
    assert unresolvable.status_code == 400 and "does not resolve" in unresolvable.json()["description"]


REQUESTS = [
    ({"territoire": {"communes": communes}, "millesimes": years, "methode": method}, output)
    for communes in (["33009"], ["33527"], ["33229"], ["33009", "33527"], ["33009", "33527", "33229"])
    for years, method, output in (
        ([2021, 2024], "decree", None),
        ([2021, 2024], "matrix", None),
        ([2024], "decree", None),
        ([2021, 2024], "decree", "tableau"),
    )
]


def test_twenty_async_executions_across_two_replicas_give_the_sync_results(topology: Topology) -> None:
    """Submitted to either replica, followed and fetched from the other: the records are shared."""
    assert len(REQUESTS) == 20
    first, second = topology.urls
    bodies = [{"inputs": inputs, **({"outputs": {output: {}}} if output else {})} for inputs, output in REQUESTS]
    jobs = [submit((first, second)[n % 2], "artificialisation", **body) for n, body in enumerate(bodies)]
    started = time.monotonic()
    for n, job_id in enumerate(jobs):
        other = (second, first)[n % 2]
        assert services.wait_for_job(other, job_id, 120)["status"] == "successful", status(other, job_id)
    print(f"20 async artificialisation jobs on two workers: {time.monotonic() - started:.1f} s")
    for n, (job_id, body, (_, output)) in enumerate(zip(jobs, bodies, REQUESTS, strict=True)):
        result = requests.get(f"{(second, first)[n % 2]}/jobs/{job_id}/results", params={"f": "json"}, timeout=30)
        sync = execute(first, "artificialisation", body)
        assert sync.status_code == result.status_code == 200
        if output == "tableau":
            assert result.headers["Content-Type"].startswith("text/csv")
            assert result.text == sync.text and result.text.count("\n") >= 2
        else:
            assert result.json() == sync.json()
            assert result.json()["territoires"][0]["surface_ha"] > 0


def test_progress_shows_and_cancel_stops_the_job_and_frees_its_worker(topology: Topology) -> None:
    first, second = topology.urls
    job_id = submit(first, "slow", {"seconds": 60})
    pid, worker = running(first, job_id)
    services.wait_until(lambda: status(second, job_id)["progress"] > 0, 10)
    deleted = requests.delete(f"{second}/jobs/{job_id}", timeout=30)
    assert deleted.status_code == 200 and deleted.json()["status"] == "dismissed"
    cancelled = time.monotonic()
    took = services.wait_until(lambda: not alive(pid), 10)
    print(f"pool process {pid} killed {took:.1f} s after DELETE")
    assert status(first, job_id)["status"] == "dismissed"
    result = requests.get(f"{first}/jobs/{job_id}/results", params={"f": "json"}, timeout=30)
    assert result.status_code != 200 and "seconds" not in result.text
    # Two new jobs for two idle workers: the worker of the cancelled job takes one of them within seconds.
    next_jobs = [submit(first, "slow", {"seconds": 2}) for _ in range(2)]
    workers = {running(first, job)[1] for job in next_jobs}
    took = time.monotonic() - cancelled
    print(f"the cancelled job's worker ran new work {took:.1f} s after the cancel")
    assert worker in workers and took < 10, (worker, workers)
    for job in next_jobs:
        assert services.wait_for_job(first, job, 30)["status"] == "successful"
    assert status(first, job_id)["status"] == "dismissed", "the killed job stays dismissed"


def test_a_pool_process_killed_mid_job_fails_it_at_once(topology: Topology) -> None:
    url = topology.urls[0]
    job_id = submit(url, "slow", {"seconds": 60})
    os.kill(running(url, job_id)[0], signal.SIGKILL)
    services.wait_until(lambda: status(url, job_id)["status"] != "running", STALE_S + 5)
    document = status(url, job_id)
    assert document["status"] == "failed" and document["message"].startswith("worker lost"), document
    assert services.wait_for_job(url, submit(url, "slow", {"seconds": 0.2}), 30)["status"] == "successful"


def test_restarting_every_web_replica_loses_no_record_or_result(topology: Topology) -> None:
    url = topology.urls[1]
    before = requests.get(f"{url}/jobs", params={"f": "json", "limit": 1000}, timeout=30).json()
    finished = [job for job in before["jobs"] if job["status"] == "successful"]
    results = {
        job["jobID"]: requests.get(f"{url}/jobs/{job['jobID']}/results", params={"f": "json"}, timeout=30).content
        for job in finished
    }
    assert len(results) >= 23
    for index in range(len(topology.urls)):
        topology.stop_web(index)
    for index in range(len(topology.urls)):
        topology.start_web(index)
    for url in topology.urls:
        after = requests.get(f"{url}/jobs", params={"f": "json", "limit": 1000}, timeout=30).json()
        assert {(job["jobID"], job["status"]) for job in after["jobs"]} == {
            (job["jobID"], job["status"]) for job in before["jobs"]
        }
        for job_id, content in results.items():
            assert requests.get(f"{url}/jobs/{job_id}/results", params={"f": "json"}, timeout=30).content == content


def test_job_list_pages_over_a_thousand_jobs(topology: Topology) -> None:
    url = topology.urls[1]
    records = open_records(topology.jobs_url)
    # ended jobs: accepted ones without a message would be queued again by the idle workers (jobs/recovery.py)
    inserted = {new_job(records, "artificialisation", status="dismissed") for _ in range(1000)}
    first = requests.get(f"{url}/jobs", params={"f": "json", "limit": 100}, timeout=30).json()
    total = records.list(1)[1]
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


def test_killed_workers_leave_their_jobs_failed_with_the_reason_and_lose_no_queued_job(topology: Topology) -> None:
    url = topology.urls[0]
    job_id = submit(url, "slow", {"seconds": 60})
    victim = worker_index(topology, running(url, job_id)[1])
    topology.kill_worker(victim)
    took = services.wait_until(lambda: status(url, job_id)["status"] != "running", STALE_S + 5)
    document = status(url, job_id)
    print(f"job of the killed worker failed {took:.1f} s after SIGKILL")
    assert document["status"] == "failed", document
    assert document["message"].startswith("worker lost: no heartbeat since"), document
    assert services.wait_for_job(url, submit(url, "slow", {"seconds": 0.2}), 30)["status"] == "successful", (
        "the other worker goes on"
    )
    survivor = 1 - victim
    topology.kill_worker(survivor)
    waiting = submit(url, "slow", {"seconds": 0.2})
    time.sleep(STALE_S + 1)
    assert status(url, waiting)["status"] == "accepted", "a queued job waits for a worker, it is not lost"
    topology.start_worker(victim)
    assert services.wait_for_job(url, waiting, 30)["status"] == "successful"
