"""Fixtures of the job tests: empty job stores of both kinds, and jobs inserted straight through the records API."""

from __future__ import annotations

import uuid
from pathlib import Path

import psycopg
import pytest

from ocsge_processes.jobs.records import JobRecords, now_text, open_records


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


def new_job(records: JobRecords, process_id: str = "slow", request: dict | None = None,
            created: str | None = None) -> str:
    """Add an accepted job as pygeoapi's manager describes one; return its id."""
    job_id = str(uuid.uuid4())
    now = created or now_text()
    records.add({"identifier": job_id, "process_id": process_id, "status": "accepted", "created": now,
                 "started": now, "updated": now, "finished": None, "mimetype": "application/octet-stream",
                 "message": "Job accepted and ready for execution", "progress": 5}, request)
    return job_id
