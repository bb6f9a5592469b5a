"""Load test of the scaled-out server: concurrent clients on every web replica at once, reading items and executing
processes (sync and async), for a fixed time; no request may fail and no job may end failed.

    python -m deploy.load                                  # 2 replicas × 100 connections for 60 s (200 clients)
    python -m deploy.load --connections 10 --duration 10   # the bounded run the tests make

It starts the local topology (deploy/topology.py: PostGIS job records, Redis, two gunicorn replicas, two Celery
workers) on a feature store (default ``data/ocsge.gpkg``, made by ``make demo-data``), then runs one ``wrk`` per
replica with ``bench/rotate.lua``. Status errors are answers of 400 and above; wrk's timeout is 60 s, so a slow
answer under load is a slow answer, not an error.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from deploy.services import ROOT
from deploy.topology import Topology

SCRIPT = ROOT / "bench" / "rotate.lua"
#: Of every 20 requests: 16 item reads, 2 sync executions, 1 async execution, 1 job list.
ITEM_SHARE, SYNC_SHARE, ASYNC_SHARE = 16, 2, 1


@dataclass
class Load:
    """What one run gave, over all replicas."""

    requests: int
    seconds: float
    p50_ms: float
    p95_ms: float
    errors: int
    jobs: int
    failed_jobs: int

    def summary(self) -> str:
        return (
            f"LOAD_RESULT requests={self.requests} rps={self.requests / self.seconds:.1f} "
            f"p50_ms={self.p50_ms:.0f} p95_ms={self.p95_ms:.0f} errors={self.errors} "
            f"jobs={self.jobs} failed_jobs={self.failed_jobs}"
        )


def request_mix(server: str, seed: int = 0) -> list[str]:
    """Lines for bench/rotate.lua: items of every kind over the data the server holds, and process executions."""
    rng = random.Random(seed)
    communes = [
        f["properties"]
        for f in _get(server, "/collections/artificialisation-communes/items?f=json&skipGeometry=true&limit=100")[
            "features"
        ]
    ]
    bbox = _get(server, "/collections/ocsge-occupation-sol?f=json")["extent"]["spatial"]["bbox"][0]
    items = []
    for n in range(ITEM_SHARE):
        width = rng.uniform(0.002, 0.02)
        x, y = rng.uniform(bbox[0], bbox[2] - width), rng.uniform(bbox[1], bbox[3] - width)
        box = f"{x:.5f},{y:.5f},{x + width:.5f},{y + width:.5f}"
        commune = rng.choice(communes)
        items.append(
            [
                f"/collections/ocsge-occupation-sol/items?f=json&limit=100&bbox={box}",
                f"/collections/ocsge-occupation-sol/items?f=json&limit=200&bbox={box}"
                f"&filter={quote("code_us IN ('US2','US3')")}",
                f"/collections/ocsge-difference/items?f=json&limit=100&bbox={box}",
                f"/collections/ocsge-difference/items?f=json&limit=100&offset={rng.randrange(0, 500)}"
                f"&filter={quote("code_cs_apres='CS1.1.1.1'")}",
                f"/collections/communes/items?f=json&code_insee={commune['code_insee']}",
                "/collections/artificialisation-communes/items?f=json&limit=20",
                f"/collections/ocsge-zone-construite/items?f=json&limit=50&bbox={box}",
                f"/collections/ocsge-occupation-sol/items?f=json&limit=50&bbox={box}"
                "&crs=http://www.opengis.net/def/crs/EPSG/0/2154",
            ][n % 8]
        )
    lines = [f"GET\t{path}\t\t" for path in items]
    for share, prefer in ((SYNC_SHARE, ""), (ASYNC_SHARE, "respond-async")):
        for _ in range(share):
            commune = rng.choice(communes)
            body = {
                "inputs": {
                    "territoire": {"communes": [commune["code_insee"]]},
                    "millesimes": [commune["millesime_avant"], commune["millesime_apres"]],
                }
            }
            lines.append(f"POST\t/processes/artificialisation/execution\t{prefer}\t{json.dumps(body)}")
    lines.append("GET\t/jobs?f=json&limit=50\t\t")
    rng.shuffle(lines)
    return lines


def run_load(urls: list[str], connections: int, seconds: int, folder: Path) -> Load:
    """One wrk per replica at once, ``connections`` each, for ``seconds``; then every async job must end well."""
    if not shutil.which("wrk"):
        raise RuntimeError("wrk not found: apt-get install wrk")
    folder.mkdir(parents=True, exist_ok=True)
    mix = folder / "requests.tsv"
    mix.write_text("\n".join(request_mix(urls[0])) + "\n", encoding="utf-8")
    before = _jobs(urls[0])
    runs = [
        subprocess.Popen(
            [
                "wrk",
                "-t2",
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "60s",
                "-s",
                str(SCRIPT),
                url,
                "--",
                str(mix),
            ],
            stdout=subprocess.PIPE,
            text=True,
        )
        for url in urls
    ]
    results = []
    for proc in runs:
        out = proc.communicate()[0]
        line = next((line for line in out.splitlines() if line.startswith("WRK_RESULT")), None)
        if line is None:
            raise RuntimeError(f"wrk gave no result:\n{out[-2000:]}")
        results.append({k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)})
    new_jobs = _wait_jobs(urls[0], before)
    done = sum(r["requests"] for r in results)
    return Load(
        requests=done,
        seconds=max(r["duration_us"] for r in results) / 1e6,
        p50_ms=max(r["p50_us"] for r in results) / 1000,
        p95_ms=max(r["p95_us"] for r in results) / 1000,
        errors=sum(
            r[k]
            for r in results
            for k in ("status_errors", "timeouts", "connect_errors", "read_errors", "write_errors")
        ),
        jobs=len(new_jobs),
        failed_jobs=sum(1 for status in new_jobs.values() if status != "successful"),
    )


def _wait_jobs(server: str, before: dict[str, str], timeout_s: float = 600) -> dict[str, str]:
    """The status of every job made during the run (sync executions are recorded too), once none is waiting or
    running (or at the deadline)."""
    deadline = time.monotonic() + timeout_s
    while True:
        jobs = {k: v for k, v in _jobs(server).items() if k not in before}
        if all(status not in ("accepted", "running") for status in jobs.values()) or time.monotonic() > deadline:
            return jobs
        time.sleep(1)


def _jobs(server: str) -> dict[str, str]:
    document = _get(server, "/jobs?f=json&limit=10000")
    return {job["jobID"]: job["status"] for job in document["jobs"]}


def _get(server: str, path: str) -> dict:
    with urllib.request.urlopen(server + path, timeout=120) as response:
        return json.load(response)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default=str(ROOT / "data" / "ocsge.gpkg"))
    parser.add_argument("--connections", type=int, default=100, help="per replica")
    parser.add_argument("--duration", type=int, default=60, help="seconds")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    folder = Path(tempfile.mkdtemp(prefix="ocsge-load-"))
    topology = Topology(folder, Path(sys.executable).parent, args.store, args.replicas, args.workers)
    try:
        topology.start()
        result = run_load(topology.urls, args.connections, args.duration, folder)
    finally:
        topology.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(f"{args.replicas} replicas × {args.connections} connections, {args.duration} s, {args.workers} workers")
    print(result.summary())
    sys.exit(1 if result.errors or result.failed_jobs else 0)


if __name__ == "__main__":
    main()
