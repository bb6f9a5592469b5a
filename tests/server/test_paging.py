"""Keyset paging over live HTTP on both stores: next links carry a cursor, follow the same order as offset pages,
keep every other parameter, and a cursor the server did not write is a 400 that says so."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

import pytest
import requests

DIFF = "/collections/ocsge-difference/items"
OCS = "/collections/ocsge-occupation-sol/items"


def _page(url: str, **params) -> dict:
    response = requests.get(url, params=params, timeout=120)
    assert response.status_code == 200, response.text[:500]
    return response.json()


def _next(page: dict) -> str | None:
    return next((link["href"] for link in page["links"] if link["rel"] == "next"), None)


def _follow(server: str, path: str, **params) -> tuple[list, list[str]]:
    """Every feature reached through next links, and the links followed."""
    page = _page(server + path, f="json", **params)
    features, links = list(page["features"]), []
    while (link := _next(page)) is not None:
        links.append(link)
        page = _page(link)
        features.extend(page["features"])
    return features, links


def _by_offset(server: str, path: str, limit: int, **params) -> list:
    features, offset = [], 0
    while True:
        page = _page(server + path, f="json", limit=limit, offset=offset, **params)
        features.extend(page["features"])
        if len(page["features"]) < limit:
            return features
        offset += limit


def _key(feature: dict) -> tuple:
    return feature["id"], tuple(sorted(feature["properties"].items()))


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"sortby": "-code_cs_apres,millesime_avant"},
        {"sortby": "code_us_avant", "properties": "code_cs_apres", "filter": "millesime_avant = 2015"},
        {"bbox": "-1.20,44.62,-1.13,44.68", "skipGeometry": "true", "sortby": "-millesime_apres"},
    ],
    ids=["default-order", "sorted-mixed", "sorted-null-and-filtered", "bbox-sorted"],
)
def test_next_links_carry_a_cursor_and_give_the_offset_sequence(server: str, params: dict) -> None:
    limit = 397  # not a divisor of the row counts: the last page is partial
    followed, links = _follow(server, DIFF, limit=limit, **params)
    assert [_key(f) for f in followed] == [_key(f) for f in _by_offset(server, DIFF, limit, **params)]
    total = _page(server + DIFF, f="json", limit=1, **params).get("numberMatched")
    if total is not None:
        assert len(followed) == total
    assert len(links) == len(followed) // limit >= 1  # a next link after each full page
    for number, link in enumerate(links, start=1):
        query = parse_qs(urlparse(link).query)
        assert "cursor" in query and query["offset"] == [str(number * limit)]
        assert {k: v[0] for k, v in query.items() if k not in ("cursor", "offset")} == {
            "f": "json",
            "limit": str(limit),
            **params,
        }


def test_cursor_pages_have_prev_links_and_the_last_page_has_no_next(server: str) -> None:
    first = _page(server + DIFF, f="json", limit=1000)
    second = _page(_next(first))
    prev = next(link["href"] for link in second["links"] if link["rel"] == "prev")
    assert parse_qs(urlparse(prev).query)["offset"] == ["0"]
    assert [f["id"] for f in _page(prev)["features"]] == [f["id"] for f in first["features"]]
    total = first["numberMatched"]
    last = _page(server + DIFF, f="json", limit=1000, offset=total - 10)
    assert len(last["features"]) == 10 and _next(last) is None


def test_cursor_of_another_order_or_forged_is_refused(server: str) -> None:
    first = _page(server + DIFF, f="json", limit=5, sortby="code_cs_apres")
    cursor = parse_qs(urlparse(_next(first)).query)["cursor"][0]
    other = requests.get(server + DIFF, params={"f": "json", "limit": 5, "cursor": cursor}, timeout=60)
    assert other.status_code == 400 and "sortby" in other.json()["description"]
    for forged in ("not-a-cursor", "eyJrIjoxfQ", "W10", "e30"):
        response = requests.get(server + DIFF, params={"f": "json", "cursor": forged}, timeout=60)
        assert response.status_code == 400, (forged, response.text[:300])
        assert "cursor" in response.json()["description"]


def test_cursor_keys_are_bound_not_spliced(server: str) -> None:
    """A sort value in a cursor is a query parameter: a quote in it is a value, never SQL."""
    import base64
    import json

    token = (
        base64.urlsafe_b64encode(
            json.dumps({"s": [["code_cs_apres", False]], "k": ["A' OR 1=1 --", 0], "o": 10}).encode()
        )
        .decode()
        .rstrip("=")
    )
    response = requests.get(server + DIFF, params={"f": "json", "sortby": "code_cs_apres", "cursor": token}, timeout=60)
    assert response.status_code == 200
    codes = [f["properties"]["code_cs_apres"] for f in response.json()["features"]]
    assert codes and all(code > "A' OR 1=1 --" for code in codes)
