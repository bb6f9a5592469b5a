"""Celery workers killed at random points lose no job: every job ends `successful`, or `failed` with the reason,
within a bound derived from the settings once a worker is up.

The kill points are drawn from a seed printed at the start; ``OCSGE_KILL_SEED=<seed>`` replays a run.
"""

from __future__ import annotations

import os
import random
import signal
import threading
import time
from datetime import datetime
from pathlib import Path

import pytest

from deploy.topology import Topology
from ocsge_processes.jobs.records import open_records

from .. import services
from .conftest import alive, new_job, running, status, submit, topology_on, worker_index

pytestmark = pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
STALE_S = 3.0
#: The workers' sweep period (``JobSettings.heartbeat_s``: a quarter of ``stale_after_s``).
HEARTBEAT_S = STALE_S / 4
#: Longest `slow` job of the random rounds.
JOB_S = 1.0
#: Margin for a loaded 2-core CI machine, where a pool process may wait seconds for a core before it takes the job
#: and writes its record (measured at load average 8-17: every job ended within 5.5 s, the bound without it).
LOAD_S = 6.0
#: Seconds within which every job ends once a worker is up: an idle worker sends a lost message again after
#: STALE_S without receiving anything (noticed at its next sweep, HEARTBEAT_S later), and a killed worker's running
#: job fails STALE_S after its last heartbeat (at most HEARTBEAT_S before the kill); then the job runs for JOB_S.
BOUND_S = STALE_S + 2 * HEARTBEAT_S + JOB_S + LOAD_S
ROUNDS = 20
KILL_POINTS = ("before pickup", "while running", "while idle", "during restart")
TERMINAL = ("successful", "failed")


@pytest.fixture(scope="module")
def topology(store_url: str) -> Topology:
    with topology_on(store_url, replicas=1, stale_after_s=STALE_S) as topology:
        yield topology


def start_missing_workers(topology: Topology) -> None:
    for index, proc in enumerate(topology.workers):
        if proc is None or proc.poll() is not None:
            topology.start_worker(index)


def broker_sockets(pid: int, port: int) -> set[str]:
    """The sockets of process ``pid`` connected to ``port`` on this machine (``socket:[inode]``), from /proc."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[2].rsplit(":", 1)[1], 16) == port:
                inodes.add(f"socket:[{fields[9]}]")
    held = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            held.add(os.readlink(fd))
        except OSError:  # closed meanwhile
            continue
    return held & inodes


def pool_processes(worker_pid: int) -> list[int]:
    return [int(pid) for pid in Path(f"/proc/{worker_pid}/task/{worker_pid}/children").read_text().split()]


def replace_pool_process(topology: Topology, url: str) -> tuple[int, int]:
    """Kill the pool process of a running job, so that its worker forks a new one while connected to Redis;
    return (worker index, new pool process)."""
    job_id = submit(url, "slow", {"seconds": 60})
    pid, worker = running(url, job_id)
    os.kill(pid, signal.SIGKILL)
    services.wait_until(lambda: status(url, job_id)["status"] == "failed", STALE_S + 5)
    services.wait_until(lambda: [p for p in pool_processes(worker) if p != pid], 10)
    return worker_index(topology, worker), pool_processes(worker)[0]


def test_a_new_pool_process_holds_none_of_its_workers_broker_connections(topology: Topology) -> None:
    """The cause of lost jobs: a forked pool process kept the worker's BRPOP socket open after the worker died."""
    start_missing_workers(topology)
    index, child = replace_pool_process(topology, topology.urls[0])
    port = int(topology.broker.rsplit(":", 1)[1].split("/")[0])
    assert broker_sockets(topology.workers[index].pid, port), "the worker itself is connected to Redis"
    # The pool process drops its copies in worker_process_init, once it gets a core after the fork: on a loaded
    # machine the fork is visible before that (CI, 2026-12-06, read the six copies still open). Without the fix the
    # copies stay open for the process's whole life, so waiting a bounded time still tells the two apart.
    took = services.wait_until(lambda: broker_sockets(child, port) == set(), LOAD_S)
    print(f"the new pool process held no broker socket {took:.2f} s after it was seen")
    assert alive(child)


def test_a_job_queued_just_after_a_workers_main_process_died_is_not_lost(topology: Topology) -> None:
    """The main process dies alone (as when the OOM killer picks it) and its idle pool process notices only about
    a second later: meanwhile Redis must not hand the next message to the dead worker's pending BRPOP.

    Before the fix, the job queued here was lost every time (4 runs in 4): the new pool process held the BRPOP
    socket open, Redis popped the message into it, and the job stayed ``accepted`` after a worker came back."""
    url = topology.urls[0]
    start_missing_workers(topology)
    index, child = replace_pool_process(topology, url)
    topology.kill_worker(1 - index)
    time.sleep(1.5)  # the worker is idle, its BRPOP pending (renewed every second)
    os.kill(topology.workers[index].pid, signal.SIGKILL)
    topology.workers[index].wait(10)
    job_id = submit(url, "slow", {"seconds": 0.2})
    services.wait_until(lambda: not alive(child), 10)  # it exits on its own once its pipe from the worker closes
    assert status(url, job_id)["status"] == "accepted"
    topology.start_worker(index)
    took = services.wait_until(lambda: status(url, job_id)["status"] != "accepted", BOUND_S)
    print(f"queued job started {took:.1f} s after a worker was up")
    assert services.wait_for_job(url, job_id, BOUND_S)["status"] == "successful"
    # Taken from the queue, not sent again by the lost-job recovery (which would log it, STALE_S later).
    logs = "".join(path.read_text(errors="replace") for path in topology.folder.glob("worker*.log"))
    assert f"job {job_id} accepted" not in logs and took < STALE_S
    topology.start_worker(1 - index)


