"""The load test, bounded: both replicas of the local topology under concurrent item reads and process executions
(sync and async) at once; no request fails and every job made during the run ends successful."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

from deploy.load import run_load
from deploy.topology import Topology

from ..conftest import BIN

pytestmark = pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)


def test_two_replicas_under_load_answer_every_request(store_url: str) -> None:
    folder = Path(tempfile.mkdtemp(prefix="ocsge-load-"))
    topology = Topology(folder, BIN, store_url, replicas=2, workers=2)
    try:
        topology.start()
        result = run_load(topology.urls, connections=10, seconds=10, folder=folder / "load")
    finally:
        topology.stop()
        shutil.rmtree(folder, ignore_errors=True)
    print(result.summary())
    assert result.requests > 100, result.summary()
    assert result.errors == 0, result.summary()
    assert result.jobs >= 5 and result.failed_jobs == 0, result.summary()
