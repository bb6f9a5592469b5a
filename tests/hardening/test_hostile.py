"""The bounded hostile run (deploy/hostile.py, also `python -m deploy.fuzz --hostile`) against a live server on
both stores: no server error, no OGC-less error body, no server path shown, nothing fetched from the loopback
listener every URL trick points at."""

from __future__ import annotations

import pytest

from deploy import hostile
from deploy.listener import listener

from .conftest import live_server

FAMILIES = {"cql2", "headers", "urls", "processes", "protocol"}


@pytest.fixture(scope="module")
def plain_server(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A server as `make serve` starts it: no trusted host, no internal callbacks."""
    with live_server(store_url, tmp_path_factory.mktemp("hostile")) as url:
        yield url


def test_hostile_run_finds_nothing(plain_server: str) -> None:
    result = hostile.run(plain_server, seed=1)
    print(result.summary())
    assert set(result.cases) == FAMILIES and sum(result.cases.values()) >= 300, result.summary()
    assert not result.listener_hits, result.listener_hits
    assert not result.problems, "\n".join(result.problems[:60])


def test_listener_records_what_reaches_it() -> None:
    """The run's evidence that nothing was fetched is only as good as the listener: it records a bare connection
    and a request."""
    import socket

    import requests

    with listener() as heard:
        socket.create_connection(("127.0.0.1", heard.port), timeout=10).close()
        requests.get(f"http://127.0.0.1:{heard.port}/probe", timeout=10)
    assert len(heard.connections) == 2 and [path for path, _, _ in heard.requests] == ["/probe"]


def test_each_case_is_sent_as_built() -> None:
    """The same seed gives the same cases (a failure can be replayed), another seed other mutations."""
    first, again, other = (hostile.all_cases(1234, seed) for seed in (1, 1, 2))
    assert first == again and first != other
    fetches = [(c.body or b"").decode() for c in first if c.name.startswith(("href", "wms", "subscriber"))]
    # every URL trick aims at the listener's port, but the file: URL (no host at all)
    assert len(fetches) == 3 * len(hostile._fetch_tricks(1234))
    assert all(":1234" in body or "file:///etc/passwd" in body for body in fetches)
