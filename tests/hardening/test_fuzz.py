"""Fuzzing: a bounded schemathesis run over every operation of a live server finds no 5xx, and what the full runs
found stays fixed (each a request that once got a 500)."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from deploy.fuzz import SCHEMAS, bundled_openapi, fuzz

from ..services import wait_for_job
from .conftest import live_server

EXECUTION = "/processes/artificialisation/execution"


@pytest.fixture(scope="module")
def fuzz_server(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A server whose OpenAPI document points at the local OGC schema stubs."""
    with live_server(store_url, tmp_path_factory.mktemp("fuzz"), OCSGE_SCHEMAS=str(SCHEMAS)) as url:
        yield url


@pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
def test_bundled_document_has_no_external_reference(fuzz_server: str) -> None:
    text = str(bundled_openapi(fuzz_server))
    assert "'$ref': 'http" not in text and "'$ref': 'file" not in text
    assert "schemas.opengis.net" not in text.replace("http://www.opengis.net", "")


@pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
def test_bounded_schemathesis_run_finds_no_server_error(fuzz_server: str, tmp_path: Path) -> None:
    result = fuzz(fuzz_server, tmp_path, max_examples=3, max_time_s=150)
    print(result.summary())
    assert result.operations >= 40, (tmp_path / "schemathesis.log").read_text()[-3000:]
    assert not result.failures, result.details


def test_post_to_items_without_a_filter_body_is_a_400(server: str) -> None:
    response = requests.post(f"{server}/collections/ocsge-difference/items", timeout=30)
    assert response.status_code == 400, response.text
    assert "CQL2 JSON filter in the body" in response.json()["description"]


def test_execution_body_that_is_not_utf8_json_is_a_400(server: str) -> None:
    binary = requests.post(
        f"{server}{EXECUTION}",
        data=b"\xff_>'\x02@nH",
        timeout=30,
        headers={"Content-Type": "application/json", "Prefer": "OX&F"},
    )
    assert binary.status_code == 400 and "not UTF-8" in binary.json()["description"], binary.text
    broken = requests.post(
        f"{server}{EXECUTION}", data=b'{"inputs": ', timeout=30, headers={"Content-Type": "application/json"}
    )
    assert broken.status_code == 400 and "not a JSON document" in broken.json()["description"], broken.text
    for body, message in (([None, None], "must be a JSON object"), ({"inputs": [1]}, "'inputs' of the execution")):
        response = requests.post(f"{server}{EXECUTION}", json=body, timeout=30)
        assert response.status_code == 400 and message in response.json()["description"], response.text


def test_integers_beyond_64_bits_are_a_400(server: str) -> None:
    huge = "-12533987103717537611776"
    items = f"{server}/collections/artificialisation-communes/items"
    for params in ({"millesime_avant": huge}, {"filter": f"millesime_avant={huge}"}, {"offset": huge[1:]}):
        response = requests.get(items, params=params, timeout=30)
        assert response.status_code == 400, (params, response.text)
        assert huge.lstrip("-") in response.json()["description"]


def test_results_of_a_dismissed_job_are_a_404_that_says_so(server: str) -> None:
    body = {"inputs": {"territoire": {"communes": ["33009"]}, "millesimes": [2021, 2024]}}
    submitted = requests.post(f"{server}{EXECUTION}", json=body, headers={"Prefer": "respond-async"}, timeout=60)
    job_id = submitted.json()["jobID"]
    assert wait_for_job(server, job_id, 60)["status"] == "successful"
    assert requests.delete(f"{server}/jobs/{job_id}", timeout=30).status_code == 200
    response = requests.get(f"{server}/jobs/{job_id}/results", params={"f": "json"}, timeout=30)
    assert response.status_code == 404, response.text
    assert "dismissed" in response.json()["description"]


def test_bbox_beyond_the_globe_is_a_400(server: str) -> None:
    """In degrees, such a bbox reprojects to infinities in the store's CRS."""
    items = f"{server}/collections/ocsge-difference/items"
    for bbox, crs in (
        ("0.72,0.63,1.0,6733653552641730.0", None),
        ("44,-1.2,91,-1.1", "http://www.opengis.net/def/crs/EPSG/0/4326"),
    ):
        response = requests.get(items, params={"bbox": bbox, **({"bbox-crs": crs} if crs else {})}, timeout=30)
        assert response.status_code == 400, response.text
        assert "latitudes in [-90, 90]" in response.json()["description"]
    lat_first = requests.get(
        items,
        params={"bbox": "44.6,-1.2,44.7,-1.1", "limit": 1, "bbox-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"},
        timeout=30,
    )
    assert lat_first.status_code == 200 and lat_first.json()["features"], lat_first.text
    across = requests.get(items, params={"bbox": "0.22,44.0,0.19,45.0"}, timeout=30)
    assert across.status_code == 400 and "antimeridian" in across.json()["description"], across.text
