"""The runtime configuration lists what the store holds, overseas territories included, in their own CRS."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyproj
import shapely

from ocsge_processes.layers import OCCUPATION_SOL
from ocsge_processes.server.config import build_config, load_template
from ocsge_processes.stores import FeatureQuery
from ocsge_processes.stores.gpkg import GpkgStore

from ..conftest import ROOT


def _reunion_frame() -> gpd.GeoDataFrame:
    squares = [
        shapely.MultiPolygon([shapely.box(340000 + i * 100, 7660000, 340100 + i * 100, 7660100)]) for i in range(3)
    ]
    return gpd.GeoDataFrame(
        {
            "id": ["a", "b", "c"],
            "code_cs": ["CS1.1.1.1"] * 3,
            "code_us": ["US5"] * 3,
            "millesime": [2022] * 3,
            "source": ["test"] * 3,
            "ossature": [0] * 3,
            "id_origine": ["NC"] * 3,
            "code_or": ["NC"] * 3,
            "departement": ["974"] * 3,
            "libelle_cs": ["Zones bâties"] * 3,
            "libelle_us": ["Usage résidentiel"] * 3,
        },
        geometry=squares,
        crs=2975,
    )


def test_overseas_data_is_published_in_its_own_crs(tmp_path: Path) -> None:
    store = GpkgStore(tmp_path / "s.gpkg")
    store.replace_slice(OCCUPATION_SOL, 2975, _reunion_frame(), {"departement": "974", "millesime": 2022})
    config = build_config(load_template(ROOT / "pygeoapi-config.yml"), str(store.path))
    collections = [name for name, r in config["resources"].items() if r["type"] == "collection"]
    assert collections == ["ocsge-occupation-sol-reunion"]
    assert config["resources"]["artificialisation"]["processor"]["store"] == str(store.path)
    resource = config["resources"]["ocsge-occupation-sol-reunion"]
    provider = resource["providers"][0]
    assert provider["epsg"] == 2975 and provider["storage_crs"].endswith("/2975")
    west, south, east, north = resource["extents"]["spatial"]["bbox"]
    assert 55 < west < east < 56 and -21.5 < south < north < -20.5  # La Réunion in CRS84
    page = store.query(OCCUPATION_SOL, 2975, FeatureQuery(out_crs=pyproj.CRS.from_user_input("OGC:CRS84")))
    lon, lat = shapely.get_coordinates(shapely.geometry.shape(page.features[0]["geometry"]))[0]
    assert 55 < lon < 56 and -21.5 < lat < -20.5


def test_generated_data_is_said_in_the_collection_description(server: str) -> None:
    import requests

    collections = {
        c["id"]: c for c in requests.get(f"{server}/collections", params={"f": "json"}).json()["collections"]
    }
    for name in ("ocsge-occupation-sol", "ocsge-zone-construite", "ocsge-difference"):
        assert "GÉNÉRÉES" in collections[name]["description"] and "2021" in collections[name]["description"], name
    assert "GÉNÉRÉES" not in collections["communes"]["description"]


def test_a_layer_the_template_does_not_describe_gets_its_own_texts_and_keywords(tmp_path: Path) -> None:
    """pygeoapi describes a collection only if it has keywords: a layer the template omits must still have some."""
    store = GpkgStore(tmp_path / "s.gpkg")
    store.replace_slice(OCCUPATION_SOL, 2975, _reunion_frame(), {"departement": "974", "millesime": 2022})
    template = load_template(ROOT / "pygeoapi-config.yml")
    template["resources"] = {
        name: resource for name, resource in template["resources"].items() if name != OCCUPATION_SOL.collection_id
    }
    resource = build_config(template, str(store.path))["resources"]["ocsge-occupation-sol-reunion"]
    assert "OCS GE" in resource["keywords"]
    assert resource["title"].startswith(OCCUPATION_SOL.title)
