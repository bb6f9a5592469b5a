"""Where the package finds its data files (``config/``), installed or from a checkout."""

from __future__ import annotations

import os
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parent.parent


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
