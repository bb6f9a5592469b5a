"""Processes Part 3 collection input for the artificialisation territory, over live HTTP: this server's
``communes`` read through the store, another server's collection fetched under the outbound policy (trusted host
only; the test servers run with OCSGE_OUTBOUND_LOOPBACK_ONLY and OCSGE_TRUSTED_HOSTS=localhost)."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

#: A commune with stock at 2021 and 2024 in the demo data (generated delivery).
COMMUNE = "33009"


def _execute(server: str, territoire: dict[str, object]) -> requests.Response:
    inputs = {"territoire": territoire, "millesimes": [2021, 2024]}
    return requests.post(f"{server}/processes/artificialisation/execution", json={"inputs": inputs}, timeout=300)


def _same_server_as(server: str, host: str) -> str:
    """The server's URL under another host name: another origin, so the server calls it like any remote one."""
    return f"http://{host}:{urlsplit(server).port}"


def test_own_communes_collection_is_the_communes_it_selects(server: str) -> None:
    by_codes = _execute(server, {"communes": ["33009", "33527"]})
    by_collection = _execute(
        server, {"collection": f"{server}/collections/communes", "filter": "code_insee IN ('33527', '33009')"}
    )
    assert by_codes.status_code == by_collection.status_code == 200, by_collection.text
    assert by_collection.json() == by_codes.json()


def test_a_filter_selecting_no_commune_says_so(server: str) -> None:
    answer = _execute(server, {"collection": f"{server}/collections/communes", "filter": "code_insee = '99999'"})
    assert answer.status_code == 400
    assert "selects no commune" in answer.json()["description"]


def test_another_collection_of_this_server_is_refused(server: str) -> None:
    answer = _execute(server, {"collection": f"{server}/collections/ocsge-occupation-sol"})
    assert answer.status_code == 400
    assert "only this server's communes collection" in answer.json()["description"]


def test_a_trusted_remote_collection_gives_the_union_of_its_polygons(server: str) -> None:
    remote = _same_server_as(server, "localhost")
    by_codes = _execute(server, {"communes": [COMMUNE]})
    by_remote = _execute(
        server, {"collection": f"{remote}/collections/communes", "filter": f"code_insee = '{COMMUNE}'"}
    )
    assert by_codes.status_code == by_remote.status_code == 200, by_remote.text
    mine, theirs = by_codes.json()["territoires"][0], by_remote.json()["territoires"][0]
    assert theirs["code"] == "geometrie"
    # The contour makes a round trip through CRS84 GeoJSON as served (coordinates in degrees to a few
    # centimetres), so the areas agree to far better than a hundredth of a per cent, not exactly.
    for key in ("surface_ha", "surface_artificialisee_ha"):
        assert theirs[key] == pytest.approx(mine[key], rel=1e-4)


def test_an_untrusted_private_remote_collection_is_refused(server: str) -> None:
    remote = _same_server_as(server, "127.0.0.2")
    answer = _execute(server, {"collection": f"{remote}/collections/communes", "filter": "code_insee = '33009'"})
    assert answer.status_code == 400
    assert "private or local address" in answer.json()["description"]
