"""CQL2 filters at and past their limits on a live server, both stores: long AND/OR chains and IN lists work, deep
nesting is refused with a 400 naming the limit (never a RecursionError or SQLite's parser stack overflow), and
NOT (NOT x) and AND-before-OR precedence mean what CQL2 says."""

from __future__ import annotations

import json

import pytest
import requests
import shapely

from ocsge_processes.filters import (
    MAX_FILTER_BRACKETS,
    MAX_FILTER_DEPTH,
    MAX_FILTER_TERMS,
    MAX_FILTER_VALUES,
    MAX_FILTER_VERTICES,
)
from ocsge_processes.server.request_head import DEFAULT_MAX_URL

DIFF = "/collections/ocsge-difference/items"
CQL2_JSON = {"Content-Type": "application/query-cql-json"}
A = "code_cs_apres = 'CS1.1.1.1'"
B = "millesime_avant = 2015"
C = "code_us_avant = 'US5'"


def _matched(server: str, text: str | None = None, document: dict | None = None, get_json: bool = False) -> int:
    """numberMatched for a CQL2 text filter (GET), or a CQL2 JSON one (POST, or GET with ``get_json``)."""
    if text is not None:
        response = requests.get(server + DIFF, params={"f": "json", "limit": 1, "filter": text}, timeout=120)
    elif get_json:
        response = requests.get(
            server + DIFF,
            timeout=120,
            params={"f": "json", "limit": 1, "filter-lang": "cql2-json", "filter": json.dumps(document)},
        )
    else:
        response = requests.post(
            server + DIFF, params={"limit": 1}, data=json.dumps(document), headers=CQL2_JSON, timeout=120
        )
    assert response.status_code == 200, response.text[:500]
    return response.json()["numberMatched"]


def _refused(response: requests.Response, *hints: str) -> None:
    assert response.status_code == 400, response.text[:500]
    body = response.json()
    assert body["code"] == "InvalidParameterValue"
    assert all(hint in body["description"] for hint in hints), body["description"]


def _equals(name: str, value: object) -> dict:
    return {"op": "=", "args": [{"property": name}, value]}


def _alternating(levels: int) -> str:
    """B inside ``levels`` alternating OR / AND levels that keep its meaning (no millésime before 1990)."""
    text = B
    for level in range(levels):
        text = (
            f"millesime_avant = {1900 + level} OR ({text})"
            if level % 2 == 0
            else f"millesime_avant > {1900 + level} AND ({text})"
        )
    return text


def test_a_200_term_or_works_in_text_and_json(server: str) -> None:
    codes = ["CS1.1.1.1", "CS1.1.1.2"] + [f"CS9.{i}" for i in range(198)]
    expected = _matched(server, "code_cs_apres IN ('CS1.1.1.1', 'CS1.1.1.2')")
    assert expected > 0
    text = " OR ".join(f"code_cs_apres = '{code}'" for code in codes)
    document = {"op": "or", "args": [_equals("code_cs_apres", code) for code in codes]}
    assert _matched(server, text) == _matched(server, document=document) == expected
    assert _matched(server, document=document, get_json=True) == expected


def test_a_5000_value_in_works_over_post(server: str) -> None:
    codes = ["CS1.1.1.1", "CS1.1.1.2"] + [f"CS9.{i}" for i in range(4998)]
    expected = _matched(server, "code_cs_apres IN ('CS1.1.1.1', 'CS1.1.1.2')")
    document = {"op": "in", "args": [{"property": "code_cs_apres"}, codes]}
    assert _matched(server, document=document) == expected > 0


