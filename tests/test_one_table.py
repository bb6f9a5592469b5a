"""A new territory CRS or a new collection is one row: everything else (delivery names, département CRSs, the
configuration's collections and CRS lists, the request guard, ingest routing) follows from that row."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import geopandas as gpd
import pyproj
import pytest
import requests
import shapely

from deploy.services import LOOPBACK_ONLY, free_port, in_venv, stop_process, wait_for_server, web_command
from ocsge_processes import layers, territory
from ocsge_processes.errors import DeliveryError
from ocsge_processes.ingest import read_delivery
from ocsge_processes.ingest.names import crs_token, route_layer
from ocsge_processes.layers import INTEGER, NUMBER, STRING, Delivery, Layer
from ocsge_processes.schema import collection_schema
from ocsge_processes.server.config import build_config, load_template, write_config, write_openapi
from ocsge_processes.server.providers import FEATURE_PROVIDER, TILE_PROVIDER, our_providers
from ocsge_processes.stores.gpkg import GpkgStore
from ocsge_processes.territory import CRS84, TerritoryCrs, epsg_uri, published_crs

from .conftest import BIN, ROOT

#: A hypothetical territory on an existing EPSG code: Saint-Pierre-et-Miquelon, RGSPM06 / UTM zone 21N.
SPM = TerritoryCrs(4467, "saint-pierre-et-miquelon", ("975",), ("RGSPM06UTM21",))
SPM_COLLECTION = "ocsge-occupation-sol-saint-pierre-et-miquelon"
#: A hypothetical new collection: hedges, with a measured height. Written as the rows of layers.py are (same shape
#: as COMMUNES there): being such a row is what the tests below show is enough.
HEDGES = Layer(
    collection_id="ocsge-haies",
    table="haies",
    title="OCS GE – Haies",
    description="Hedges (a hypothetical layer, to show that a collection is one row).",
    fields={"id": STRING, "hauteur_m": NUMBER, "millesime": INTEGER, "departement": STRING},
    delivery=Delivery(names=(("haie",),), rank=6, fields=(("hauteur_m",),), required=("hauteur_m",)),
    tiles=True,
)


@pytest.fixture
def with_spm(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(territory, "TERRITORY_CRS", (*territory.TERRITORY_CRS, SPM))


@pytest.fixture
def with_hedges(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(layers.LAYERS, HEDGES.collection_id, HEDGES)
    monkeypatch.setitem(layers.FIELD_DESCRIPTIONS, "hauteur_m", "Height of the hedge (m).")


def test_every_field_of_every_layer_is_described() -> None:
    """A field's meaning is its row of FIELD_DESCRIPTIONS, which the JSON Schemas read (a missing one would fail
    there, at request time)."""
    missing = {
        layer.collection_id: sorted(set(layer.fields) - set(layers.FIELD_DESCRIPTIONS))
        for layer in layers.LAYERS.values()
    }
    assert not any(missing.values()), missing


def test_published_crs_list_is_the_one_the_template_wrote_by_hand() -> None:
    """Derived from the table, the list (and its order: CRS84 first, clients' default) is what was published."""
    assert published_crs() == [CRS84] + [epsg_uri(code) for code in (2154, 4326, 3857, 5490, 2972, 2975, 4471)]


@pytest.mark.usefixtures("with_spm")
def test_a_territory_row_gives_its_token_departement_and_crs() -> None:
    assert published_crs()[-1] == epsg_uri(4467)
    assert territory.departement_epsg("975") == 4467
    assert territory.departement_epsg("D975") == 4467
    assert crs_token(["OCS-GE_2-0__GPKG_RGSPM06UTM21_D975_2021-01-01"]) == ("RGSPM06UTM21", 4467)
    assert territory.crs_token(4467) == "RGSPM06UTM21"


def _spm_squares(count: int) -> gpd.GeoDataFrame:
    """``count`` 100 m squares on Saint-Pierre (46.78° N, 56.18° W), in EPSG:4467."""
    x, y = pyproj.Transformer.from_crs("OGC:CRS84", 4467, always_xy=True).transform(-56.18, 46.78)
    squares = [shapely.box(x + i * 200, y, x + i * 200 + 100, y + 100) for i in range(count)]
    return gpd.GeoDataFrame(
        {"id": [f"spm-{i}" for i in range(count)], "code_cs": ["CS1.1.1.1"] * count, "code_us": ["US5"] * count},
        geometry=[shapely.MultiPolygon([square]) for square in squares],
        crs=4467,
    )


@contextmanager
def _server(config: dict[str, object], folder: Path, url: str) -> Iterator[None]:
    """One gunicorn worker serving ``config`` (written to ``folder``) at ``url``."""
    config_path = write_config(config, folder / "pygeoapi-config.yml")
    openapi_path = write_openapi(config, folder / "openapi.yml")
    env = {**os.environ, **LOOPBACK_ONLY, "PYGEOAPI_CONFIG": str(config_path), "PYGEOAPI_OPENAPI": str(openapi_path)}
    log_path = folder / "gunicorn.log"
    with log_path.open("w") as log:
        bind = url.removeprefix("http://")
        proc = subprocess.Popen(in_venv(web_command(bind, 1), BIN), env=env, cwd=ROOT, stdout=log, stderr=log)
        try:
            wait_for_server(url, proc, log_path)
            yield
        finally:
            stop_process(proc)


@pytest.mark.slow  # starts a live server
@pytest.mark.usefixtures("with_spm")
def test_a_territory_row_is_ingested_published_and_served_in_its_crs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ingest by the name's CRS token and D975, a collection named after the territory in the configuration, and a
    live server that takes the new CRS as crs and bbox-crs because the configuration's lists come from the table."""
    delivery = tmp_path / "OCS-GE_2-0__GPKG_RGSPM06UTM21_D975_2021-01-01.gpkg"
    _spm_squares(3).to_file(delivery, layer="occupation_sol")
    store = GpkgStore(tmp_path / "store.gpkg")
    for batch in read_delivery(delivery):
        assert (batch.layer, batch.epsg, batch.slice) == (
            layers.OCCUPATION_SOL,
            4467,
            {"departement": "975", "millesime": 2021},
        )
        store.replace_slice(batch.layer, batch.epsg, batch.frame, batch.slice)

    url = f"http://127.0.0.1:{free_port()}"
    monkeypatch.setenv("OCSGE_URL", url)
    monkeypatch.setenv("OCSGE_JOBS", str(tmp_path / "jobs.sqlite"))
    config = build_config(load_template(ROOT / "pygeoapi-config.yml"), str(store.path))
    collections = [name for name, resource in config["resources"].items() if resource["type"] == "collection"]
    assert collections == [SPM_COLLECTION]
    (name, provider), *others = our_providers(config)
    assert (name, provider.name, provider.epsg, provider.collection) == (
        SPM_COLLECTION,
        FEATURE_PROVIDER,
        4467,
        "ocsge-occupation-sol",
    )
    # only the CRSs meaningful at Saint-Pierre: the global ones and its own, no other territory's
    assert provider.crs == (CRS84, epsg_uri(4326), epsg_uri(3857), epsg_uri(4467))
    assert provider.definition["storage_crs"] == epsg_uri(4467)
    assert [(other_name, other.name) for other_name, other in others] == [(SPM_COLLECTION, TILE_PROVIDER)]

    spm = epsg_uri(4467)
    x0, y0, x1, y1 = _spm_squares(3).total_bounds
    items = f"{url}/collections/{SPM_COLLECTION}/items"
    with _server(config, tmp_path, url):
        described = requests.get(f"{url}/collections/{SPM_COLLECTION}", params={"f": "json"}, timeout=30).json()
        assert spm in described["crs"] and described["storageCrs"] == spm
        # the first two squares only: the box ends between the second and the third
        box = f"{x0},{y0},{x0 + 350},{y1}"
        answer = requests.get(items, params={"f": "json", "crs": spm, "bbox-crs": spm, "bbox": box}, timeout=30)
        assert answer.status_code == 200, answer.text
        assert answer.headers["Content-Crs"] == f"<{spm}>"
        page = answer.json()
        assert sorted(f["properties"]["id"] for f in page["features"]) == ["spm-0", "spm-1"]
        xs = [x for f in page["features"] for x, _ in shapely.get_coordinates(shapely.geometry.shape(f["geometry"]))]
        assert x0 <= min(xs) and max(xs) <= x1  # metres of UTM 21N, not degrees
        # a CRS outside the table (WGS 84 / UTM 21N, same zone) is refused, saying what is offered
        refused = requests.get(items, params={"f": "json", "crs": epsg_uri(32621)}, timeout=30)
        assert refused.status_code == 400 and spm in refused.json()["description"]


@pytest.mark.usefixtures("with_hedges")
def test_a_layer_row_routes_ingest_and_makes_its_collection(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The Layer row alone: ingest routes a delivery to it by its name and fields, requires its columns, types its
    number field; the configuration publishes it (features and tiles) with the layer's own texts."""
    assert route_layer(["haies_2021"], ["id", "hauteur_m"]) is HEDGES
    assert route_layer(["haies_2021"], ["id"]) is HEDGES  # named, the fields need not tell
    assert route_layer(["ocsge_2021"], ["id", "hauteur_m"]) is None  # fields only refine what a name announces
    x, y = 380_000.0, 6_400_000.0  # near Arcachon, Lambert-93
    frame = gpd.GeoDataFrame(
        {"id": ["h1", "h2"], "hauteur_m": ["2.5", "4"]},
        geometry=[shapely.MultiPolygon([shapely.box(x + i * 50, y, x + i * 50 + 30, y + 3)]) for i in range(2)],
        crs=2154,
    )
    delivery = tmp_path / "HAIES_LAMB93_D033_2021.gpkg"
    frame.to_file(delivery, layer="haies")
    (batch,) = read_delivery(delivery)
    assert (batch.layer, batch.epsg, batch.slice) == (HEDGES, 2154, {"departement": "33", "millesime": 2021})
    assert list(batch.frame.columns) == [*HEDGES.fields, "geometry"]
    assert batch.frame["hauteur_m"].tolist() == [2.5, 4.0]
    store = GpkgStore(tmp_path / "store.gpkg")
    store.replace_slice(batch.layer, batch.epsg, batch.frame, batch.slice)

    frame.drop(columns="hauteur_m").to_file(tmp_path / "HAIES_LAMB93_D033_2022.gpkg", layer="haies")
    with pytest.raises(DeliveryError, match="missing field.*hauteur_m"):
        list(read_delivery(tmp_path / "HAIES_LAMB93_D033_2022.gpkg"))
    frame.assign(hauteur_m=["2,5", "4"]).to_file(tmp_path / "HAIES_LAMB93_D033_2023.gpkg", layer="haies")
    with pytest.raises(DeliveryError, match=r"HAIES_LAMB93_D033_2023.*'hauteur_m' must hold a number.*'2,5'"):
        list(read_delivery(tmp_path / "HAIES_LAMB93_D033_2023.gpkg"))

    monkeypatch.setenv("OCSGE_JOBS", str(tmp_path / "jobs.sqlite"))
    config = build_config(load_template(ROOT / "pygeoapi-config.yml"), str(store.path))
    resource = config["resources"][HEDGES.collection_id]
    assert (resource["title"], resource["description"]) == (HEDGES.title, HEDGES.description)
    ours = [(name, provider.name, provider.collection) for name, provider in our_providers(config)]
    assert ours == [
        (HEDGES.collection_id, FEATURE_PROVIDER, HEDGES.collection_id),
        (HEDGES.collection_id, TILE_PROVIDER, HEDGES.collection_id),
    ]
    assert resource["providers"][1]["options"]["schemes"] == ["WebMercatorQuad"]  # the template's tile settings
    schema = collection_schema(HEDGES)
    assert schema["properties"]["hauteur_m"] == {
        "title": "hauteur_m",
        "type": NUMBER,
        "description": "Height of the hedge (m).",
    }
