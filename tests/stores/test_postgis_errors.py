"""The PostGIS store refuses what it cannot serve with our errors: a busy pool (503), a value PostgreSQL cannot take
(400)."""

from __future__ import annotations

import pytest

from ocsge_processes.errors import StoreBusyError
from ocsge_processes.server.errors import provider_error
from ocsge_processes.stores import open_store, postgis


def test_a_query_waiting_past_the_pool_wait_is_a_busy_store(postgis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(postgis, "POOL_SIZE", 1)
    monkeypatch.setattr(postgis, "POOL_WAIT_S", 0.5)
    store = open_store(f"{postgis_url}?application_name=pool-test")  # a pool of its own (pools are per URL)
    with (
        store._conn(),  # the one connection, held as a slow request would
        pytest.raises(StoreBusyError, match="all 1 connections .* busy for 0.5 s; retry"),
    ):
        store.tables()
    assert isinstance(store.tables(), dict)  # released: the next request gets it
    error = provider_error(StoreBusyError("busy"))
    assert error.http_status_code == 503 and error.ogc_exception_code == "ServiceUnavailable"


def test_the_pool_has_a_connection_per_request_thread() -> None:
    from ocsge_processes.server import gunicorn_conf

    assert gunicorn_conf.threads <= postgis.POOL_SIZE


def test_a_value_postgresql_cannot_take_is_the_clients_error(postgis_url: str) -> None:
    """PostgreSQL texts cannot hold NUL, which SQLite takes: the same filter is a 400 on PostGIS, not a 500."""
    from ocsge_processes.errors import InvalidInputError
    from ocsge_processes.filters import parse_filter
    from ocsge_processes.layers import COMMUNES
    from ocsge_processes.stores import FeatureQuery

    store = open_store(postgis_url)
    with pytest.raises(InvalidInputError, match="NUL"):
        store.query(COMMUNES, 2154, FeatureQuery(where=parse_filter("nom = 'a\x00b'")))
