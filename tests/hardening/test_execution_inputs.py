"""Execution requests are checked against what the process description publishes, before any job exists: deep
nesting, malformed subscribers, territories beyond the globe or with non-finite areas, oversized or repeated code
lists, wrongly typed inputs and unknown response modes are each a 400 naming the member (issue 11, items 6-8)."""

from __future__ import annotations

import json

import jsonschema
import pytest
import requests

from ocsge_processes.server.execution import MAX_DEPTH
from ocsge_processes.server.processes.artificialisation import MAX_COMMUNES

EXECUTION = "/processes/artificialisation/execution"
VALID = {"territoire": {"communes": ["33009"]}, "millesimes": [2021, 2024]}
ASYNC = {"Prefer": "respond-async"}


def _post(server: str, body: object, headers: dict | None = None) -> requests.Response:
    data = body if isinstance(body, bytes) else json.dumps(body, separators=(",", ":")).encode()
    return requests.post(
        f"{server}{EXECUTION}", data=data, timeout=300, headers={"Content-Type": "application/json", **(headers or {})}
    )


def _refused(response: requests.Response, *fragments: str) -> str:
    """The 400's description, after checking it is an OGC exception that contains each fragment."""
    assert response.status_code == 400, response.text[:500]
    body = response.json()
    assert body["code"] == "InvalidParameterValue", body
    for fragment in fragments:
        assert fragment in body["description"], body["description"]
    return body["description"]


def _jobs(server: str) -> list[str]:
    """The newest job's id (the list is newest first): a refused request must not change it."""
    jobs = requests.get(f"{server}/jobs", params={"f": "json", "limit": 1}, timeout=30).json()["jobs"]
    return [job["jobID"] for job in jobs]


def _nested(depth: int, inner: object, kind: str) -> object:
    for _ in range(depth):
        inner = [inner] if kind == "list" else {"a": inner}
    return inner


@pytest.mark.parametrize("kind", ["list", "object"])
def test_deep_nesting_is_refused_with_the_limit(server: str, kind: str) -> None:
    """1000 levels once made the guard's recursive reader fail (a bare 500); the scan does not recurse, and says
    how deep the request goes: the document, ``inputs``, ``territoire`` and the 1000 levels inside it."""
    text = json.dumps({"inputs": {"territoire": _nested(1, 0, kind), "millesimes": [2021]}})
    deep = text.replace("0", json.dumps(_nested(1000, 0, kind)), 1)
    assert deep.count("[" if kind == "list" else "{") > 1000
    _refused(_post(server, deep.encode()), f"{3 + 1000} levels deep; the limit is {MAX_DEPTH}")


def test_nesting_within_the_limit_reaches_the_schema_checks(server: str) -> None:
    inputs = {"territoire": _nested(MAX_DEPTH - 3, 0, "object"), "millesimes": [2021]}  # document + inputs
    description = _refused(_post(server, {"inputs": inputs}), "territoire")
    assert "levels" not in description


@pytest.mark.parametrize(
    ("subscriber", "fragment"),
    [
        ({"successUri": 12}, "expected a string, got 12"),
        ({"successUri": ["http://example.org/done"]}, "expected a string"),
        ({"successUri": "ftp://example.org/done"}, "not an absolute http(s) URI"),
        ({"successUri": "https://example.org/done", "failedUri": {}}, "'subscriber.failedUri'"),
        ({"inProgressUri": "https://example.org/running"}, "missing 'successUri'"),
        ({"successUri": "https://example.org/done", "callMe": "maybe"}, 'unknown "callMe"'),
    ],
    ids=["number", "list", "ftp", "object", "no-success", "unknown"],
)
def test_malformed_subscriber_is_refused_before_any_job(server: str, subscriber: dict, fragment: str) -> None:
    before = _jobs(server)
    response = _post(server, {"inputs": VALID, "subscriber": subscriber}, ASYNC)
    _refused(response, "subscriber", "of the execution request", fragment)
    assert _jobs(server) == before


@pytest.mark.parametrize(
    ("document", "fragments"),
    [
        ({"inputs": VALID, "response": "bogus"}, ["'response'", '"bogus"', '"raw" or "document"']),
        ({"inputs": VALID, "mode": "later"}, ["'mode'", '"later"']),
        ({"inputs": VALID, "outputs": {"shapefile": {}}}, ["'outputs'", "shapefile", "tableau"]),
        (
            {"inputs": VALID, "outputs": {"tableau": {"transmissionMode": "carrier-pigeon"}}},
            ["'outputs.tableau.transmissionMode'"],
        ),
        ({"inputs": VALID, "priority": "high"}, ['unknown "priority"', "inputs, outputs, response, subscriber"]),
        ({"inputs": None}, ["'inputs'", "expected a JSON object, got null"]),
    ],
    ids=["response", "mode", "output", "transmission", "unknown-member", "null-inputs"],
)
def test_execution_document_top_level_is_checked(server: str, document: dict, fragments: list[str]) -> None:
    _refused(_post(server, document, ASYNC), *fragments)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"inputs": {"territoire": {"bbox": [NaN, 44, 1, 45]}, "millesimes": [2021]}}', "NaN is not a JSON number"),
        (
            b'{"inputs": {"territoire": {"bbox": [-1, 44, 1e400, 45], "crs": "EPSG:4326"}, "millesimes": [2021]}}',
            "1e400, beyond the range",
        ),
    ],
    ids=["nan", "overflow"],
)
def test_numbers_json_cannot_hold_are_refused(server: str, body: bytes, fragment: str) -> None:
    _refused(_post(server, body), fragment)


