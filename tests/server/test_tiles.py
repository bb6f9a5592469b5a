"""OGC API – Tiles over live HTTP on both stores: decoded tiles, millésime filters, errors, HTTP cache, links."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
import requests

from ocsge_processes.layers import ARTIFICIALISATION_COMMUNES, DIFFERENCE, OCCUPATION_SOL, Layer
from ocsge_processes.stores import open_store
from ocsge_processes.tiles import store_tile
from ocsge_processes.tiles.decode import decode

from ..tiles.test_sources import tile_of

MVT = "application/vnd.mapbox-vector-tile"
LAYERS = [OCCUPATION_SOL, DIFFERENCE, ARTIFICIALISATION_COMMUNES]
#: Arcachon at zoom 14 (z, x, y): every tiled collection has features there.
Z, X, Y = tile_of(-1.16, 44.65, 14)


def tile_url(server: str, collection: str, z: int = Z, x: int = X, y: int = Y, tms: str = "WebMercatorQuad") -> str:
    """OGC order: tileMatrix/tileRow/tileCol, i.e. z/y/x."""
    return f"{server}/collections/{collection}/tiles/{tms}/{z}/{y}/{x}"


def get_tile(server: str, layer: Layer, **params) -> list:
    response = requests.get(tile_url(server, layer.collection_id), params={"f": "mvt", **params}, timeout=60)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"] == MVT
    decoded = decode(response.content)
    assert list(decoded) == [layer.collection_id], "one layer, named as the collection (the styles' source-layer)"
    return decoded[layer.collection_id].features


@pytest.mark.parametrize("layer", LAYERS, ids=lambda layer: layer.collection_id)
def test_served_tiles_hold_codes_and_are_the_store_tiles(server: str, store_url: str, layer: Layer) -> None:
    features = get_tile(server, layer)
    assert features
    for feature in features:
        assert feature.type == 3 and feature.geometry.is_valid
        assert not {"libelle_cs", "libelle_us", "source", "nom"} & set(feature.properties), "labels come from styles"
        for name, prefix in layer.coded.items():
            assert feature.properties[name].startswith(prefix.upper())
    built = decode(store_tile(open_store(store_url), layer, 2154, Z, X, Y))[layer.collection_id].features
    assert [(f.properties, f.geometry.wkb) for f in features] == [(f.properties, f.geometry.wkb) for f in built]


@pytest.mark.parametrize(
    "layer, name, value",
    [
        (OCCUPATION_SOL, "millesime", 2024),
        (OCCUPATION_SOL, "millesime", 2021),
        (DIFFERENCE, "millesime_avant", 2015),
        (DIFFERENCE, "millesime_apres", 2018),
        (ARTIFICIALISATION_COMMUNES, "millesime_avant", 2021),
    ],
    ids=lambda v: getattr(v, "collection_id", str(v)),
)
def test_millesime_filters_select(server: str, layer: Layer, name: str, value: int) -> None:
    everything = get_tile(server, layer)
    selected = get_tile(server, layer, **{name: str(value)})
    assert selected and {f.properties[name] for f in selected} == {value}
    assert len(selected) == sum(f.properties[name] == value for f in everything)


@pytest.mark.parametrize(
    "collection, path, params, status, words",
    [
        ("ocsge-occupation-sol", (17, X, Y), {}, 404, "tile matrices 0 to 16"),
        ("ocsge-occupation-sol", (25, 0, 0), {}, 404, "0 to 24"),
        ("ocsge-occupation-sol", (14, 16384, 0), {}, 404, "columns 0 to 16383"),
        ("ocsge-occupation-sol", (14, 0, -1), {}, 404, "rows 0 to 16383"),
        ("ocsge-occupation-sol", ("a", 0, 0), {}, 400, "tileMatrix must be an integer"),
        ("ocsge-occupation-sol", (Z, X, Y), {"millesime": "deux-mille"}, 400, "'millesime' is of type integer"),
        ("ocsge-occupation-sol", (Z, X, Y), {"code_cs": "CS1.1.1.1"}, 400, "unknown query parameter 'code_cs'"),
        ("ocsge-difference", (Z, X, Y), {"millesime": "2018"}, 400, "millesime_avant, millesime_apres"),
        ("ocsge-difference", (Z, X, Y), {"f": "json"}, 400, "f=mvt"),
    ],
)
def test_bad_tile_requests_say_what_is_wrong(
    server: str, collection: str, path: tuple, params: dict, status: int, words: str
) -> None:
    z, x, y = path
    response = requests.get(tile_url(server, collection, z, x, y), params=params, timeout=60)
    assert response.status_code == status, response.text
    body = response.json()
    assert body["code"] == ("NotFound" if status == 404 else "InvalidParameterValue")
    assert words in body["description"]


def test_unknown_tile_matrix_set_is_404(server: str) -> None:
    response = requests.get(tile_url(server, "ocsge-difference", tms="WorldCRS84Quad"), timeout=60)
    assert response.status_code == 404
    assert response.json() == {
        "code": "NotFound",
        "type": "NotFound",
        "description": "tile matrix set 'WorldCRS84Quad' is not offered for ocsge-difference; offered: WebMercatorQuad",
    }


def test_etag_if_none_match_and_cache_control(server: str) -> None:
    url = tile_url(server, "ocsge-occupation-sol")
    first = requests.get(url, params={"millesime": "2024"}, timeout=60)
    etag, cache = first.headers["ETag"], first.headers["Cache-Control"]
    assert etag.startswith('"') and cache == "public, max-age=600"
    again = requests.get(url, params={"millesime": "2024"}, headers={"If-None-Match": f'"other", {etag}'}, timeout=60)
    assert again.status_code == 304 and again.content == b"" and again.headers["ETag"] == etag
    assert again.headers["Cache-Control"] == cache
    stale = requests.get(url, params={"millesime": "2024"}, headers={"If-None-Match": '"other"'}, timeout=60)
    assert stale.status_code == 200 and stale.content == first.content
    # nothing stored in Burgundy: an empty tile, cacheable like the others
    empty = requests.get(tile_url(server, "ocsge-occupation-sol", *tile_of(5.0, 47.0, 14)), timeout=60)
    assert empty.status_code == 204 and empty.content == b"" and empty.headers["ETag"] == etag


def test_collections_link_tilesets_and_styles_whose_tiles_are_served(server: str) -> None:
    expected = {
        "ocsge-occupation-sol": {"couverture", "usage"},
        "ocsge-difference": {"difference"},
        "artificialisation-communes": {"artificialisation"},
    }
    for collection, names in expected.items():
        links = requests.get(f"{server}/collections/{collection}", params={"f": "json"}, timeout=60).json()["links"]
        assert any(link["rel"].endswith("/tilesets-vector") for link in links)
        sheets = [link for link in links if link["rel"] == "stylesheet"]
        assert {urlsplit(link["href"]).path.rsplit("/", 1)[1] for link in sheets} == {f"{n}.json" for n in names}
        drawn = 0  # a style of one millésime may find its tile here empty (204), not every one
        for link in sheets:
            assert link["type"] == "application/vnd.mapbox.style+json"
            style = requests.get(link["href"], timeout=60).json()
            template = style["sources"][collection]["tiles"][0]
            tile = requests.get(template.format(z=Z, x=X, y=Y), timeout=60)
            assert tile.status_code in (200, 204), (template, tile.status_code, tile.text[:300])
            drawn += tile.status_code == 200 and tile.headers["Content-Type"] == MVT
        assert drawn, f"no style of {collection} finds a tile at {Z}/{X}/{Y}"
    tilesets = requests.get(f"{server}/collections/ocsge-difference/tiles", params={"f": "json"}, timeout=60).json()
    assert [t["tileMatrixSetURI"] for t in tilesets["tilesets"]] == [
        "http://www.opengis.net/def/tilematrixset/OGC/1.0/WebMercatorQuad"
    ]
    tilejson = requests.get(
        f"{server}/collections/ocsge-difference/tiles/WebMercatorQuad/metadata", params={"f": "tilejson"}, timeout=60
    ).json()
    assert (tilejson["minzoom"], tilejson["maxzoom"]) == (0, 16)
    assert tilejson["vector_layers"][0]["id"] == "ocsge-difference"
    assert requests.get(tilejson["tiles"][0].format(z=Z, x=X, y=Y), timeout=60).status_code == 200
