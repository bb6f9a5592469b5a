"""One run at a time per département: two real processes running the same key of a batch at the same moment on
either store, only one computes it; a crashed run's lease lapses and the next run takes the key over, while a live
run's lease does not lapse (it is renewed at each heartbeat)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from ocsge_processes.jobs.fanout import DONE, FAILED
from ocsge_processes.jobs.lease import Lease, LeaseTakenError, lease_scope
from ocsge_processes.stores import open_store

from ..conftest import ROOT
from .conftest import fresh_database

#: Heartbeat of the runs: their lease lasts four beats (4 s), so a lapse is waited for in seconds.
BEAT_S = 1.0
KEY = "33"

#: One run of the batch ``scope`` for KEY, started when the file ``go`` appears; its work notes its start and end
#: in ``log`` and holds the key ``hold`` seconds. Prints the run's end state.
RUN = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from ocsge_processes.jobs.fanout import run_key

    url, scope, log, go, hold = sys.argv[1:6]

    def work(store, key, options, progress):
        with open(log, "a") as out:
            out.write(f"start {os.getpid()}\\n")
        time.sleep(float(hold))
        with open(log, "a") as out:
            out.write(f"end {os.getpid()}\\n")
        return "held"

    while not Path(go).exists():
        time.sleep(0.005)
    state = run_key(url, scope, sys.argv[6], f"run-{os.getpid()}", {}, float(sys.argv[7]), work)
    print(json.dumps({"state": state.state, "message": state.message}))
    """
)


@pytest.fixture(params=["gpkg", "postgis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A store of each kind whose notes' table exists, as the batch's sender makes it (it notes every key queued
    before any task runs): PostgreSQL's CREATE TABLE IF NOT EXISTS fails against a concurrent one."""
    url = (
        str(tmp_path / "lease.gpkg")
        if request.param == "gpkg"
        else fresh_database(request.getfixturevalue("postgis_url"))
    )
    open_store(url).set_mark("lease-test", "created", "")
    return url


def start(url: str, scope: str, folder: Path, hold: float, go: Path) -> subprocess.Popen[str]:
    """A run in its own process, which starts once ``go`` exists."""
    return subprocess.Popen(
        [sys.executable, "-c", RUN, url, scope, str(folder / "log"), str(go), str(hold), KEY, str(BEAT_S)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )


def ended(process: subprocess.Popen[str]) -> dict[str, str]:
    out, _ = process.communicate(timeout=60)
    assert process.returncode == 0
    result: dict[str, str] = json.loads(out.strip().splitlines()[-1])
    return result


def test_two_runs_at_once_compute_the_key_once(store: str, tmp_path: Path) -> None:
    scope = f"lease-{uuid.uuid4().hex[:8]}"
    go = tmp_path / "go"
    runs = [start(store, scope, tmp_path, 2.0, go) for _ in range(2)]
    time.sleep(1.0)  # both are up and polling for the start signal (imports done)
    go.touch()
    states = sorted((ended(run) for run in runs), key=lambda r: r["state"])
    assert [s["state"] for s in states] == [DONE, FAILED]
    assert "another run" in states[1]["message"]
    assert len((tmp_path / "log").read_text().splitlines()) == 2  # one start, one end: computed once
    assert open_store(store).marks(lease_scope(scope)) == {}  # released when the run ended


def test_a_crashed_runs_lease_lapses_and_a_live_runs_does_not(store: str, tmp_path: Path) -> None:
    scope = f"lease-{uuid.uuid4().hex[:8]}"
    go = tmp_path / "go"
    go.touch()
    log = tmp_path / "log"
    holder = start(store, scope, tmp_path, 120.0, go)
    deadline = time.monotonic() + 60
    while not (log.exists() and "start" in log.read_text()):
        assert time.monotonic() < deadline and holder.poll() is None
        time.sleep(0.05)
    time.sleep(4 * BEAT_S * 1.5)  # past the lease's first term: the live holder renewed it
    second = ended(start(store, scope, tmp_path, 0.0, go))
    assert second["state"] == FAILED and "being computed by another run" in second["message"]

    holder.send_signal(signal.SIGKILL)
    holder.wait()
    note = json.loads(open_store(store).marks(lease_scope(scope))[KEY])
    asked = time.time()
    with pytest.raises(LeaseTakenError, match="being computed by another run"):
        Lease(open_store(store), scope, KEY, 60).take()  # in this process: asked before the dead run's lease lapses
    assert asked < note["until"]
    time.sleep(max(0.0, note["until"] - time.time()) + 0.1)
    assert ended(start(store, scope, tmp_path, 0.0, go))["state"] == DONE  # taken over
    assert log.read_text().count("start") == 2


def test_a_lease_is_renewed_only_by_its_holder(store: str) -> None:
    scope = f"lease-{uuid.uuid4().hex[:8]}"
    first, second = Lease(open_store(store), scope, KEY, 0.2), Lease(open_store(store), scope, KEY, 60)
    first.take()
    time.sleep(0.3)
    second.take()  # the first lapsed
    assert not first.renew()  # lost: its holder learns it at the next heartbeat
    first.release()  # and cannot free the new holder's key
    assert json.loads(open_store(store).marks(lease_scope(scope))[KEY])["holder"] == second.holder
    assert second.renew()
    second.release()
    assert open_store(store).marks(lease_scope(scope)) == {}
