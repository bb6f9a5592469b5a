"""deploy/compose.yaml: valid for Docker Compose (checked by Debian's docker-compose, which validates a file against
the Compose schema and resolves its anchors without any engine), one image for every service of ours, and every
command a service runs present in that image."""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import pytest
import yaml

from . import image
from .image import ROOT

COMPOSE = ROOT / "deploy" / "compose.yaml"
OUR_IMAGE = "ocsge-processes"


def resolved() -> dict:
    """The file as Docker Compose reads it (anchors merged, variables interpolated), or its validation error."""
    done = subprocess.run(
        ["docker-compose", "--file", str(COMPOSE), "config"], capture_output=True, text=True, cwd=ROOT / "deploy"
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def ours(config: dict) -> dict[str, dict]:
    return {name: service for name, service in config["services"].items() if service.get("build")}


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


def programs(command: str | list[str]) -> list[list[str]]:
    """Each command line a service's command runs: the ``sh -c`` script split at ``&&``, ``exec`` dropped."""
    words = shlex.split(command) if isinstance(command, str) else list(command)
    if words[:2] == ["sh", "-c"] or words[:2] == ["/bin/sh", "-c"]:
        script = words[2]
        return [[w for w in shlex.split(part) if w != "exec"] for part in script.split("&&")]
    return [words]


@pytest.mark.slow
def test_every_service_command_exists_in_the_image(image_container: str) -> None:
    default = image.config()["Cmd"]
    lines = [line for service in ours(resolved()).values() for line in programs(service.get("command") or default)]
    names = sorted({line[0] for line in lines})
    assert {"ocsge", "gunicorn"} <= set(names), names
    probe = "; ".join(f"command -v {shlex.quote(name)} || echo missing:{name}" for name in names)
    found = image.run(image_container, "sh", "-c", probe)
    assert "missing:" not in found, found
    # The subcommands too (`ocsge worker` hands its options to Celery, so its --help is Celery's worker help).
    for line in lines:
        if line[0] == "ocsge":
            image.run(image_container, "ocsge", line[1], "--help")