BAD_INPUTS = {
    "bbox-1e300": (
        {**VALID, "territoire": {"bbox": [-1e300, -1e300, 1e300, 1e300]}},
        ["territoire.bbox[0]: -1e+300 is below the minimum -180"],
    ),
    "bbox-east-1e300": (
        {**VALID, "territoire": {"bbox": [-1.2, 44.6, 1e300, 44.7]}},
        ["territoire.bbox[2]: 1e+300 is above the maximum 180"],
    ),
    "longitude-200": ({**VALID, "territoire": {"bbox": [-200, 44, -190, 45]}}, ["territoire.bbox[0]", "minimum -180"]),
    "latitude-95": (
        {**VALID, "territoire": {"bbox": [-1.2, 44.6, -1.1, 95]}},
        ["territoire", "latitudes in [-90, 90]"],
    ),
    "geometry-longitude-190": (
        {
            **VALID,
            "territoire": {
                "geometry": {"type": "Polygon", "coordinates": [[[190, 44], [191, 44], [191, 45], [190, 44]]]}
            },
        },
        ["territoire", "longitudes must lie in [-180, 180]"],
    ),
    "lambert93-1e300": (
        {**VALID, "territoire": {"bbox": [-1e300, -1e300, 1e300, 1e300], "crs": "EPSG:2154"}},
        ["territoire", "no finite area"],
    ),
    "whole-globe": ({**VALID, "territoire": {"bbox": [-180, -90, 180, 90]}}, ["territoire", "no finite area"]),
    "4M-codes": (
        {**VALID, "territoire": {"communes": ["33009"] * 4_000_000}},
        ["territoire.communes", f"at most {MAX_COMMUNES} items, got 4000000"],
    ),
    "repeated-code": (
        {**VALID, "territoire": {"communes": ["33009", "33529", "33009"]}},
        ["territoire.communes", '"33009" is repeated'],
    ),
    "not-insee": (
        {**VALID, "territoire": {"communes": ["33009", "Arcachon"]}},
        ["territoire.communes[1]", "INSEE commune code"],
    ),
    "two-kinds": (
        {**VALID, "territoire": {"communes": ["33009"], "epci": "243301165"}},
        ["territoire", "only one of: communes, epci"],
    ),
    "crs-with-communes": (
        {**VALID, "territoire": {"communes": ["33009"], "crs": "EPSG:2154"}},
        ["territoire", '"crs" is not allowed'],
    ),
    "unknown-kind": ({**VALID, "territoire": {"commune": "33009"}}, ["territoire", 'unknown "commune"']),
    "detail-yes": (
        {**VALID, "detail_communes": "yes"},
        ['detail_communes: expected a boolean (true or false), got "yes"'],
    ),
    "repeated-year": ({**VALID, "millesimes": [2021, 2021]}, ["millesimes", "2021 is repeated"]),
    "fractional-year": ({**VALID, "millesimes": [2021.5]}, ["millesimes[0]", "expected an integer"]),
    "old-year": ({**VALID, "millesimes": [1789]}, ["millesimes[0]", "below the minimum 2000"]),
}
#: Valid for the published schemas (they cannot know where a CRS ends): refused by the territory itself.
DOMAIN_REFUSED = {"latitude-95", "geometry-longitude-190", "lambert93-1e300", "whole-globe"}


@pytest.mark.parametrize("case", BAD_INPUTS)
def test_bad_inputs_are_a_400_naming_the_input(server: str, case: str) -> None:
    inputs, fragments = BAD_INPUTS[case]
    _refused(_post(server, {"inputs": inputs}), *fragments)


@pytest.mark.parametrize("case", ["bbox-1e300", "4M-codes", "detail-yes"])
def test_async_bad_inputs_create_no_job(server: str, case: str) -> None:
    inputs, fragments = BAD_INPUTS[case]
    before = _jobs(server)
    _refused(_post(server, {"inputs": inputs}, ASYNC), *fragments)
    assert _jobs(server) == before


def test_published_schemas_are_the_checks(server: str) -> None:
    """The description's own schemas, applied by an independent validator, refuse what the server refuses and
    accept the example and a valid request: the two cannot disagree."""
    description = requests.get(f"{server}/processes/artificialisation", params={"f": "json"}, timeout=30).json()
    schemas = {name: spec["schema"] for name, spec in description["inputs"].items()}
    for inputs in (description["example"]["inputs"], VALID):
        for name, value in inputs.items():
            jsonschema.Draft202012Validator(schemas[name]).validate(value)
    for case, (inputs, _) in BAD_INPUTS.items():
        if case in DOMAIN_REFUSED:
            continue
        assert any(
            not jsonschema.Draft202012Validator(schemas[name]).is_valid(value) for name, value in inputs.items()
        ), case


def test_valid_requests_still_run_and_answer_strict_json(server: str) -> None:
    """A bbox and a territory by communes: 200, and JSON whose numbers are all finite."""
    for territoire in ({"bbox": [-1.2, 44.6, -1.1, 44.7]}, {"communes": ["33009", "33529"]}):
        response = _post(
            server, {"inputs": {**VALID, "territoire": territoire, "detail_communes": False}, "response": "raw"}
        )
        assert response.status_code == 200, (territoire, response.text[:500])
        document = json.loads(
            response.text, parse_constant=lambda name, where=territoire: pytest.fail(f"{name} in {where}")
        )
        assert document["territoires"][0]["surface_ha"] > 0
