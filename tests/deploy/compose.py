"""deploy/compose.yaml as Docker Compose reads it: Debian's docker-compose validates a file against the Compose
schema and resolves its anchors and variables without any engine."""

from __future__ import annotations

import shlex
import subprocess

import yaml

from .image import ROOT

COMPOSE = ROOT / "deploy" / "compose.yaml"
OUR_IMAGE = "ocsge-processes"
PG_SETTINGS = ("OCSGE_STORE", "OCSGE_JOBS")


def resolved() -> dict:
    """The file as Docker Compose reads it (anchors merged, variables interpolated), or its validation error."""
    done = subprocess.run(
        ["docker-compose", "--file", str(COMPOSE), "config"], capture_output=True, text=True, cwd=ROOT / "deploy"
    )
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)


def ours(config: dict) -> dict[str, dict]:
    return {name: service for name, service in config["services"].items() if service.get("build")}


def script_parts(command: str | list[str]) -> list[str]:
    """The command lines a service's command runs in turn: its ``sh -c`` script split at ``&&``, as written
    (``$$``, which `config` prints as it found it, is the ``$`` Compose passes to the container)."""
    words = shlex.split(command) if isinstance(command, str) else list(command)
    words = [word.replace("$$", "$") for word in words]
    if words[0] in ("sh", "/bin/sh") and words[1] == "-c":
        return [part.strip() for part in words[2].split("&&")]
    return [shlex.join(words)]