def test_an_accepted_job_whose_message_never_reached_the_broker_is_run_by_an_idle_worker(topology: Topology) -> None:
    """As when a web process dies between recording a job and queuing it, or a message is lost in flight."""
    start_missing_workers(topology)
    records = open_records(topology.jobs_url)
    job_id = new_job(records, "slow", {"inputs": {"seconds": 0.2}})
    took = services.wait_until(lambda: records.status(job_id) == "successful", BOUND_S)
    print(f"job with no message run {took:.1f} s after it was recorded")
    assert took >= STALE_S, "sent again only once idle workers have received nothing for stale_after_s"


class Workers:
    """Kills workers and restarts them in the background, remembering when each was last ready."""

    def __init__(self, topology: Topology) -> None:
        self.topology = topology
        self.ready_at: dict[int, float | None] = {index: time.time() for index in range(len(topology.workers))}
        self.starting: dict[int, threading.Thread] = {}

    def up(self) -> list[int]:
        """The workers that said ready and are alive."""
        return [
            index
            for index, ready in self.ready_at.items()
            if ready is not None and self.topology.workers[index].poll() is None
        ]

    def kill(self, index: int) -> None:
        self.ready_at[index] = None
        self.topology.kill_worker(index)

    def restart(self, index: int) -> None:
        """Start worker ``index`` in the background; return once its process exists (not yet ready)."""
        if index in self.starting:
            self.starting.pop(index).join()
        self.ready_at[index] = None
        before = self.topology.workers[index]
        self.starting[index] = threading.Thread(target=self._start, args=(index,))
        self.starting[index].start()
        services.wait_until(lambda: self.topology.workers[index] is not before, 30)

    def _start(self, index: int) -> None:
        try:
            self.topology.start_worker(index)
        except RuntimeError:  # killed before it said ready: a kill point of the test
            return
        self.ready_at[index] = time.time()

    def up_since(self, moment: float) -> float:
        """When a worker was first up at or after ``moment`` (epoch seconds), waiting for one if need be."""
        services.wait_until(lambda: self.up(), 120)
        return max(moment, min(self.ready_at[index] for index in self.up()))

    def join(self) -> None:
        for thread in self.starting.values():
            thread.join()
        self.starting.clear()


def one_round(topology: Topology, workers: Workers, point: str, rng: random.Random) -> tuple[list[str], float]:
    """Kill at ``point`` (killed workers restart in the background); return the round's jobs and the moment of
    its last kill (epoch seconds, the clock of the job records' timestamps)."""
    url = topology.urls[0]
    services.wait_until(lambda: workers.up(), 120)
    victim = rng.choice(workers.up())
    jobs = []
    if point == "before pickup":
        jobs.append(submit(url, "slow", {"seconds": rng.uniform(0.1, JOB_S)}))
        time.sleep(rng.uniform(0, 0.3))
        workers.kill(victim)
    elif point == "while running":
        job_id = submit(url, "slow", {"seconds": 30})
        jobs.append(job_id)
        victim = worker_index(topology, running(url, job_id)[1])
        time.sleep(rng.uniform(0, 1))
        workers.kill(victim)
    elif point == "while idle":  # every worker up: jobs wait in Redis for the ones still starting, if any
        for index in workers.up():
            workers.kill(index)
        jobs += [submit(url, "slow", {"seconds": rng.uniform(0.1, JOB_S)}) for _ in range(2)]
    else:  # during restart: killed again while starting, or just after it said ready
        jobs.append(submit(url, "slow", {"seconds": rng.uniform(0.1, JOB_S)}))
        workers.kill(victim)
        workers.restart(victim)
        time.sleep(rng.uniform(0, 4))
        workers.kill(victim)
    killed_at = time.time()
    for index, proc in enumerate(topology.workers):
        if proc.poll() is not None:
            workers.restart(index)
    return jobs, killed_at


def test_workers_killed_at_random_points_lose_no_job(topology: Topology) -> None:
    seed = int(os.environ.get("OCSGE_KILL_SEED") or random.randrange(2**32))
    print(f"\nOCSGE_KILL_SEED={seed}")
    rng = random.Random(seed)
    start_missing_workers(topology)
    workers = Workers(topology)
    url = topology.urls[0]
    counts = {"successful": 0, "failed": 0}
    worst = 0.0
    started = time.monotonic()
    try:
        for number in range(ROUNDS):
            point = rng.choice(KILL_POINTS)
            jobs, killed_at = one_round(topology, workers, point, rng)
            up_at = workers.up_since(killed_at)
            for job_id in jobs:
                services.wait_until(
                    lambda job_id=job_id: status(url, job_id)["status"] in TERMINAL,
                    max(workers.up_since(killed_at) + BOUND_S - time.time(), 0.1),
                )
                document = status(url, job_id)
                up_at = workers.up_since(killed_at)
                ended = datetime.fromisoformat(document["finished"]).timestamp() - up_at
                print(
                    f"round {number} ({point}): job {document['status']} {ended:.1f} s after a worker was up"
                    + (f": {document['message']}" if document["status"] == "failed" else "")
                )
                assert document["status"] == "successful" or document["message"].startswith("worker lost"), document
                assert ended <= BOUND_S, document
                counts[document["status"]] += 1
                worst = max(worst, ended)
    finally:
        workers.join()
    logs = "".join(path.read_text(errors="replace") for path in topology.folder.glob("worker*.log"))
    print(
        f"{ROUNDS} rounds in {time.monotonic() - started:.0f} s: {counts}, every job ended within {worst:.1f} s "
        f"of a worker being up (bound {BOUND_S:.1f} s); lost messages sent again: {logs.count('queued again')}"
    )
