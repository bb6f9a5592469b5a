"""The one module of ``jobs`` that imports pygeoapi: what a job runs, where it is declared, how its outputs are written.

A job runs a pygeoapi processor (``execute(inputs, outputs=...)`` → ``(mimetype, outputs)``) that the runtime
pygeoapi configuration declares; the configuration is read the way pygeoapi reads it (``${VAR:-default}``
substituted from the environment), and outputs are JSON-encoded with pygeoapi's fallback for dates and decimals,
so that a worker stores exactly what the web process would. The rest of ``jobs`` imports these names, never
pygeoapi (an import contract in pyproject.toml checks it).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pygeoapi.plugin import load_plugin
from pygeoapi.process.base import BaseProcessor
from pygeoapi.util import json_serial, yaml_load

#: What a job runs.
Processor = BaseProcessor

__all__ = ["Processor", "json_serial", "load_processor", "read_config"]


# Any: a pygeoapi configuration is free-form YAML (server, resources, each plugin's own keys).
def read_config(path: str | Path) -> dict[str, Any]:
    """The pygeoapi configuration at ``path``, environment variables substituted."""
    with open(path, encoding="utf-8") as handle:
        config: dict[str, Any] = yaml_load(handle)
    return config


# Any: a pygeoapi configuration is free-form YAML.
def load_processor(config: dict[str, Any], process_id: str) -> Processor:
    """The processor of ``process_id`` as the pygeoapi configuration declares it."""
    resource = config.get("resources", {}).get(process_id)
    if not resource or resource.get("type") != "process":
        raise KeyError(f"no process {process_id!r} in the configuration")
    processor = load_plugin("process", resource["processor"])
    if not isinstance(processor, Processor):
        raise TypeError(f"process {process_id!r}: {type(processor).__name__} is not a pygeoapi processor")
    return processor
