"""Statement timeouts: a web query past its time limit is stopped by the database and answered with a clean 503.

The slow query is a real one: a CQL2 spatial filter with a detailed polygon over every polygon of the demo
store, under a limit far below its run time; without the limit the same query succeeds.
"""

from __future__ import annotations

import json

import pytest
import requests
import shapely
import shapely.geometry

from ocsge_processes.filters import parse_filter
from ocsge_processes.layers import OCCUPATION_SOL
from ocsge_processes.stores import FeatureQuery, open_store
from ocsge_processes.stores.timeout import (
    QueryTimeoutError,
    query_timeout,
    set_query_timeout,
)

from .conftest import live_server


def slow_filter(store_url: str) -> dict:
    """CQL2 JSON: intersects a disc of ~8000 vertices over the whole store, so every polygon gets an exact test."""
    extent = open_store(store_url).extent(OCCUPATION_SOL, 2154)
    disc = shapely.box(*extent).centroid.buffer(max(extent[2] - extent[0], extent[3] - extent[1]), quad_segs=2000)
    return {"op": "s_intersects", "args": [{"property": "geometry"}, shapely.geometry.mapping(disc)]}


@pytest.fixture()
def store_limit():
    """Restores the process-wide limit (off in tests, as in batch commands) after each test."""
    before = query_timeout()
    yield set_query_timeout
    set_query_timeout(before)


def test_store_query_past_the_limit_raises_a_timeout(store_url: str, store_limit) -> None:
    store = open_store(store_url)
    query = FeatureQuery(
        where=parse_filter(json.dumps(slow_filter(store_url)), "cql2-json"), limit=10_000, count_cap=10**9
    )
    unlimited = store.query(OCCUPATION_SOL, 2154, query)
    assert unlimited.features, "the slow filter matches the demo data"
    store_limit(0.001)
    with pytest.raises(QueryTimeoutError, match="longer than 0.001 s"):
        store.query(OCCUPATION_SOL, 2154, query)
    store_limit(60)
    assert store.query(OCCUPATION_SOL, 2154, query).number_matched == unlimited.number_matched


def test_batch_commands_have_no_limit() -> None:
    """The limit is the web server's: importing the store in a batch command leaves it off."""
    assert query_timeout() is None


def test_web_query_past_the_limit_gets_a_503_ogc_exception(store_url: str, tmp_path) -> None:
    with live_server(store_url, tmp_path, OCSGE_STATEMENT_TIMEOUT="0.001") as url:
        response = requests.post(
            f"{url}/collections/ocsge-occupation-sol/items",
            json=slow_filter(store_url),
            headers={"Content-Type": "application/query-cql-json"},
            timeout=120,
            params={"filter-crs": "http://www.opengis.net/def/crs/EPSG/0/2154"},
        )
        assert response.status_code == 503, response.text
        body = response.json()
        assert body["code"] == "QueryTimeout"
        assert "longer than 0.001 s" in body["description"] and "narrow the bbox" in body["description"]
        assert "Traceback" not in response.text
