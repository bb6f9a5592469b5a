"""Fixtures of the job tests: empty job stores of both kinds, jobs inserted straight through the records API, and
the local topology (deploy/topology.py) with the helpers that drive it over HTTP."""

from __future__ import annotations

import re
import shutil
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import psycopg
import pytest
import rasterio
import requests

from deploy.topology import Topology
from ocsge_processes.jobs.records import JobRecords, now_text, open_records

from ..conftest import BIN, ROOT, SHARED

ASYNC = {"Prefer": "respond-async"}
SLOW_PROCESS = {"type": "process", "processor": {"name": "tests.jobs.slow.SlowProcessor"}}


def fresh_database(postgis_url: str) -> str:
    """A new empty database on the test cluster; its URL."""
    name = f"jobs_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgis_url, autocommit=True) as connection:
        connection.execute(f"CREATE DATABASE {name}")
    return postgis_url.rsplit("/", 1)[0] + f"/{name}"


@pytest.fixture(params=["sqlite", "postgresql"])
def records(request: pytest.FixtureRequest, tmp_path: Path) -> JobRecords:
    """An empty job store of each kind."""
    if request.param == "sqlite":
        return open_records(str(tmp_path / "jobs.sqlite"))
    return open_records(fresh_database(request.getfixturevalue("postgis_url")))


def new_job(
    records: JobRecords,
    process_id: str = "slow",
    request: dict | None = None,
    created: str | None = None,
    status: str = "accepted",
) -> str:
    """Add a job as pygeoapi's manager describes one (accepted unless told); return its id."""
    job_id = str(uuid.uuid4())
    now = created or now_text()
    records.add(
        {
            "identifier": job_id,
            "process_id": process_id,
            "status": status,
            "created": now,
            "started": now,
            "updated": now,
            "finished": None,
            "mimetype": "application/octet-stream",
            "message": "Job accepted and ready for execution",
            "progress": 5,
        },
        request,
    )
    return job_id


@contextmanager
def topology_on(store_url: str, replicas: int, stale_after_s: float) -> Iterator[Topology]:
    """The local topology (two workers, the tests' `slow` process) on ``store_url``, stopped at the end."""
    # not under pytest's temporary folder, whose parent only root may enter: PostgreSQL needs to reach its data
    folder = Path(tempfile.mkdtemp(prefix="ocsge-topology-"))
    topology = Topology(
        folder,
        BIN,
        store_url,
        replicas=replicas,
        workers=2,
        stale_after_s=stale_after_s,
        resources={"slow": SLOW_PROCESS},
        env={"PYTHONPATH": str(ROOT), "OCSGE_DATA_DIR": str(SHARED)},
    )
    try:
        yield topology.start()
    finally:
        topology.stop()
        shutil.rmtree(folder, ignore_errors=True)


def execute(url: str, process: str, body: dict, headers: dict | None = None) -> requests.Response:
    return requests.post(f"{url}/processes/{process}/execution", json=body, headers=headers, timeout=120)


def submit(url: str, process: str, inputs: dict, **body: object) -> str:
    response = execute(url, process, {"inputs": inputs, **body}, ASYNC)
    assert response.status_code == 201, response.text
    return response.json()["jobID"]


def status(url: str, job_id: str) -> dict:
    return requests.get(f"{url}/jobs/{job_id}", params={"f": "json"}, timeout=30).json()


def running(url: str, job_id: str, timeout_s: float = 30) -> tuple[int, int]:
    """(pool process, worker process) running a `slow` job, from the progress message it reports."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        document = status(url, job_id)
        match = re.fullmatch(r"pid (\d+) worker (\d+)", document.get("message") or "")
        if document["status"] == "running" and match:
            return int(match[1]), int(match[2])
        time.sleep(0.1)
    raise AssertionError(f"job {job_id} never reported running: {document}")


def worker_index(topology: Topology, worker_pid: int) -> int:
    return next(i for i, proc in enumerate(topology.workers) if proc is not None and proc.pid == worker_pid)


def alive(pid: int) -> bool:
    try:
        return "\nState:\tZ" not in Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return False


def block_classes(run_dir: Path) -> dict[str, np.ndarray]:
    """Each finished block's classes in a segmentation run folder, by block name: what two runs compare."""
    out = {}
    for record in (run_dir / "blocks").glob("*.json"):
        with rasterio.open(record.with_suffix(".tif")) as dataset:
            out[record.stem] = dataset.read(1)
    return out
