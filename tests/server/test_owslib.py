"""OWSLib, the Python OGC client, against the live server on both stores."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely
from owslib.ogcapi.features import Features

from ocsge_processes.layers import DIFFERENCE
from ocsge_processes.stores import open_store

from ..conftest import SYBARVAL


def test_collections_and_conformance(server: str) -> None:
    api = Features(server)
    ids = {c["id"] for c in api.collections()["collections"]}
    assert {"ocsge-occupation-sol", "ocsge-zone-construite", "ocsge-difference", "communes"} <= ids
    assert "ocsge-artif" not in ids, "a collection without data must not be listed"
    conformance = api.conformance()["conformsTo"]
    assert "http://www.opengis.net/spec/ogcapi-features-3/1.0/conf/filter" in conformance
    assert "http://www.opengis.net/spec/cql2/1.0/conf/cql2-json" in conformance
    assert "http://www.opengis.net/spec/cql2/1.0/conf/basic-spatial-functions" in conformance
    assert not any("create-replace-delete" in c for c in conformance)


def test_items_and_queryables(server: str) -> None:
    api = Features(server)
    page = api.collection_items("communes", limit=3)
    assert page["numberReturned"] == 3 and page["numberMatched"] == 17
    assert page["features"][0]["properties"]["epci"]
    queryables = api.collection_queryables("ocsge-occupation-sol")["properties"]
    assert "CS1.1.1.1" in queryables["code_cs"]["enum"] and "US235" in queryables["code_us"]["enum"]
    assert queryables["millesime"]["type"] == "integer"


def test_cql2_filter_matches_the_source_file(server: str) -> None:
    source = gpd.read_file(SYBARVAL, layer="artificialisation_2015_2018")
    expected = int(((source.cs_2018 == "CS1.1.1.1") & (source.us_2015 == "US5")).sum())
    source = gpd.read_file(SYBARVAL, layer="desartificialisation_2018_2015")
    expected += int(((source.cs_2018 == "CS1.1.1.1") & (source.us_2015 == "US5")).sum())
    page = Features(server).collection_items(
        "ocsge-difference",
        limit=1,
        filter="code_cs_apres = 'CS1.1.1.1' AND code_us_avant = 'US5' AND millesime_avant = 2015",
    )
    assert page["numberMatched"] == expected > 100


def test_lambert93_coordinates_equal_the_stored_ones(server: str, store_url: str) -> None:
    page = Features(server).collection_items(
        "ocsge-difference", limit=50, crs="http://www.opengis.net/def/crs/EPSG/0/2154"
    )
    stored = open_store(store_url).read_frame(DIFFERENCE, 2154).set_index("id")
    for feature in page["features"]:
        served = shapely.geometry.shape(feature["geometry"])
        original = stored.geometry[feature["properties"]["id"]]
        served_xy = shapely.get_coordinates(served)
        assert served_xy.shape == shapely.get_coordinates(original).shape
        assert np.array_equal(served_xy, shapely.get_coordinates(original))  # the storage CRS: nothing moves
    # Default output is CRS84: longitude first, in the Gironde range.
    default = Features(server).collection_items("ocsge-difference", limit=1)["features"][0]
    lon, lat = shapely.get_coordinates(shapely.geometry.shape(default["geometry"]))[0]
    assert -1.5 < lon < 0 and 44 < lat < 45.5
