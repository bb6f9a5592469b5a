"""The one error table: each row provoked through a real path (a live server, the tile endpoint on a real store and
tile pool, or the job runner on a real job record) answers its OGC code and HTTP status; an exception that is not
ours fails its job as an internal error whose traceback only the log has."""

from __future__ import annotations

import logging
from http import HTTPStatus
from pathlib import Path

import pytest
import requests

from ocsge_processes.errors import (
    ERROR_TABLE,
    INTERNAL,
    BusyError,
    InvalidInputError,
    QueryTimeoutError,
    StoreBusyError,
    StoreError,
)
from ocsge_processes.jobs.records import JobRecords, open_records
from ocsge_processes.jobs.runner import Heartbeat, failure, run_job
from ocsge_processes.server.errors import answer_for_code
from ocsge_processes.server.processes.artificialisation import ArtificialisationProcessor
from ocsge_processes.server.tilepool import TilePool, TilePoolSettings
from ocsge_processes.server.tiles import MVT, TILE_PROVIDER, OcsgeTileProvider, serve_tile
from ocsge_processes.stores import open_store, postgis

from ..hardening.conftest import live_server
from ..hardening.test_timeouts import slow_filter
from ..jobs.conftest import new_job
from ..jobs.slow import SlowProcessor
from .test_tiles import X, Y, Z, tile_url

ITEMS = "/collections/ocsge-occupation-sol/items"
ONE_COMMUNE = {"territoire": {"communes": ["33009"]}, "millesimes": [2021, 2024]}


def answer(kind: type[Exception]) -> tuple[str, HTTPStatus]:
    """The code and status the table gives ``kind``."""
    row = next(answer for ours, answer in ERROR_TABLE if ours is kind)
    return row.code, row.status


def run(records: JobRecords, processor: object, process_id: str, inputs: dict) -> dict:
    """Run a job of ``processor`` to its end with the real runner; its OGC exception as a sync client gets it."""
    job_id = new_job(records, process_id, request={"inputs": inputs})
    _, error, status = run_job(records, job_id, processor, Heartbeat(records, 60))
    assert status == "failed", error
    assert failure(records.get(job_id)["message"]) == {k: error[k] for k in ("type", "code", "description")}
    return {**error, "job_id": job_id}


@pytest.fixture
def records(tmp_path: Path) -> JobRecords:
    return open_records(str(tmp_path / "jobs.sqlite"))


@pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
def test_query_timeout_is_a_503_query_timeout(store_url: str, tmp_path: Path) -> None:
    code, status = answer(QueryTimeoutError)
    with live_server(store_url, tmp_path, OCSGE_STATEMENT_TIMEOUT="0.001") as url:
        response = requests.post(
            url + ITEMS,
            json=slow_filter(store_url),
            headers={"Content-Type": "application/query-cql-json"},
            params={"filter-crs": "http://www.opengis.net/def/crs/EPSG/0/2154"},
            timeout=120,
        )
    assert (response.status_code, response.json()["code"]) == (status, code), response.text
    assert "longer than 0.001 s" in response.json()["description"]


def test_busy_store_fails_the_job_with_service_unavailable(
    postgis_url: str, records: JobRecords, monkeypatch: pytest.MonkeyPatch
) -> None:
    code, status = answer(StoreBusyError)
    monkeypatch.setattr(postgis, "POOL_SIZE", 1)
    monkeypatch.setattr(postgis, "POOL_WAIT_S", 0.5)
    url = f"{postgis_url}?application_name=error-table"  # a pool of its own (pools are per URL)
    processor = ArtificialisationProcessor({"name": "artificialisation", "store": url})
    with open_store(url)._conn():  # the one connection, held as a slow request would
        error = run(records, processor, "artificialisation", ONE_COMMUNE)
    assert error["code"] == code and "busy for 0.5 s; retry" in error["description"], error
    assert answer_for_code(error["code"]).status == status


@pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
def test_expensive_tile_past_its_wait_is_a_503_with_retry_after(store_url: str) -> None:
    code, status = answer(BusyError)
    provider = OcsgeTileProvider(
        {
            "name": TILE_PROVIDER,
            "data": store_url,
            "collection": "ocsge-occupation-sol",
            "epsg": 2154,
            "options": {"zoom": {"min": 0, "max": 16}, "schemes": ["WebMercatorQuad"]},
            "format": {"name": "mvt", "mimetype": MVT},
        }
    )
    pool = TilePool(TilePoolSettings(expensive_features=0, builders=1, queue=2, queue_wait_s=0.2))
    with pool._builders:  # the one builder is taken, as another expensive tile being built holds it
        response = serve_tile(provider, "WebMercatorQuad", str(Z), str(Y), str(X), {}, None, pool)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.json is not None and response.json["code"] == code
    assert "within 0.2 s" in response.json["description"] and int(response.headers["Retry-After"]) >= 1
    assert serve_tile(provider, "WebMercatorQuad", str(Z), str(Y), str(X), {}, None, pool).status_code == 200


def test_invalid_input_is_a_400_on_every_path(server: str) -> None:
    code, status = answer(InvalidInputError)
    answers = {
        "items (guard)": requests.get(server + ITEMS, params={"filter": "nope = 1"}, timeout=30),
        "tile": requests.get(tile_url(server, "ocsge-occupation-sol"), params={"millesime": "x"}, timeout=30),
        "execution (job)": requests.post(
            f"{server}/processes/artificialisation/execution",
            json={"inputs": {**ONE_COMMUNE, "territoire": {"communes": ["33999"]}}},
            timeout=120,
        ),
    }
    for path, response in answers.items():
        assert (response.status_code, response.json()["code"]) == (status, code), (path, response.text)
    assert "33999" in answers["execution (job)"].json()["description"], "an unknown commune is the client's 400"


@pytest.mark.slow  # waits out the pool's 10 s for a first connection
def test_unreachable_store_fails_the_job_with_its_message(records: JobRecords) -> None:
    """Nothing listens on port 1: the pool gives up after its 10 s wait for a first connection."""
    code, status = answer(StoreError)
    processor = ArtificialisationProcessor({"name": "artificialisation", "store": "postgresql://127.0.0.1:1/ocsge"})
    error = run(records, processor, "artificialisation", ONE_COMMUNE)
    assert error["code"] == code and "cannot connect to PostGIS store" in error["description"], error
    assert answer_for_code(error["code"]).status == status


def test_an_unexpected_exception_is_an_internal_error_logged_with_the_job(
    records: JobRecords, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="ocsge_processes.jobs.runner"):
        error = run(records, SlowProcessor({"name": "slow"}), "slow", {})  # no 'seconds': a KeyError
    job_id = error["job_id"]
    assert error["code"] == INTERNAL.code and error["description"] == f"internal error, see the log for job {job_id}"
    assert "seconds" not in error["description"], "the library's text stays in the log"
    logged = [r for r in caplog.records if job_id in r.getMessage()]
    assert logged and logged[0].exc_info and logged[0].exc_info[0] is KeyError
    assert answer_for_code(error["code"]).status == HTTPStatus.INTERNAL_SERVER_ERROR


def test_every_row_has_its_test_and_a_code_says_its_status() -> None:
    """A new row needs a test here; a failed job keeps only its code, so each code must map to one status."""
    tested = {QueryTimeoutError, StoreBusyError, BusyError, InvalidInputError, StoreError}
    assert {kind for kind, _ in ERROR_TABLE} == tested
    for _, row in [*ERROR_TABLE, (Exception, INTERNAL)]:
        assert answer_for_code(row.code) == row
