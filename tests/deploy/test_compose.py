"""deploy/compose.yaml: valid for Docker Compose (checked by Debian's docker-compose, which validates a file against
the Compose schema and resolves its anchors without any engine), one image for every service of ours, and every
command a service runs present in that image."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest

from . import image
from .compose import COMPOSE, OUR_IMAGE, PG_SETTINGS, ROOT, ours, resolved, script_parts


def test_compose_file_is_valid_and_builds_one_image() -> None:
    config = resolved()
    services = ours(config)
    assert {"web", "worker-cpu", "worker-gpu"} <= set(services)
    assert {service["image"] for service in services.values()} == {OUR_IMAGE}
    assert {service["build"]["dockerfile"] for service in services.values()} == {"Dockerfile"}
    assert all(service["build"]["context"] == str(ROOT) for service in services.values())


def test_a_broken_compose_file_is_refused(tmp_path: Path) -> None:
    """The check above can fail: the same validator refuses an unknown option."""
    broken = tmp_path / "compose.yaml"
    broken.write_text(COMPOSE.read_text().replace("restart: unless-stopped", "restart_policy: unless-stopped"))
    done = subprocess.run(["docker-compose", "--file", str(broken), "config"], capture_output=True, text=True)
    assert done.returncode != 0 and "restart_policy" in done.stderr


@pytest.mark.slow
def test_every_service_command_runs_in_the_image(built_image: str, data_volume: Path) -> None:
    """Each service's command, in the image, with the services' settings: the set-up steps run for real (`ocsge
    config` on the mounted store, standing in for the compose file's PostGIS), the long-running program last with
    --help (it would otherwise wait for Redis and PostGIS). A container of its own: `ocsge config` rewrites the
    runtime configuration that the served container reads."""
    default = image.config(built_image)["Cmd"]
    checked = set()
    with image.container(built_image) as container:
        for name, service in ours(resolved()).items():
            *setup, final = script_parts(service.get("command") or default)
            words = [word for word in shlex.split(final) if word != "exec"]
            program = words[:2] if words[0] == "ocsge" else words[:1]  # `ocsge worker`: the subcommand too
            # The compose file's PostGIS is not here: the mounted GeoPackage and the image's SQLite jobs stand in.
            env = {key: str(value) for key, value in service["environment"].items() if key not in PG_SETTINGS}
            script = " && ".join([*setup, shlex.join([*program, "--help"])])
            out = image.run(container, "sh", "-c", script, env=env, volumes={data_volume: "/data"}, timeout=300)
            assert "usage" in out.lower(), (name, out)
            checked.add(" ".join(program))
    assert {"gunicorn", "ocsge worker"} <= checked, checked
