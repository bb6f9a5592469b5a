"""One web replica (gunicorn, 2 workers) and one Celery worker on real Redis and PostgreSQL, each restartable."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import yaml

from ocsge_processes.server.config import write_openapi

from .. import services
from ..conftest import BIN, ROOT, SHARED, ocsge

#: Seconds without heartbeat after which a job ends failed: short, so that a killed worker shows fast.
STALE_S = 3
SLOW_PROCESS = {"type": "process", "processor": {"name": "tests.jobs.slow.SlowProcessor"}}


class Stack:
    def __init__(self, folder: Path, store_url: str, jobs_url: str, broker: str) -> None:
        self.folder = folder
        self.port = services.free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.config = folder / "pygeoapi-config.yml"
        self.env = {**os.environ, "OCSGE_URL": self.url, "PYGEOAPI_CONFIG": str(self.config),
                    "PYGEOAPI_OPENAPI": str(folder / "openapi.yml"), "OCSGE_JOBS": jobs_url,
                    "OCSGE_EXECUTOR": "celery", "OCSGE_BROKER": broker, "OCSGE_JOBS_STALE_S": str(STALE_S),
                    "OCSGE_DATA_DIR": str(SHARED), "OCSGE_TRUSTED_HOSTS": "localhost"}
        ocsge("config", "--store", store_url, "--template", str(ROOT / "pygeoapi-config.yml"), "--out",
              str(self.config), "--openapi", str(folder / "openapi.yml"), env=self.env)
        config = yaml.safe_load(self.config.read_text())
        config["resources"]["slow"] = SLOW_PROCESS
        self.config.write_text(yaml.safe_dump(config, allow_unicode=True, sort_keys=False))
        write_openapi(config, folder / "openapi.yml")
        self.web: subprocess.Popen | None = None
        self.worker: subprocess.Popen | None = None

    def start_web(self) -> None:
        log = self.folder / "gunicorn.log"
        self.web = subprocess.Popen([str(BIN / "gunicorn"), "--workers", "2", "--bind", f"127.0.0.1:{self.port}",
                                     "ocsge_processes.server.app:APP"], env=self.env, cwd=ROOT,
                                    stdout=log.open("a"), stderr=subprocess.STDOUT)
        services.wait_for_server(self.url, self.web, log)

    def stop_web(self) -> None:
        self.web.terminate()
        self.web.wait(20)

    def start_worker(self) -> None:
        """The documented worker command; returns once the worker says it is ready."""
        log = self.folder / "worker.log"
        mark = log.stat().st_size if log.exists() else 0
        self.worker = subprocess.Popen(
            [str(BIN / "celery"), "-A", "ocsge_processes.jobs.worker", "worker", "-Q", "cpu,gpu", "--concurrency",
             "1", "-n", "w1@%h", "--loglevel", "INFO"],
            env=self.env, cwd=ROOT, stdout=log.open("a"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.monotonic() + 60
        while " ready." not in log.read_text()[mark:]:
            if self.worker.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"celery worker did not start:\n{log.read_text()[mark:][-3000:]}")
            time.sleep(0.2)

    def kill_worker(self) -> None:
        """SIGKILL the worker and its pool processes at once, as when its machine dies."""
        os.killpg(self.worker.pid, signal.SIGKILL)
        self.worker.wait(10)

    def stop(self) -> None:
        if self.worker is not None and self.worker.poll() is None:
            self.kill_worker()
        if self.web is not None and self.web.poll() is None:
            self.stop_web()
