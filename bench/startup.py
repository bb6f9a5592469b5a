"""Start-up cost of a web worker and of ``ocsge config`` (issue 12, item 4: nothing heavy at import or start-up).

One command: ``.venv/bin/python bench/startup.py [--store data/ocsge.gpkg] [--repeats 3] [--name startup]``.

For each repeat: ``ocsge config`` on the store under ``/usr/bin/time -v`` (wall time, maximum RSS), then one
gunicorn replica with one worker on that configuration: seconds from the start of gunicorn to the first answer of
``GET /processes``, the worker's RSS after it and after ``GET /collections``, and whether the worker has torch's
shared library mapped (``/proc/<pid>/maps``). Prints medians; writes bench/results/<name>-<date>.md and .json.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import host, say, write_results  # noqa: E402

from deploy.services import (  # noqa: E402
    LOOPBACK_ONLY,
    config_command,
    free_port,
    in_venv,
    stop_process,
    web_command,
)

BIN = ROOT / ".venv" / "bin"


def config_cost(store: str, folder: Path) -> tuple[float, float]:
    """Wall seconds and maximum RSS (MiB) of ``ocsge config`` on ``store``."""
    command = in_venv(
        config_command(store, ROOT / "pygeoapi-config.yml", folder / "config.yml", folder / "openapi.yml"), BIN
    )
    done = subprocess.run(["/usr/bin/time", "-v", *command], capture_output=True, text=True, check=True, cwd=ROOT)
    wall = re.search(r"Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)", done.stderr)
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    if wall is None or rss is None:
        raise RuntimeError(f"no figures from /usr/bin/time:\n{done.stderr[-2000:]}")
    seconds = int(wall[1] or 0) * 3600 + int(wall[2]) * 60 + float(wall[3])
    return seconds, int(rss[1]) / 1024


def worker_pids(arbiter: int) -> list[int]:
    """The gunicorn workers: the arbiter's children."""
    children = Path(f"/proc/{arbiter}/task/{arbiter}/children")
    return [int(pid) for pid in children.read_text().split()] if children.exists() else []


def rss_mib(pid: int) -> float:
    match = re.search(r"VmRSS:\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text())
    return int(match[1]) / 1024 if match else float("nan")


def has_torch(pid: int) -> bool:
    """Whether torch's C++ library is mapped in ``pid`` (what importing torch does, whoever imports it)."""
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


def first_answer(url: str, proc: subprocess.Popen[bytes], timeout_s: float = 300) -> None:
    """Return once ``url`` answers 200."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("gunicorn exited")
        try:
            with urllib.request.urlopen(url, timeout=120) as response:
                response.read()
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            time.sleep(0.05)
    raise RuntimeError(f"{url} did not answer in {timeout_s} s")


def worker_cost(folder: Path) -> dict[str, float | bool]:
    """One gunicorn replica with one worker on ``folder``'s configuration: start-up time, RSS, torch mapped."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        **LOOPBACK_ONLY,
        "OCSGE_URL": url,
        "PYGEOAPI_CONFIG": str(folder / "config.yml"),
        "PYGEOAPI_OPENAPI": str(folder / "openapi.yml"),
        "OCSGE_JOBS": str(folder / "jobs.sqlite"),
        "OCSGE_OUTPUTS": str(folder / "outputs"),
    }
    with (folder / "gunicorn.log").open("w") as log:
        start = time.perf_counter()
        proc = subprocess.Popen(
            in_venv(web_command(f"127.0.0.1:{port}", workers=1), BIN), env=env, cwd=ROOT, stdout=log, stderr=log
        )
        try:
            first_answer(f"{url}/processes?f=json", proc)
            seconds = time.perf_counter() - start
            (worker,) = worker_pids(proc.pid)
            after_processes = rss_mib(worker)
            torch_after_processes = has_torch(worker)
            first_answer(f"{url}/collections?f=json", proc)
            return {
                "first_processes_s": seconds,
                "rss_after_processes_mib": after_processes,
                "rss_after_collections_mib": rss_mib(worker),
                "torch_after_processes": torch_after_processes,
                "torch_after_collections": has_torch(worker),
            }
        finally:
            stop_process(proc)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--store", default=str(ROOT / "data" / "ocsge.gpkg"))
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--name", default="startup", help="Results file stem (e.g. startup-before).")
    args = parser.parse_args()
    runs = []
    for repeat in range(args.repeats):
        with tempfile.TemporaryDirectory() as tmp:
            folder = Path(tmp)
            config_s, config_mib = config_cost(args.store, folder)
            run = {"config_s": config_s, "config_max_rss_mib": config_mib, **worker_cost(folder)}
            say(f"run {repeat + 1}: {run}")
            runs.append(run)
    numbers = [key for key, value in runs[0].items() if not isinstance(value, bool)]
    medians = {key: round(statistics.median(float(run[key]) for run in runs), 2) for key in numbers}
    flags = {key: [run[key] for run in runs] for key in runs[0] if key not in numbers}
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, cwd=ROOT)
    report = {"host": host(), "commit": commit.stdout.strip(), "store": args.store, "runs": runs, "median": medians}
    lines = [
        f"# Start-up cost ({args.name}, commit {report['commit']}, {args.repeats} runs, medians)",
        "",
        "| figure | median |",
        "|---|---|",
        *(f"| {key} | {value} |" for key, value in medians.items()),
        *(f"| {key} | {value} |" for key, value in flags.items()),
        "",
    ]
    text = "\n".join(lines)
    print(text)
    write_results(args.name, {**report, "torch": flags}, text)


if __name__ == "__main__":
    main()
