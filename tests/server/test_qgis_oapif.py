"""QGIS as it is (Debian's 3.22, offscreen, its OGC API – Features provider) loads every collection of the live
server with the field types of the layer table, the server's feature count, and exactly the features of a bbox.

QGIS 3.22 types fields from the first page it reads (``items?limit=10``, recorded in the server's access log while
writing this test): a numeric field null in all ten features becomes text. ``artificialisation-communes`` holds
such nulls (no stock without an OCCUPATION_SOL layer), so its items come newest pair first, where stocks are.
"""

from __future__ import annotations

from collections import Counter

import pytest
import requests

from ocsge_processes.layers import INTEGER, NUMBER, STRING, get_layer

from .. import qgis_client

#: Around Arcachon (CRS84): features of every collection, and some crossing the box's edges.
ARCACHON = (-1.20, 44.62, -1.13, 44.68)
#: QGIS's type names for the layer table's types (QGIS reads GeoJSON integers as Integer or Integer64).
QGIS_TYPES = {STRING: {"String"}, INTEGER: {"Integer", "Integer64"}, NUMBER: {"Real"}}


def _api(server: str, path: str, **params: str) -> dict:
    response = requests.get(f"{server}{path}", params={"f": "json", **params}, timeout=300)
    assert response.status_code == 200, response.text[:300]
    return response.json()


@pytest.fixture(scope="module")
def loaded(server: str) -> dict:
    """What QGIS made of each collection of the server, loaded once per store."""
    qgis_client.require_qgis()
    collections = sorted(c["id"] for c in _api(server, "/collections")["collections"])
    return qgis_client.load_oapif(server, collections, ARCACHON)["layers"]


def test_every_collection_loads_with_the_field_types_of_the_layer_table(loaded: dict) -> None:
    layers = loaded
    assert "artificialisation-communes" in layers
    for collection_id, layer in layers.items():
        assert layer["valid"], collection_id
        fields = get_layer(collection_id).fields  # the demo stores hold metropolitan collections only
        wrong = {name: got for name, got in layer["fields"].items() if got not in QGIS_TYPES[fields.get(name, STRING)]}
        assert not wrong, (collection_id, wrong)
        assert set(fields) <= set(layer["fields"]), collection_id


def test_the_demo_data_holds_the_nulls_that_typed_fields_as_text(server: str) -> None:
    """The type test above could fail: some rows lack the stock figures, and more than QGIS's first page of them."""
    items = "/collections/artificialisation-communes/items"
    nulls = _api(server, items, limit="1", filter="surface_artificialisee_ha IS NULL", skipGeometry="true")
    values = _api(server, items, limit="1", filter="surface_artificialisee_ha IS NOT NULL", skipGeometry="true")
    assert nulls["numberMatched"] >= 10 and values["numberMatched"] >= 1


def test_every_collection_counts_what_the_server_matches(server: str, loaded: dict) -> None:
    layers = loaded
    for collection_id, layer in layers.items():
        matched = _api(server, f"/collections/{collection_id}/items", limit="1", skipGeometry="true")["numberMatched"]
        assert layer["count"] == matched > 0, collection_id


def test_a_map_view_fetches_exactly_the_features_of_its_box(server: str, loaded: dict) -> None:
    layers = loaded
    seen = 0
    for collection_id, layer in layers.items():
        page = _api(
            server,
            f"/collections/{collection_id}/items",
            bbox=",".join(map(str, ARCACHON)),
            limit="10000",
            skipGeometry="true",
        )
        assert page["numberReturned"] < 10_000
        expected = Counter(str(f["properties"].get("id", f["id"])) for f in page["features"])
        assert Counter(layer["in_bbox"]) == expected, collection_id
        seen += len(expected)
    assert seen > 0
