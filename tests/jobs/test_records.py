"""Both job stores (SQLite, PostgreSQL): paging in the database, results as bytes, status moves, stale heartbeats."""

from __future__ import annotations

import time

import pytest

from ocsge_processes.jobs.records import JobNotFound, JobRecords

from .conftest import new_job


def test_pages_cut_in_the_database_cover_every_job_once_newest_first(records: JobRecords) -> None:
    ids = [new_job(records, created=f"2026-01-01T00:00:{second:02d}.000000Z") for second in range(25)]
    pages = [records.list(10, offset) for offset in (0, 10, 20)]
    assert [len(jobs) for jobs, _ in pages] == [10, 10, 5]
    assert {matched for _, matched in pages} == {25}
    seen = [job["identifier"] for jobs, _ in pages for job in jobs]
    assert seen == ids[::-1]


def test_status_filter_counts_only_matching_jobs(records: JobRecords) -> None:
    running = new_job(records)
    new_job(records)
    assert records.start(running)
    jobs, matched = records.list(10, 0, "running")
    assert matched == 1 and [job["identifier"] for job in jobs] == [running]


def test_binary_result_round_trips_with_its_mimetype(records: JobRecords) -> None:
    job_id = new_job(records, request={"inputs": {"seconds": 1}})
    payload = bytes(range(256)) * 1000
    assert records.get(job_id)["request"] == {"inputs": {"seconds": 1}}
    with pytest.raises(JobNotFound):
        records.result(job_id)
    assert records.start(job_id)
    assert records.succeed(job_id, "image/tiff", payload)
    assert records.result(job_id) == ("image/tiff", payload)
    job = records.get(job_id)
    assert (job["status"], job["progress"], job["finished"] is not None) == ("successful", 100, True)


def test_a_dismissed_job_never_starts_nor_stores_a_result(records: JobRecords) -> None:
    queued, running = new_job(records), new_job(records)
    assert records.start(running)
    assert records.dismiss(queued) == "accepted"
    assert records.dismiss(running) == "running"
    assert not records.start(queued)
    assert not records.succeed(running, "application/json", b"{}")
    assert not records.fail(running, "too late")
    assert records.report(running, 50, "still going") == "dismissed"
    assert records.status(running) == "dismissed"
    with pytest.raises(JobNotFound):
        records.result(running)
    with pytest.raises(JobNotFound):
        records.dismiss("no-such-job")


def test_dismissing_a_finished_job_drops_its_result(records: JobRecords) -> None:
    job_id = new_job(records)
    records.start(job_id)
    records.succeed(job_id, "text/csv", b"a,b\n")
    records.dismiss(job_id)
    with pytest.raises(JobNotFound):
        records.result(job_id)


def test_progress_is_recorded_while_active_only(records: JobRecords) -> None:
    job_id = new_job(records)
    records.start(job_id)
    assert records.report(job_id, 42, "half way") == "running"
    assert (records.get(job_id)["progress"], records.get(job_id)["message"]) == (42, "half way")
    records.fail(job_id, "broken")
    records.report(job_id, 80, "ignored")
    assert (records.get(job_id)["progress"], records.get(job_id)["message"]) == (42, "broken")


def test_stale_heartbeat_fails_the_job_with_the_reason(records: JobRecords) -> None:
    stale, alive, waiting = new_job(records), new_job(records), new_job(records)
    records.start(stale)
    records.start(alive)
    time.sleep(1.2)
    records.beat([alive])
    assert records.fail_stale(1.0) == [stale]
    job = records.get(stale)
    assert job["status"] == "failed"
    assert job["message"].startswith("worker lost: no heartbeat since 20")
    assert records.status(alive) == "running"
    assert records.status(waiting) == "accepted", "a job no worker has taken yet has no heartbeat to miss"
