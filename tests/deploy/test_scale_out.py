"""The compose file's scale-out, in the image: a web replica that queues jobs on Redis and the `worker-cpu` service's
own command, each in a container of its own, sharing the store and the job records through /data. Redis is
Debian's, on the host's loopback, which chroot-isolated containers share."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from deploy.services import LOOPBACK_ONLY, free_port, wait_for_server
from tests import services

from . import image
from .compose import PG_SETTINGS, ours, resolved, script_parts

pytestmark = pytest.mark.slow

INPUTS = {"territoire": {"communes": ["33009"]}, "millesimes": [2021, 2024]}


def test_a_job_queued_by_the_web_image_runs_on_the_worker_service(
    built_image: str, data_volume: Path, tmp_path: Path
) -> None:
    worker = ours(resolved())["worker-cpu"]
    worker_script = " && ".join(script_parts(worker["command"]))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    volumes = {data_volume: "/data"}
    with services.redis() as broker, image.container(built_image) as web, image.container(built_image) as cpu:
        # The records are SQLite on the shared /data here, where the compose file has PostgreSQL.
        shared = {"OCSGE_BROKER": broker, "OCSGE_JOBS": "/data/scale-out-jobs.sqlite", **LOOPBACK_ONLY}
        worker_env = {k: str(v) for k, v in worker["environment"].items() if k not in PG_SETTINGS} | shared
        web_env = worker_env | {"OCSGE_HOST": "127.0.0.1", "OCSGE_PORT": str(port), "OCSGE_URL": url, "WORKERS": "1"}
        worker_log, web_log = tmp_path / "worker.log", tmp_path / "web.log"
        with (
            image.started(cpu, ["sh", "-c", worker_script], worker_env | {"CONCURRENCY": "1"}, volumes, worker_log),
            image.started(web, image.config(built_image)["Cmd"], web_env, volumes, web_log) as server,
        ):
            wait_for_server(url, server, web_log, timeout_s=300)
            response = requests.post(
                f"{url}/processes/artificialisation/execution",
                json={"inputs": INPUTS},
                headers={"Prefer": "respond-async"},
                timeout=60,
            )
            assert response.status_code == 201, response.text
            job_id = response.json()["jobID"]
            status = services.wait_for_job(url, job_id, timeout_s=300)
            assert status["status"] == "successful", (status, worker_log.read_text()[-3000:])
            results = requests.get(f"{url}/jobs/{job_id}/results", params={"f": "json"}, timeout=30).json()
        assert results["periodes"] == ["2021-2024"] and results["territoires"][0]["stock_disponible"]
        # Only the worker can have run it: the web replica queues jobs (OCSGE_EXECUTOR=celery in the compose file),
        # and without a worker the job would have stayed `accepted`.
        assert web_env["OCSGE_EXECUTOR"] == "celery"
