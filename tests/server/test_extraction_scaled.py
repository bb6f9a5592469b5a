"""The extraction scaled out (deploy/topology.py): a Celery worker runs it, its files go to the result store in
the PostgreSQL job database, and every web replica serves them; a dismissal on one replica removes them for all."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

import pytest
import requests

from deploy.topology import Topology
from tests import services

from ..jobs.conftest import ASYNC, execute, topology_on

pytestmark = pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
FILTER = "code_cs = 'CS1.1.1.1'"


@pytest.fixture(scope="module")
def topology(store_url: str) -> Iterator[Topology]:
    with topology_on(store_url, replicas=2, stale_after_s=10) as topology:
        yield topology


def test_a_file_written_by_a_worker_is_served_by_every_replica(topology: Topology) -> None:
    first, second = topology.urls
    inputs = {
        "relations": {"ocsge-occupation-sol": {"attributes": ["code_cs", "geometry"], "filters": FILTER}},
        "format": "GPKG",
    }
    response = execute(first, "extraction", {"inputs": inputs}, ASYNC)
    assert response.status_code == 201, response.text
    job_id = response.json()["jobID"]
    assert services.wait_for_job(second, job_id)["status"] == "successful"
    results = requests.get(f"{second}/jobs/{job_id}/results", params={"f": "json"}, timeout=30).json()
    assert results["summary"]["tables"][0]["features"] > 0
    path = results["extractedData"][0]["href"].split("/results/", 1)[1]
    bodies = [requests.get(f"{url}/results/{path}", timeout=60) for url in (first, second)]
    assert [body.status_code for body in bodies] == [200, 200]
    assert bodies[0].content == bodies[1].content and bodies[0].content.startswith(b"SQLite format 3")
    assert bodies[1].headers["ETag"] == f'"{hashlib.sha256(bodies[0].content).hexdigest()}"'
    assert requests.delete(f"{second}/jobs/{job_id}", timeout=30).status_code == 200
    assert requests.get(f"{first}/results/{path}", timeout=30).status_code == 410
