"""JSON bodies on a live server, both stores: an execution request's nesting is measured in linear time whatever its
strings hold, and a CQL2 JSON filter is a condition (an object, or true / false), never a bare value."""

from __future__ import annotations

import json

import pytest
import requests

from ocsge_processes.errors import InvalidInputError
from ocsge_processes.filters import parse_filter

EXECUTION = "/processes/artificialisation/execution"
DIFF = "/collections/ocsge-difference/items"
CQL2_JSON = {"Content-Type": "application/query-cql-json"}


def _refused(response: requests.Response, *hints: str) -> str:
    assert response.status_code == 400, response.text[:500]
    body = response.json()
    assert body["code"] == "InvalidParameterValue", body
    assert all(hint in body["description"] for hint in hints), body["description"]
    return str(body["description"])


def test_an_unclosed_string_of_escaped_quotes_is_refused_promptly(server: str) -> None:
    """1 MiB of escaped quotes in an unclosed string: the former nesting scan started again at each of them (80 KB
    took 32 s, this body hours, with a worker stuck). A linear scan answers at once; the 60 s timeout is only there
    to turn a hang into a failure."""
    body = '{"inputs": {"territoire": "' + '\\"' * (512 * 1024)
    response = requests.post(
        server + EXECUTION, data=body.encode(), headers={"Content-Type": "application/json"}, timeout=60
    )
    _refused(response, "not a JSON document", "Unterminated string")


def test_a_bare_value_is_no_filter(server: str) -> None:
    for document in ([1], 2015, {"bbox": [-1.2, 44.6, -1.1, 44.7]}, {"date": "2020-01-01"}):
        response = requests.post(server + DIFF, data=json.dumps(document), headers=CQL2_JSON, timeout=60)
        _refused(response, "malformed CQL2 JSON filter", "expected")


def test_true_and_false_filters_select_all_and_nothing(server: str) -> None:
    def matched(data: str) -> int:
        response = requests.post(server + DIFF, params={"limit": 1}, data=data, headers=CQL2_JSON, timeout=60)
        assert response.status_code == 200, response.text[:500]
        return int(response.json()["numberMatched"])

    everything = requests.get(server + DIFF, params={"f": "json", "limit": 1}, timeout=60).json()["numberMatched"]
    assert everything > 0
    assert matched("true") == everything
    assert matched("false") == 0


@pytest.mark.parametrize("source", ["[1]", "2015", '"text"', "null", '{"timestamp": "2020-01-01T00:00:00Z"}'])
def test_the_parser_names_what_a_json_filter_must_be(source: str) -> None:
    with pytest.raises(InvalidInputError, match="malformed CQL2 JSON filter"):
        parse_filter(source, "cql2-json")


def test_true_reads_alike_in_both_languages() -> None:
    assert parse_filter("true", "cql2-json") == parse_filter("TRUE")
    assert parse_filter("false", "cql2-json") == parse_filter("FALSE")