def test_filters_at_every_limit_work(server: str) -> None:
    """The deepest, longest filters allowed run on both stores (the depth in the SQL shape SQLite finds hardest)."""
    text = _alternating(MAX_FILTER_DEPTH)
    assert _matched(server, text) == _matched(server, B) > 0
    document = _equals("millesime_avant", 2015)
    for _ in range(MAX_FILTER_DEPTH // 2):
        document = {"op": "not", "args": [{"op": "not", "args": [document]}]}
    assert _matched(server, document=document) == _matched(server, B)
    terms = [
        _equals("millesime_avant", 2015),
        *(_equals("millesime_avant", 1000 + i) for i in range(MAX_FILTER_TERMS - 1)),
    ]
    assert _matched(server, document={"op": "or", "args": terms}) == _matched(server, B)
    values = [2015, *range(10_000, 10_000 + MAX_FILTER_VALUES - 1)]
    assert _matched(server, document={"op": "in", "args": [{"property": "millesime_avant"}, values]}) == _matched(
        server, B
    )


def test_not_not_and_precedence_mean_what_cql2_says(server: str) -> None:
    assert _matched(server, f"NOT (NOT ({A}))") == _matched(server, A) > 0
    assert _matched(server, f"NOT (NOT (NOT ({A})))") == _matched(server, f"NOT ({A})")
    # AND binds tighter than OR: a OR b AND c is a OR (b AND c).
    assert _matched(server, f"{A} OR {B} AND {C}") == _matched(server, f"{A} OR ({B} AND {C})")
    assert _matched(server, f"{A} OR {B} AND {C}") != _matched(server, f"({A} OR {B}) AND {C}")


@pytest.mark.parametrize("count", [MAX_FILTER_TERMS + 1, 2000])
def test_too_many_predicates_are_refused(server: str, count: int) -> None:
    document = {"op": "or", "args": [_equals("millesime_avant", i) for i in range(count)]}
    response = requests.post(server + DIFF, data=json.dumps(document), headers=CQL2_JSON, timeout=60)
    _refused(response, f"{count} predicates", str(MAX_FILTER_TERMS))


def test_too_many_values_are_refused(server: str) -> None:
    document = {"op": "in", "args": [{"property": "millesime_avant"}, list(range(MAX_FILTER_VALUES + 1))]}
    response = requests.post(server + DIFF, data=json.dumps(document), headers=CQL2_JSON, timeout=60)
    _refused(response, f"{MAX_FILTER_VALUES + 1} values", str(MAX_FILTER_VALUES))


def test_one_level_too_deep_is_refused(server: str) -> None:
    text = _alternating(MAX_FILTER_DEPTH + 1)
    response = requests.get(server + DIFF, params={"filter": text}, timeout=60)
    _refused(response, f"{MAX_FILTER_DEPTH + 1} nested AND/OR/NOT levels", str(MAX_FILTER_DEPTH))


@pytest.mark.parametrize("levels", [90, 600, 5000])
def test_deep_nesting_is_refused_before_parsing(server: str, levels: int) -> None:
    """Nested NOTs in text (GET) and in JSON (GET and POST): a 400 naming the limit, never a 500."""
    text = "NOT (" * levels + B + ")" * levels
    document = '{"op": "not", "args": [' * levels + json.dumps(_equals("millesime_avant", 2015)) + "]}" * levels
    _refused(requests.post(server + DIFF, data=document, headers=CQL2_JSON, timeout=60), str(MAX_FILTER_BRACKETS))
    for params, hint in (
        ({"filter": text}, f"{levels} deep"),
        ({"filter-lang": "cql2-json", "filter": document}, str(MAX_FILTER_BRACKETS)),
    ):
        response = requests.get(server + DIFF, params=params, timeout=60)
        if len(response.request.path_url) > DEFAULT_MAX_URL:  # too long for a GET: the request line's own limit
            assert response.status_code == 414, response.text[:300]
        else:
            _refused(response, hint, str(MAX_FILTER_BRACKETS))


def test_bare_brackets_are_refused(server: str) -> None:
    _refused(requests.post(server + DIFF, data="[" * 100_000, headers=CQL2_JSON, timeout=60), "100000 deep")
    _refused(requests.get(server + DIFF, params={"filter": "(" * 20_000}, timeout=60), "20000 deep")


def test_geometries_with_too_many_vertices_are_refused(server: str) -> None:
    disc = shapely.Point(-1.16, 44.65).buffer(0.01, quad_segs=MAX_FILTER_VERTICES // 4)  # 4 * quad_segs + 1
    document = {"op": "s_intersects", "args": [{"property": "geometry"}, shapely.geometry.mapping(disc)]}
    response = requests.post(server + DIFF, data=json.dumps(document), headers=CQL2_JSON, timeout=60)
    _refused(response, f"{MAX_FILTER_VERTICES + 1} vertices", str(MAX_FILTER_VERTICES))
    smaller = shapely.Point(-1.16, 44.65).buffer(0.01, quad_segs=MAX_FILTER_VERTICES // 4 - 1)
    document["args"][1] = shapely.geometry.mapping(smaller)
    assert _matched(server, document=document) > 0
