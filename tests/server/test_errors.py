"""Bad input gets a 400 with an OGC exception body that says what is wrong, and the server keeps serving."""

from __future__ import annotations

import pytest
import requests

ITEMS = "/collections/ocsge-occupation-sol/items"

BAD_REQUESTS = [
    ({"filter": "code_cs = "}, "malformed CQL2"),
    ({"filter": "code_cs = 'CS1.1.1.1' AND ("}, "CQL2"),
    ({"filter": "nope = 1"}, "unknown property 'nope'"),
    ({"filter": "millesime = 'deux mille'"}, "type mismatch"),
    ({"filter": "millesime + 1 = 2019"}, "unsupported"),
    (
        {
            "filter-lang": "cql2-json",
            "filter": '{"op": "t_after", "args": [{"property": "millesime"}, {"timestamp": "2020-01-01T00:00:00Z"}]}',
        },
        "unsupported",
    ),
    ({"filter": "millesime = TIMESTAMP('2020-01-01T00:00:00Z')"}, "type mismatch"),
    ({"filter-lang": "sql", "filter": "1=1"}, "filter-lang"),
    ({"crs": "http://www.opengis.net/def/crs/EPSG/0/9999"}, "not supported"),
    ({"bbox": "0,0,1,1", "bbox-crs": "EPSG:27572"}, "not supported"),
    ({"filter": "code_cs = 'CS1.1.1.1'", "filter-crs": "urn:nope"}, "filter-crs"),
    ({"bbox": "1,2,3"}, "4 or 6"),
    ({"bbox": "a,b,c,d"}, "4 or 6"),
    ({"limit": "-1"}, "limit"),
    ({"limit": "1000000"}, "10000"),
    ({"limit": "ten"}, "limit"),
    ({"offset": "-5"}, "offset"),
    ({"colour": "red"}, "unknown query parameter 'colour'"),
    ({"sortby": "-nope"}, "sortby"),
    ({"properties": "code_cs,nope"}, "properties"),
    ({"millesime": "abc"}, "integer"),
]


@pytest.mark.parametrize(("params", "hint"), BAD_REQUESTS, ids=[str(p) for p, _ in BAD_REQUESTS])
def test_bad_item_queries_get_a_clear_400(server: str, params: dict, hint: str) -> None:
    response = requests.get(server + ITEMS, params={"f": "json", **params}, timeout=30)
    assert response.status_code == 400, response.text[:500]
    body = response.json()
    assert body["code"] and hint.lower() in body["description"].lower(), body


def test_bad_cql2_json_body(server: str) -> None:
    response = requests.post(
        server + ITEMS,
        data='{"op": "=", "args": [{"property": "code_cs"}',
        timeout=30,
        headers={"Content-Type": "application/query-cql-json"},
    )
    assert response.status_code == 400 and "CQL2 JSON" in response.json()["description"]


def test_unknown_collection_and_item(server: str) -> None:
    assert requests.get(f"{server}/collections/nope/items", timeout=30).status_code == 404
    response = requests.get(f"{server}/collections/communes/items/99999", params={"f": "json"}, timeout=30)
    assert response.status_code == 404 and "99999" in response.json()["description"]


def test_server_keeps_serving_after_errors(server: str) -> None:
    for params, _ in BAD_REQUESTS:
        requests.get(server + ITEMS, params=params, timeout=30)
    response = requests.get(server + ITEMS, params={"limit": 2}, timeout=30)
    assert response.status_code == 200 and response.json()["numberReturned"] == 2
