"""Features behaviour over live HTTP, identical on both stores: filters, paging, sorting, properties, CRS."""

from __future__ import annotations

import json

import requests

DIFF = "/collections/ocsge-difference/items"
OCS = "/collections/ocsge-occupation-sol/items"


def _get(server: str, path: str, **params) -> dict:
    response = requests.get(server + path, params={"f": "json", **params}, timeout=60)
    assert response.status_code == 200, response.text[:500]
    return response.json()


def test_cql2_text_json_get_and_post_agree(server: str) -> None:
    text = "code_cs_apres IN ('CS1.1.1.1','CS1.1.1.2') AND millesime_avant BETWEEN 2014 AND 2016"
    as_json = {
        "op": "and",
        "args": [
            {"op": "in", "args": [{"property": "code_cs_apres"}, ["CS1.1.1.1", "CS1.1.1.2"]]},
            {"op": "between", "args": [{"property": "millesime_avant"}, 2014, 2016]},
        ],
    }
    by_text = _get(server, DIFF, filter=text, limit=1)["numberMatched"]
    by_json = _get(server, DIFF, filter=json.dumps(as_json), **{"filter-lang": "cql2-json"}, limit=1)
    posted = requests.post(
        server + DIFF,
        params={"limit": 1},
        data=json.dumps(as_json),
        timeout=60,
        headers={"Content-Type": "application/query-cql-json"},
    ).json()
    assert by_text == by_json["numberMatched"] == posted["numberMatched"] > 0


def test_spatial_filters_and_bbox(server: str) -> None:
    box = (-1.17, 44.64, -1.15, 44.66)  # Arcachon, CRS84
    polygon = f"POLYGON(({box[0]} {box[1]},{box[2]} {box[1]},{box[2]} {box[3]},{box[0]} {box[3]},{box[0]} {box[1]}))"
    by_filter = _get(server, DIFF, filter=f"S_INTERSECTS(geometry,{polygon})", limit=1000)
    by_json_bbox = _get(
        server,
        DIFF,
        **{"filter-lang": "cql2-json"},
        limit=1000,
        filter=json.dumps({"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": list(box)}]}),
    )
    assert 0 < by_filter["numberMatched"] == by_json_bbox["numberMatched"]
    # A CRS84 bbox is the same curved shape in Lambert-93 as the filter's rectangle: exactly the same features.
    by_bbox = _get(server, DIFF, bbox=",".join(map(str, box)), limit=1000)
    assert by_bbox["numberMatched"] == by_filter["numberMatched"]
    assert {f["id"] for f in by_bbox["features"]} == {f["id"] for f in by_filter["features"]}
    disjoint = _get(server, DIFF, filter=f"S_DISJOINT(geometry,{polygon})", limit=1)["numberMatched"]
    total = _get(server, DIFF, limit=1)["numberMatched"]
    assert disjoint + by_filter["numberMatched"] == total
    # In the storage CRS, bbox + bbox-crs and a filter in filter-crs select exactly the same features.
    l93 = "http://www.opengis.net/def/crs/EPSG/0/2154"
    by_l93_bbox = _get(server, DIFF, limit=1000, bbox="361000,6399000,363500,6401500", **{"bbox-crs": l93})
    by_l93_filter = _get(
        server,
        DIFF,
        limit=1000,
        **{"filter-crs": l93},
        filter=(
            "S_INTERSECTS(geometry,POLYGON((361000 6399000,363500 6399000,363500 6401500,361000 6401500,"
            "361000 6399000)))"
        ),
    )
    assert 0 < by_l93_bbox["numberMatched"] == by_l93_filter["numberMatched"]
    assert all(f["properties"]["departement"] == "33" for f in by_l93_bbox["features"])


def test_quotes_like_casei_and_null(server: str) -> None:
    communes = _get(server, "/collections/communes/items", filter="nom = 'Lège-Cap-Ferret'")
    assert communes["numberMatched"] == 1 and communes["features"][0]["id"] == "33236"
    none = _get(server, "/collections/communes/items", filter="nom = 'L''Isle-Inconnue'")
    assert none["numberMatched"] == 0
    like = _get(server, "/collections/communes/items", filter="nom LIKE 'La%'")
    assert {f["properties"]["nom"] for f in like["features"]} == {"La Teste-de-Buch", "Lanton"}
    casei = _get(server, "/collections/communes/items", filter="CASEI(nom) = CASEI('ARCACHON')")
    assert casei["numberMatched"] == 1
    nulls = _get(server, DIFF, filter="code_cs_avant IS NULL AND millesime_avant = 2015", limit=10)
    assert nulls["numberMatched"] == 4


def test_paging_is_stable_and_complete(server: str) -> None:
    full = _get(server, DIFF, limit=3000, sortby="-code_cs_apres", filter="millesime_avant = 2015")
    ids: list[str] = []
    url = f"{server}{DIFF}?f=json&limit=700&sortby=-code_cs_apres&filter=millesime_avant%20%3D%202015"
    while url:
        page = requests.get(url, timeout=60).json()
        ids.extend(f["id"] for f in page["features"])
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
    assert len(ids) == len(set(ids)) == full["numberMatched"] == 5266
    assert ids[:3000] == [f["id"] for f in full["features"]]
    codes = [f["properties"]["code_cs_apres"] or "" for f in full["features"]]
    assert codes == sorted(codes, reverse=True)


def test_properties_skip_geometry_and_equality_parameters(server: str) -> None:
    page = _get(server, OCS, properties="code_cs,millesime", skipGeometry="true", limit=5, millesime=2024)
    assert page["features"] and all(f["geometry"] is None for f in page["features"])
    assert all(set(f["properties"]) == {"id", "code_cs", "millesime"} for f in page["features"])
    assert all(f["properties"]["millesime"] == 2024 for f in page["features"])


def test_generated_data_says_it_is_generated(server: str) -> None:
    page = _get(server, OCS, limit=20)
    assert page["features"] and all("generated" in f["properties"]["source"] for f in page["features"])
    assert all(f["properties"]["libelle_cs"] for f in page["features"])


def test_single_item_in_another_crs(server: str) -> None:
    feature = requests.get(
        f"{server}/collections/communes/items/33009",
        timeout=30,
        params={"f": "json", "crs": "http://www.opengis.net/def/crs/EPSG/0/3857"},
    )
    assert feature.status_code == 200
    assert feature.headers["Content-Crs"].endswith("3857>")
    x = feature.json()["geometry"]["coordinates"][0][0][0][0]
    assert -140000 < x < -110000  # Arcachon in Web Mercator metres


def test_html_pages_render(server: str) -> None:
    for path in (
        "/",
        "/collections/communes/items",
        "/collections/communes/items/33009",
        "/collections/ocsge-occupation-sol/queryables",
    ):
        response = requests.get(server + path, params={"f": "html"}, timeout=60)
        assert response.status_code == 200 and "<html" in response.text.lower(), path
    assert "IGN" in requests.get(server + "/collections/communes/items", params={"f": "html"}, timeout=60).text
