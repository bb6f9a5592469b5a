"""Where the package finds its data files (``config/``), installed or from a checkout."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

_CHECKOUT = Path(__file__).resolve().parent.parent

#: A mapping read from a YAML file of ``config/``, before validation: any value may be anything (each reader checks).
ConfigMapping = dict[str, Any]


def config_dir() -> Path:
    """The ``config/`` folder: ``OCSGE_CONFIG_DIR``, else the one shipped beside the package."""
    return _data_dir("OCSGE_CONFIG_DIR", "config")


def _data_dir(variable: str, name: str) -> Path:
    if os.environ.get(variable):
        return Path(os.environ[variable])
    for candidate in (_CHECKOUT / name, Path(__file__).resolve().parent / "_data" / name):
        if candidate.is_dir():
            return candidate
    raise FileNotFoundError(f"cannot find the {name}/ folder; set {variable}")
