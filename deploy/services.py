"""Start and stop PostgreSQL + PostGIS and Redis from Debian's packages, in a folder of their own, as plain processes.

Shared by the local topology (``deploy/topology.py``, long-lived, state kept in a folder) and the tests
(``tests/services.py``, a temporary folder per session), so both run the services the same way.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import yaml

PG_BIN = Path(os.environ.get("OCSGE_PG_BIN", "/usr/lib/postgresql/15/bin"))


def free_port() -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def as_postgres(args: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root; CI and the dev machines run as root."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *args]
    return args


def start_postgis(root: Path, port: int) -> str:
    """Initialise (once) and start a PostgreSQL cluster with PostGIS in ``root``; return its connection URL."""
    if not (PG_BIN / "initdb").exists():
        raise RuntimeError(f"PostgreSQL 15 not found in {PG_BIN}: apt-get install postgresql-15-postgis-3")
    data = root / "data"
    root.mkdir(parents=True, exist_ok=True)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    fresh = not data.exists()
    if fresh:
        subprocess.run(
            as_postgres(
                [str(PG_BIN / "initdb"), "-D", str(data), "-U", "ocsge", "--auth=trust", "-E", "UTF8", "--no-sync"]
            ),
            check=True,
            capture_output=True,
        )
    subprocess.run(
        as_postgres(
            [
                str(PG_BIN / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-w",
                "start",
                "-o",
                f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off -c shared_buffers=256MB "
                "-c max_connections=200",
            ]
        ),
        check=True,
        capture_output=True,
    )
    url = f"postgresql://ocsge@127.0.0.1:{port}/postgres"
    if fresh:
        subprocess.run(["psql", url, "-qc", "CREATE EXTENSION postgis"], check=True, capture_output=True)
    return url


def stop_postgis(root: Path, mode: str = "fast") -> None:
    """Stop the cluster in ``root`` (``immediate`` for throw-away clusters)."""
    subprocess.run(
        as_postgres([str(PG_BIN / "pg_ctl"), "-D", str(root / "data"), "-m", mode, "stop"]), capture_output=True
    )


def start_redis(port: int, log: Path | None = None) -> subprocess.Popen:
    """A Redis server without persistence on ``port``, answering once this returns."""
    out = log.open("ab") if log else subprocess.DEVNULL
    proc = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=out,
        stderr=out,
        start_new_session=True,
    )
    wait_for_port(port, proc)
    return proc


def stop_process(proc: subprocess.Popen | None, grace_s: float = 40) -> None:
    """SIGTERM, then SIGKILL if ``proc`` has not exited after ``grace_s`` (gunicorn's graceful timeout, 30 s, lets
    workers finish their requests first; a loaded machine may need most of it)."""
    if proc is None or proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(grace_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def wait_for_port(port: int, proc: subprocess.Popen | None = None, timeout_s: float = 10) -> None:
    """Return once something accepts connections on ``port``."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the process for port {port} exited with status {proc.returncode}")
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on port {port} after {timeout_s:.0f} s")


def wait_for_server(url: str, proc: subprocess.Popen | None, log: Path, timeout_s: float = 120) -> None:
    """Return once ``url``/conformance answers 200; fail with the server's log if it exits or never answers."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server at {url} exited at start:\n{log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{url}/conformance", timeout=20) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server at {url} did not start in {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


# -- the server's own processes: one definition of each command, used by the topology, the tests and compose.yaml --


def config_command(store: str, template: Path, config: Path, openapi: Path) -> list[str]:
    """Write the runtime pygeoapi configuration and OpenAPI document for ``store`` (`ocsge config`)."""
    return [
        "ocsge",
        "config",
        "--store",
        store,
        "--template",
        str(template),
        "--out",
        str(config),
        "--openapi",
        str(openapi),
    ]


#: The server's gunicorn settings (no shared control socket, request-line and worker-timeout limits).
GUNICORN_CONF = "python:ocsge_processes.server.gunicorn_conf"


def web_command(bind: str, workers: int = 2) -> list[str]:
    """One web replica: gunicorn serving the WSGI application (needs PYGEOAPI_CONFIG and PYGEOAPI_OPENAPI)."""
    return [
        "gunicorn",
        "-c",
        GUNICORN_CONF,
        "--workers",
        str(workers),
        "--bind",
        bind,
        "ocsge_processes.server.app:APP",
    ]


def worker_command(name: str, queues: str) -> list[str]:
    """One Celery worker taking one job at a time from ``queues`` (cpu, gpu or gpu,cpu). Without mingle (a second
    spent asking other workers for revoked task ids: a dismissed job is refused by its record) or gossip."""
    return [
        "ocsge",
        "worker",
        "-Q",
        queues,
        "--concurrency",
        "1",
        "-n",
        f"{name}@%h",
        "--without-mingle",
        "--without-gossip",
    ]


def in_venv(command: list[str], bin_dir: Path) -> list[str]:
    """``command`` with its program taken from ``bin_dir`` (the virtualenv), as the compose image has it on PATH."""
    return [str(bin_dir / command[0]), *command[1:]]


ROOT = Path(__file__).resolve().parents[1]


#: Outbound settings of every server the tests and the fuzzer start: only loopback addresses may be called, and the
#: published examples name a loopback WMS (nothing listens there: the policy refuses it unless trusted).
LOOPBACK_ONLY = {"OCSGE_OUTBOUND_LOOPBACK_ONLY": "1", "OCSGE_ORTHO_WMS": "http://127.0.0.1:9/wms"}


@contextmanager
def web_server(
    store: str, folder: Path, bin_dir: Path, *, workers: int = 2, resources: dict | None = None, **env: str
) -> Iterator[str]:
    """Runtime config for ``store`` in ``folder`` (plus extra ``resources``, e.g. the tests' processes), then one
    gunicorn replica with ``env`` added; yields its base URL and stops it at the end. Jobs run in-process unless
    ``env`` says otherwise."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    config, openapi = folder / "pygeoapi-config.yml", folder / "openapi.yml"
    full_env = {
        **os.environ,
        "OCSGE_URL": url,
        "PYGEOAPI_CONFIG": str(config),
        "PYGEOAPI_OPENAPI": str(openapi),
        "OCSGE_JOBS": str(folder / "jobs.sqlite"),
        "OCSGE_OUTPUTS": str(folder / "outputs"),
        **LOOPBACK_ONLY,
        **env,
    }
    subprocess.run(
        in_venv(config_command(store, ROOT / "pygeoapi-config.yml", config, openapi), bin_dir),
        env=full_env,
        check=True,
        capture_output=True,
    )
    if resources:
        from ocsge_processes.server.config import write_config, write_openapi

        runtime = yaml.safe_load(config.read_text(encoding="utf-8"))
        runtime["resources"].update(resources)
        write_config(runtime, config)
        write_openapi(runtime, openapi)
    log_path = folder / "gunicorn.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(
            in_venv(web_command(f"127.0.0.1:{port}", workers), bin_dir), env=full_env, cwd=ROOT, stdout=log, stderr=log
        )
        try:
            wait_for_server(url, proc, log_path)
            yield url
        finally:
            stop_process(proc)
