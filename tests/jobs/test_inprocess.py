"""The embedded executor: at most max_jobs at once (the rest wait, heartbeating), cooperative cancel, callbacks."""

from __future__ import annotations

import itertools
import time
from pathlib import Path

import pytest

from ocsge_processes.jobs import callbacks
from ocsge_processes.jobs.inprocess import InProcessExecutor
from ocsge_processes.jobs.records import JobRecords, open_records
from ocsge_processes.jobs.runner import Heartbeat, decode

from .conftest import new_job
from .slow import SlowProcessor

#: Deadlines of the waits below: each is many times what the step takes on an idle machine (a thread picks a queued
#: job up in milliseconds, the `slow` jobs run 0.2-0.8 s each), so that only a job that is really stuck fails them.
START_S, END_S = 10.0, 30.0


@pytest.fixture
def sqlite_records(tmp_path: Path) -> JobRecords:
    return open_records(str(tmp_path / "jobs.sqlite"))


def submit(executor: InProcessExecutor, records: JobRecords, seconds: float) -> str:
    job_id = new_job(records, request={"inputs": {"seconds": seconds}})
    executor.submit(job_id, "slow", SlowProcessor({"name": "tests.jobs.slow.SlowProcessor"}))
    return job_id


def wait_for_status(records: JobRecords, job_id: str, status: str, timeout_s: float) -> float:
    """Seconds until ``job_id`` is ``status``; fails as soon as it ends otherwise, or after ``timeout_s``, saying
    where the job stands."""
    started = time.monotonic()
    while (current := records.status(job_id)) != status:
        if current in ("successful", "failed", "dismissed"):
            pytest.fail(f"job {job_id} ended {current!r}, not {status!r}: {records.get(job_id)}")
        if time.monotonic() - started > timeout_s:
            pytest.fail(
                f"job {job_id} is still {current!r} after {timeout_s:g} s, not {status!r}: {records.get(job_id)}"
            )
        time.sleep(0.05)
    return time.monotonic() - started


def test_jobs_beyond_max_jobs_wait_and_keep_their_heartbeat(sqlite_records: JobRecords) -> None:
    executor = InProcessExecutor(sqlite_records, Heartbeat(sqlite_records, 0.2), max_jobs=1)
    jobs = [submit(executor, sqlite_records, 0.8) for _ in range(3)]
    most_running = 0
    started = time.monotonic()
    while {"accepted", "running"} & set(statuses := [sqlite_records.status(job) for job in jobs]):
        assert time.monotonic() - started < END_S, f"three 0.8 s jobs not done after {END_S:g} s: {statuses}"
        most_running = max(most_running, statuses.count("running"))
        assert not sqlite_records.fail_stale(0.6), "queued or running jobs must keep beating"
        time.sleep(0.05)
    assert most_running == 1
    results = [decode(*sqlite_records.result(job)) for job in jobs]
    assert all(before["ended"] <= after["started"] for before, after in itertools.pairwise(results))


def test_cancel_stops_the_running_job_and_the_queued_one_never_starts(sqlite_records: JobRecords) -> None:
    executor = InProcessExecutor(sqlite_records, Heartbeat(sqlite_records, 0.2), max_jobs=1)
    long, queued, after = (submit(executor, sqlite_records, seconds) for seconds in (60, 0.2, 0.2))
    wait_for_status(sqlite_records, long, "running", START_S)
    sqlite_records.dismiss(queued)
    sqlite_records.dismiss(long)
    executor.cancel(long)
    took = wait_for_status(sqlite_records, after, "successful", END_S)
    assert took < 5, f"the freed thread took {took:.1f} s to run the next job"
    assert sqlite_records.status(long) == sqlite_records.status(queued) == "dismissed"
    assert sqlite_records.get(queued)["started"] == sqlite_records.get(queued)["created"], "never started"


def test_a_failing_process_ends_its_job_failed_with_the_error(sqlite_records: JobRecords) -> None:
    executor = InProcessExecutor(sqlite_records, Heartbeat(sqlite_records, 0.2), max_jobs=1)
    job_id = new_job(sqlite_records, request={"inputs": {}})
    executor.submit(job_id, "slow", SlowProcessor({"name": "tests.jobs.slow.SlowProcessor"}))
    wait_for_status(sqlite_records, job_id, "failed", END_S)
    # a KeyError is no error of ours: the client is told where the log has it, never the library's text
    assert sqlite_records.get(job_id)["message"] == f"NoApplicableCode: internal error, see the log for job {job_id}"


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://127.0.0.1:8080/done", "loopback"),
        ("http://localhost/done", "loopback"),
        ("http://10.1.2.3/done", "private"),
        ("http://169.254.169.254/latest", "link-local"),
        ("http://[::1]/done", "loopback"),
        ("http://no-such-host.invalid/done", "does not resolve"),
        ("file:///etc/passwd", "not an absolute http(s) URL"),
    ],
)
def test_callbacks_to_the_servers_own_network_are_refused(url: str, reason: str) -> None:
    refusal = callbacks.refusal(url)
    assert refusal and (reason in refusal or "private, loopback or link-local" in refusal), refusal
    if reason != "not an absolute http(s) URL":
        assert callbacks.refusal(url, allow_internal=True) is None
