"""The PostGIS store under more concurrent requests than connections: a 503-class error that says so, never a hang."""

from __future__ import annotations

import pytest

from ocsge_processes.errors import StoreBusyError
from ocsge_processes.server.errors import to_provider_error
from ocsge_processes.stores import open_store, postgis


def test_a_query_waiting_past_the_pool_wait_is_a_busy_store(postgis_url: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgis, "POOL_SIZE", 1)
    monkeypatch.setattr(postgis, "POOL_WAIT_S", 0.5)
    store = open_store(f"{postgis_url}?application_name=pool-test")  # a pool of its own (pools are per URL)
    with store._conn():  # the one connection, held as a slow request would
        with pytest.raises(StoreBusyError, match="all 1 connections .* busy for 0.5 s; retry"):
            store.tables()
    assert isinstance(store.tables(), dict)  # released: the next request gets it
    error = to_provider_error(StoreBusyError("busy"))
    assert error.http_status_code == 503 and error.ogc_exception_code == "ServiceUnavailable"


def test_the_pool_has_a_connection_per_request_thread() -> None:
    from ocsge_processes.server import gunicorn_conf
    assert postgis.POOL_SIZE >= gunicorn_conf.threads
