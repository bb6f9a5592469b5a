"""The scaled-out server as plain processes on one machine: PostgreSQL + PostGIS, Redis, web replicas, Celery workers.

The same topology as ``deploy/compose.yaml``, from Debian's packages and the virtualenv, for machines without
Docker and for the integration tests (``tests/jobs``)::

    python -m deploy.topology up --store data/ocsge.gpkg --replicas 2 --workers 2   # Ctrl-C stops everything
    python -m deploy.topology up --folder build/topology                            # feature store: its PostGIS

Job records live in the PostGIS cluster (database ``ocsge_jobs``), jobs go through Redis to the workers, and every
replica and worker reads the same feature store. Each replica gets its own runtime configuration (its own URL in
links); workers read the first one.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import yaml

from deploy.services import (
    ROOT,
    config_command,
    free_port,
    in_venv,
    start_postgis,
    start_redis,
    stop_postgis,
    stop_process,
    wait_for_server,
    web_command,
    worker_command,
)

JOBS_DATABASE = "ocsge_jobs"


class Topology:
    """Start, stop, restart and kill the parts of the local topology; state and logs stay in ``folder``."""

    def __init__(
        self,
        folder: Path,
        bin_dir: Path,
        store: str | None = None,
        replicas: int = 2,
        workers: int = 2,
        stale_after_s: float = 60,
        resources: dict | None = None,
        env: dict[str, str] | None = None,
    ) -> None:
        self.folder = Path(folder).resolve()
        self.bin_dir = bin_dir
        self.store = store
        self.stale_after_s = stale_after_s
        self.resources = resources or {}
        self.extra_env = env or {}
        self.ports = [free_port() for _ in range(replicas)]
        self.web: list[subprocess.Popen | None] = [None] * replicas
        self.workers: list[subprocess.Popen | None] = [None] * workers
        self.redis: subprocess.Popen | None = None
        self.postgres_url = ""
        self.jobs_url = ""
        self.broker = ""

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def start(self) -> Topology:
        """Everything, in dependency order; returns once every replica answers and every worker is ready."""
        self.folder.mkdir(parents=True, exist_ok=True)
        self.folder.chmod(0o755)  # PostgreSQL runs as its own user and must reach its data folder inside
        self.postgres_url = start_postgis(self.folder / "postgres", free_port())
        self.jobs_url = _database(self.postgres_url, JOBS_DATABASE)
        self.store = self.store or self.postgres_url
        redis_port = free_port()
        self.redis = start_redis(redis_port, self.folder / "redis.log")
        self.broker = f"redis://127.0.0.1:{redis_port}/0"
        for index in range(len(self.ports)):
            self._write_config(index)
        for index in range(len(self.ports)):
            self.start_web(index)
        for index in range(len(self.workers)):
            self.start_worker(index)
        return self

    def env(self, index: int = 0) -> dict[str, str]:
        """The environment of replica ``index`` (workers take replica 0's)."""
        folder = self.folder / f"web{index}"
        return {
            **os.environ,
            "OCSGE_URL": self.urls[index],
            "PYGEOAPI_CONFIG": str(folder / "pygeoapi-config.yml"),
            "PYGEOAPI_OPENAPI": str(folder / "openapi.yml"),
            "OCSGE_JOBS": self.jobs_url,
            "OCSGE_EXECUTOR": "celery",
            "OCSGE_BROKER": self.broker,
            "OCSGE_JOBS_STALE_S": str(self.stale_after_s),
            **self.extra_env,
        }

    def _write_config(self, index: int) -> None:
        env = self.env(index)
        config, openapi = Path(env["PYGEOAPI_CONFIG"]), Path(env["PYGEOAPI_OPENAPI"])
        command = config_command(self.store, ROOT / "pygeoapi-config.yml", config, openapi)
        _run(in_venv(command, self.bin_dir), env, self.folder / "config.log")
        if self.resources:  # extra processes (the tests' `slow`): into the config and its OpenAPI document
            from ocsge_processes.server.config import write_config, write_openapi

            runtime = yaml.safe_load(config.read_text(encoding="utf-8"))
            runtime["resources"].update(self.resources)
            write_config(runtime, config)
            write_openapi(runtime, openapi)

    def start_web(self, index: int) -> None:
        """Replica ``index``: gunicorn with two workers, returning once it answers."""
        log = self.folder / f"web{index}.log"
        command = web_command(f"127.0.0.1:{self.ports[index]}")
        self.web[index] = _spawn(in_venv(command, self.bin_dir), self.env(index), log)
        wait_for_server(self.urls[index], self.web[index], log)

    def stop_web(self, index: int) -> None:
        stop_process(self.web[index])

    def start_worker(self, index: int, queues: str = "gpu,cpu") -> None:
        """Worker ``index`` (one job at a time), returning once Celery says it is ready."""
        log = self.folder / f"worker{index}.log"
        mark = log.stat().st_size if log.exists() else 0
        command = [*worker_command(f"w{index}", queues), "--loglevel", "INFO"]
        proc = self.workers[index] = _spawn(in_venv(command, self.bin_dir), self.env(0), log)
        deadline = time.monotonic() + 90
        while " ready." not in log.read_text(errors="replace")[mark:]:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"celery worker {index} did not start:\n{log.read_text()[mark:][-3000:]}")
            time.sleep(0.2)

    def kill_worker(self, index: int) -> None:
        """SIGKILL worker ``index`` and its pool processes at once, as when its machine dies."""
        proc = self.workers[index]
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(10)

    def stop(self) -> None:
        """Everything, workers first; the PostgreSQL data stays in the folder."""
        for index in range(len(self.workers)):
            self.kill_worker(index)
        for proc in self.web:
            stop_process(proc)
        stop_process(self.redis)
        if self.postgres_url:
            stop_postgis(self.folder / "postgres")


def _database(server_url: str, name: str) -> str:
    """The URL of database ``name`` on the server, created when missing."""
    with psycopg.connect(server_url, autocommit=True) as connection:
        if not connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            connection.execute(f'CREATE DATABASE "{name}"')
    return server_url.rsplit("/", 1)[0] + f"/{name}"


def _spawn(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    """A process in its own session (so that a kill reaches its children), output appended to ``log``."""
    with log.open("ab") as out:
        return subprocess.Popen(
            command, env=env, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _run(command: list[str], env: dict[str, str], log: Path) -> None:
    result = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True)
    log.write_text(result.stdout + result.stderr)
    if result.returncode:
        raise RuntimeError(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.topology", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up"])
    parser.add_argument("--folder", type=Path, default=ROOT / "build" / "topology")
    parser.add_argument("--store", help="feature store (GeoPackage path or postgresql:// URL); default: the PostGIS")
    parser.add_argument("--replicas", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args(argv)
    topology = Topology(args.folder, Path(sys.executable).parent, args.store, args.replicas, args.workers)
    stop_signals = {signal.SIGINT, signal.SIGTERM}
    try:
        topology.start()
        signal.pthread_sigmask(signal.SIG_BLOCK, stop_signals)  # after the spawns: children must not inherit it
        print(
            f"replicas: {' '.join(topology.urls)}\njobs: {topology.jobs_url}\nbroker: {topology.broker}\n"
            f"logs: {topology.folder}\nCtrl-C stops everything.",
            flush=True,
        )
        signal.sigwait(stop_signals)
    finally:
        topology.stop()


if __name__ == "__main__":
    main()
