"""Segmentation runs published while a live server runs (both stores, both result stores): the collection appears
without a restart, and real clients read it: features with the `run` filter and CQL2, queryables, vector tiles,
GDAL's OGC API Features driver, and the class COG through GDAL's ``/vsicurl/`` and rasterio, by range requests."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import pytest
import rasterio
import requests

from deploy.services import web_server
from ocsge_processes.results import open_results
from ocsge_processes.segmentation.vectorise import vectorise_file
from ocsge_processes.server.late import REFRESH_S
from ocsge_processes.stores import open_store
from ocsge_processes.tiles.decode import decode
from ocsge_processes.workflows.segmentation_publish import RunMetadata, publish_run
from tests import qgis_client, services
from tests.gdal_oapif import oapif_features

from ..conftest import BIN, SHARED, ocsge
from ..tiles.test_sources import tile_of
from ..workflows.test_segmentation_publish import ORTHO, SMALL_UNITS

COLLECTION = "ocsge-segmentation"
HERAULT = SHARED / "communes-admin-express-2018" / "34-herault" / "communes-34-herault.geojson"


@dataclass
class Published:
    url: str
    classes: Path
    #: Polygons of each run, as published.
    runs: dict[str, gpd.GeoDataFrame]


def _collections(url: str) -> set[str]:
    answer = requests.get(f"{url}/collections", params={"f": "json"}, timeout=30)
    return {c["id"] for c in answer.json()["collections"]}


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def published(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Published]:
    """A server started on a store holding the Hérault communes only; two runs over the real Montpellier patch are
    then published into it (the same class COG vectorised with two sets of units), as a finished job would."""
    folder = tmp_path_factory.mktemp("published")
    if request.param == "gpkg":
        store_url, jobs = str(folder / "s.gpkg"), str(folder / "jobs.sqlite")
    else:
        store_url = services.fresh_database(request.getfixturevalue("postgis_url"), "ocsge_segmentation_served")
        jobs = store_url
    ocsge("ingest", "--store", store_url, str(HERAULT))
    classes = folder / "classes.tif"
    ocsge("segment", str(ORTHO / "test_data_rgb.tif"), "--irc", str(ORTHO / "test_data_irc.tif"), "--out", str(classes))
    runs = {"run-small": vectorise_file(classes, units=SMALL_UNITS), "run-ocsge": vectorise_file(classes)}
    with web_server(store_url, folder / "server", BIN, OCSGE_JOBS=jobs) as url:
        assert COLLECTION not in _collections(url), "no empty collection is listed"
        for run, polygons in runs.items():
            metadata = RunMetadata(run, "default", "34", "2021-06-14" if run == "run-small" else None)
            publish_run(open_store(store_url), open_results(jobs), polygons, classes, metadata, base_url=url)
        services.wait_until(lambda: COLLECTION in _collections(url), timeout_s=60)
        yield Published(url, classes, runs)


def _items(url: str, **params: str) -> dict:
    answer = requests.get(f"{url}/collections/{COLLECTION}/items", params={"f": "json", **params}, timeout=60)
    assert answer.status_code == 200, answer.text[:500]
    return answer.json()


def test_every_web_process_lists_the_collection_published_after_start(published: Published) -> None:
    time.sleep(REFRESH_S)  # each of the two workers has looked at the store again by its next request
    for _ in range(8):
        assert COLLECTION in _collections(published.url)
    described = requests.get(f"{published.url}/collections/{COLLECTION}", params={"f": "json"}, timeout=30).json()
    assert described["title"].startswith("Segmentation")
    assert any(link["rel"] == "stylesheet" for link in described["links"])


def test_features_are_filtered_by_run_and_by_cql2(published: Published) -> None:
    small, ocsge_units = published.runs["run-small"], published.runs["run-ocsge"]
    assert _items(published.url, limit="1")["numberMatched"] == len(small) + len(ocsge_units)
    assert _items(published.url, run="run-small", limit="1")["numberMatched"] == len(small)
    by_cql = _items(published.url, filter="run = 'run-ocsge'", limit="1000")
    assert by_cql["numberMatched"] == len(ocsge_units)
    assert sorted(f["properties"]["code_cs"] for f in by_cql["features"]) == sorted(ocsge_units["code_cs"])
    code = small["code_cs"].iloc[0]
    both = _items(published.url, filter=f"run = 'run-small' AND code_cs = '{code}'", limit="1")
    assert both["numberMatched"] == int((small["code_cs"] == code).sum())
    (feature,) = _items(published.url, run="run-small", limit="1")["features"]
    properties = feature["properties"]
    assert (properties["modele"], properties["departement"], properties["date_prise_de_vue"]) == (
        "default",
        "34",
        "2021-06-14",
    )
    assert properties["libelle_cs"] and feature["geometry"]["type"] == "MultiPolygon"
    dated = _items(published.url, filter="date_prise_de_vue IS NULL", limit="1")["numberMatched"]
    assert dated == len(ocsge_units)
    assert _items(published.url, run="no-such-run", limit="1")["numberMatched"] == 0
    # The request guard knows the collection published after start: an unknown parameter is a 400 naming it.
    refused = requests.get(f"{published.url}/collections/{COLLECTION}/items", params={"modèle": "x"}, timeout=30)
    assert refused.status_code == 400 and "run" in refused.json()["description"]


def test_queryables_name_the_run_and_the_codes(published: Published) -> None:
    answer = requests.get(f"{published.url}/collections/{COLLECTION}/queryables", params={"f": "json"}, timeout=30)
    properties = answer.json()["properties"]
    assert {"run", "code_cs", "modele", "date_prise_de_vue", "departement"} <= set(properties)


def _patch_tile(zoom: int) -> tuple[int, int, int]:
    lon, lat = pyproj.Transformer.from_crs(2154, 4326, always_xy=True).transform(770_575.0, 6_277_575.0)
    return tile_of(lon, lat, zoom)


def test_vector_tiles_carry_each_run_and_filter_on_it(published: Published) -> None:
    z, x, y = _patch_tile(16)
    base = f"{published.url}/collections/{COLLECTION}/tiles/WebMercatorQuad/{z}/{y}/{x}"
    runs: dict[str, set[str]] = {}
    for run in (None, "run-small", "run-ocsge"):
        answer = requests.get(base, params={"f": "mvt", **({"run": run} if run else {})}, timeout=60)
        assert answer.status_code == 200, answer.text[:300]
        (layer,) = decode(answer.content).values()
        assert layer.name == COLLECTION
        runs[run or "all"] = {feature.properties["run"] for feature in layer.features}
        if run:
            codes = sorted(feature.properties["code_cs"] for feature in layer.features)
            assert codes == sorted(published.runs[run]["code_cs"]), "the whole 50 m patch lies in one tile"
    assert runs == {"all": {"run-small", "run-ocsge"}, "run-small": {"run-small"}, "run-ocsge": {"run-ocsge"}}
    refused = requests.get(base, params={"f": "mvt", "modele": "default"}, timeout=30)
    assert refused.status_code == 400 and "run" in refused.json()["description"]


def test_gdal_reads_the_collection_over_oapif(published: Published, tmp_path: Path) -> None:
    features = oapif_features(f"{published.url}/collections/{COLLECTION}", tmp_path / "copy.geojson")
    counted = {run: sum(f["properties"]["run"] == run for f in features) for run in published.runs}
    assert counted == {run: len(polygons) for run, polygons in published.runs.items()}


def test_the_class_cog_is_read_by_gdal_and_rasterio_over_http(published: Published) -> None:
    href = f"{published.url}/results/run-small/classes.tif"
    local = published.classes.read_bytes()
    part = requests.get(href, headers={"Range": "bytes=100-1099"}, timeout=30)
    assert part.status_code == 206 and part.content == local[100:1100]
    info = subprocess.run(["gdalinfo", "-json", f"/vsicurl/{href}"], capture_output=True, text=True, timeout=120)
    assert info.returncode == 0, info.stderr[-2000:]
    described = json.loads(info.stdout)
    assert described["size"] == [252, 252] and described["metadata"][""]["OCSGE_OUTPUT"] == "cs"
    with rasterio.open(f"/vsicurl/{href}") as remote, rasterio.open(published.classes) as mine:
        assert remote.transform == mine.transform and remote.nodata == mine.nodata
        assert np.array_equal(remote.read(1), mine.read(1))


def test_qgis_opens_the_class_cog_by_url(published: Published) -> None:
    """As a QGIS user adds a COG from its URL (GDAL's /vsicurl/ underneath): the grid and every pixel's class."""
    qgis_client.require_qgis()
    seen = qgis_client.load_raster(f"{published.url}/results/run-small/classes.tif")
    assert seen["valid"], seen
    with rasterio.open(published.classes) as mine:
        values, counts = np.unique(mine.read(1), return_counts=True)
        expected = {str(v): int(n) for v, n in zip(values.tolist(), counts.tolist(), strict=True) if v != mine.nodata}
        assert (seen["width"], seen["height"]) == (mine.width, mine.height)
        assert seen["extent"] == pytest.approx(list(mine.bounds), abs=1e-6)  # the same numbers, printed and parsed
    assert seen["counts"] == expected
