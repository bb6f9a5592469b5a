"""The Celery worker is built by a factory: importing its module reads nothing, ``create_app`` reads the runtime
configuration it is given, and ``ocsge worker`` says what is missing instead of a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from ocsge_processes.jobs.distributed import TASK
from ocsge_processes.jobs.worker import Sweep, create_app

from ..conftest import BIN


def write_config(folder: Path, manager: dict) -> Path:
    path = folder / "pygeoapi-config.yml"
    path.write_text(yaml.safe_dump({"server": {"manager": manager}, "resources": {}}), encoding="utf-8")
    return path


def test_importing_the_worker_module_reads_no_configuration(tmp_path: Path) -> None:
    env = {name: value for name, value in os.environ.items() if name != "PYGEOAPI_CONFIG"}
    done = subprocess.run(
        [sys.executable, "-c", "import ocsge_processes.jobs.worker"], env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr[-2000:]


def test_the_app_takes_broker_concurrency_and_task_from_the_configuration(tmp_path: Path) -> None:
    config = write_config(
        tmp_path,
        {
            "connection": str(tmp_path / "jobs.sqlite"),
            "executor": "celery",
            "broker": "redis://127.0.0.1:1/5",
            "concurrency": "3",
        },
    )
    app = create_app(str(config))
    assert app.conf.broker_url == "redis://127.0.0.1:1/5"
    assert app.conf.worker_concurrency == 3
    assert TASK in app.tasks
    assert any(issubclass(step, Sweep) for step in app.steps["consumer"]), app.steps
    (tmp_path / "other").mkdir()
    other = create_app(str(write_config(tmp_path / "other", {"connection": str(tmp_path / "b.sqlite")})))
    assert other is not app and other.conf.broker_url != app.conf.broker_url, "each call builds its own app"


def test_without_a_configuration_the_factory_says_which_setting_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PYGEOAPI_CONFIG", raising=False)
    with pytest.raises(ValueError, match="PYGEOAPI_CONFIG must name the runtime pygeoapi configuration"):
        create_app()


def test_a_configuration_without_job_store_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="server.manager.connection must name the job store"):
        create_app(str(write_config(tmp_path, {})))


def test_ocsge_worker_without_configuration_fails_with_a_message(tmp_path: Path) -> None:
    env = {**os.environ, "PYGEOAPI_CONFIG": str(tmp_path / "missing.yml")}
    done = subprocess.run([str(BIN / "ocsge"), "worker", "-Q", "cpu"], env=env, capture_output=True, text=True)
    assert done.returncode == 1
    assert "cannot start the worker" in done.stderr and "missing.yml" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
