"""A look for late collections that fails (the store slow past the web query limit, or away) must not fail the
request it runs before: it is outside Flask, where an exception is a bare HTML 500 (seen under load on PostGIS with
a 1 ms statement limit)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ocsge_processes.server.config import LATE_KEY
from ocsge_processes.server.late import LateCollections


def test_a_failed_look_at_the_store_lets_the_request_through(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    answered = []

    def app(environ: dict, start_response: object) -> list[bytes]:
        answered.append(environ["PATH_INFO"])
        return [b"ok"]

    away = "postgresql://nobody@127.0.0.1:1/nothing"  # no server listens on port 1: the store cannot be opened
    config: dict[str, object] = {"resources": {}, LATE_KEY: {"store": away, "resources": {"ocsge-segmentation": {}}}}
    middleware = LateCollections(app, config)  # type: ignore[arg-type]  # a plain function stands for the Flask app
    with caplog.at_level(logging.WARNING, logger="ocsge_processes.server.late"):
        body = middleware({"PATH_INFO": "/collections/ocsge-segmentation/items"}, lambda *args: None)  # type: ignore[arg-type]
    assert list(body) == [b"ok"] and answered == ["/collections/ocsge-segmentation/items"]
    assert "late collections not looked for" in caplog.text
