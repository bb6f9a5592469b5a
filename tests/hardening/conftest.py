"""A live server started with extra environment (limits, timeouts, local OGC schemas) on the real demo stores."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deploy.services import web_server

from ..conftest import BIN, SHARED


@contextmanager
def live_server(store_url: str, folder: Path, **env: str) -> Iterator[str]:
    """gunicorn (2 workers) on ``store_url`` with ``env`` added; yields its base URL."""
    with web_server(store_url, folder, BIN, OCSGE_DATA_DIR=str(SHARED), **env) as url:
        yield url
