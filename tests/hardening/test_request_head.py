"""The request head on a live server: Accept / Accept-Language lists with q=0 or malformed q values never give a
500 (pygeoapi divides by q), and a request target over the limit gets a 414 OGC exception saying to POST instead."""

from __future__ import annotations

import json
from urllib.parse import quote

import pytest
import requests

from ocsge_processes.server.request_head import DEFAULT_MAX_URL, acceptable

ROUTES = [
    "/",
    "/conformance",
    "/collections",
    "/collections/communes",
    "/collections/communes/items",
    "/collections/communes/queryables",
    "/collections/communes/items/33009",
    "/processes",
]
DIFF = "/collections/ocsge-difference/items"


@pytest.mark.parametrize("route", ROUTES)
def test_refused_html_is_answered_in_json(server: str, route: str) -> None:
    """`text/html;q=0` refuses HTML and lists nothing else: the default format (JSON) is a correct answer."""
    response = requests.get(server + route, headers={"Accept": "text/html;q=0"}, timeout=30)
    assert response.status_code == 200, response.text[:300]
    assert "json" in response.headers["Content-Type"]
    response.json()


def test_the_format_accepted_is_the_one_served(server: str) -> None:
    html = requests.get(server + "/collections", headers={"Accept": "application/json;q=0, text/html"}, timeout=30)
    assert html.status_code == 200 and html.headers["Content-Type"].startswith("text/html")
    as_json = requests.get(
        server + "/collections", timeout=30, headers={"Accept": "text/html;q=0,application/json;q=0.5"}
    )
    assert as_json.status_code == 200 and "json" in as_json.headers["Content-Type"]
    # Media-type parameters other than q no longer hide an entry from pygeoapi.
    spaced = requests.get(server + "/collections", headers={"Accept": "text/html; charset=utf-8; q=0.9"}, timeout=30)
    assert spaced.status_code == 200 and spaced.headers["Content-Type"].startswith("text/html")


def test_refused_language_is_not_used(server: str) -> None:
    """French is the default; `fr;q=0, en` asks for English, `fr;q=0` alone falls back to the default."""
    english = requests.get(server + "/collections", headers={"Accept-Language": "fr;q=0, en"}, timeout=30)
    assert english.status_code == 200 and english.headers["Content-Language"].startswith("en")
    alone = requests.get(server + "/collections", headers={"Accept-Language": "fr-FR;q=0"}, timeout=30)
    assert alone.status_code == 200 and alone.headers["Content-Language"].startswith("fr")
    by_parameter = requests.get(server + "/collections", params={"lang": "en;q=0,fr"}, timeout=30)
    assert by_parameter.status_code == 200 and by_parameter.headers["Content-Language"].startswith("fr")


HOSTILE_LISTS = [
    "text/html;q=0",
    "*/*;q=0",
    "application/json;q=0.0",
    "text/html;q=00",
    "text/html;q=0.000",
    "text/html;q=1.2.3",
    "text/html;q=.",
    "text/html;q=",
    "text/html;q=-1",
    "text/html;q=2",
    "text/html;q=abc",
    ",,,",
    ";q=0",
    "text/html;q=0;q=1",
    "a" * 4000 + ";q=0",
    "fr;q=0, en;q=0",
]


@pytest.mark.parametrize("value", HOSTILE_LISTS, ids=[v[:30] for v in HOSTILE_LISTS])
def test_hostile_negotiation_lists_never_give_a_server_error(server: str, value: str) -> None:
    for headers, params in (({"Accept": value}, {}), ({"Accept-Language": value}, {}), ({}, {"lang": value})):
        response = requests.get(server + "/collections/communes/items", headers=headers, params=params, timeout=30)
        assert response.status_code == 200, (headers, params, response.status_code, response.text[:300])


def test_acceptable_keeps_what_the_client_accepts() -> None:
    assert acceptable("text/html;q=0, application/json;q=0.5, */*") == "application/json;q=0.5,*/*"
    assert acceptable("en;q=1.2.3, fr; q=1.000, de;q=0.001") == "fr,de;q=0.001"
    assert acceptable("text/html;q=0") == ""


def test_a_5000_value_in_fits_in_a_get(server: str) -> None:
    """Integers keep a 5 000-value IN under the 64 KiB request target; it selects what the short list selects."""
    years = [2015, 2021, *[y for y in range(3000, 8000) if y not in (2015, 2021)][:4998]]
    long_filter = f"millesime_avant IN ({','.join(map(str, years))})"
    url = f"{server}{DIFF}?f=json&limit=1&filter={quote(long_filter)}"
    assert len(url) - len(server) < DEFAULT_MAX_URL
    response = requests.get(url, timeout=60)
    assert response.status_code == 200, response.text[:300]
    short = requests.get(
        server + DIFF, params={"f": "json", "limit": 1, "filter": "millesime_avant IN (2015, 2021)"}, timeout=60
    ).json()
    assert response.json()["numberMatched"] == short["numberMatched"] > 0


def test_a_request_target_over_the_limit_gets_a_414_saying_to_post(server: str) -> None:
    codes = [f"'CS{i}'" for i in range(6000)]
    long_filter = quote(f"code_cs_apres IN ({','.join(codes)})")
    target = f"{DIFF}?f=json&filter={long_filter}"
    assert len(target) > DEFAULT_MAX_URL
    response = requests.get(server + target, timeout=60)
    assert response.status_code == 414
    body = response.json()
    assert body["code"] == "URITooLong"
    assert f"{len(target)} bytes" in body["description"] and str(DEFAULT_MAX_URL) in body["description"]
    assert "POST" in body["description"]
    # The same filter as CQL2 JSON in a POST body is answered.
    posted = requests.post(
        server + DIFF,
        params={"limit": 1},
        timeout=60,
        headers={"Content-Type": "application/query-cql-json"},
        data=json.dumps({"op": "in", "args": [{"property": "code_cs_apres"}, [f"CS{i}" for i in range(6000)]]}),
    )
    assert posted.status_code == 200 and posted.json()["numberMatched"] == 0
