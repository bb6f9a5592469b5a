"""The change between two segmentation runs of the real Montpellier patch (the second with a roof pasted over trees),
asked for with ``ocsge segment-change`` while a live server runs: the features and the vector tiles of
``ocsge-segmentation-changement`` are the known edit, and the printed flows equal an independent pixel count."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pyproj
import pytest
import requests

from deploy.services import web_server
from ocsge_processes.artificialisation.impermeable import impermeable_codes
from ocsge_processes.layers import AI_COUVERTURE_NOTICE
from ocsge_processes.results import open_results
from ocsge_processes.segmentation.engine import segment_files
from ocsge_processes.segmentation.vectorise import read_class_raster, vectorise_file
from ocsge_processes.stores import open_store
from ocsge_processes.tiles.decode import decode
from ocsge_processes.workflows.segmentation_publish import RunMetadata, publish_run
from tests import services

from ..conftest import BIN, SHARED, ocsge
from ..segmentation.test_change import ORTHO, expected_change, write_campaign_b
from ..tiles.test_sources import tile_of

COLLECTION = "ocsge-segmentation-changement"
HERAULT = SHARED / "communes-admin-express-2018" / "34-herault" / "communes-34-herault.geojson"


@dataclass
class Served:
    url: str
    printed: dict
    #: Pixels of the kept change, counted independently of the module, and the two class rasters.
    expected: np.ndarray
    before: np.ndarray
    after: np.ndarray
    legend: tuple[str | None, ...]
    pixel_area: float


def _collections(url: str) -> set[str]:
    answer = requests.get(f"{url}/collections", params={"f": "json"}, timeout=30)
    return {c["id"] for c in answer.json()["collections"]}


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    """Two runs published into a GeoPackage store of the Hérault communes while the server runs, then compared by
    the command."""
    folder = tmp_path_factory.mktemp("change")
    store_url, jobs = str(folder / "s.gpkg"), str(folder / "jobs.sqlite")
    ocsge("ingest", "--store", store_url, str(HERAULT))
    classes = {"run-a": folder / "a.tif", "run-b": folder / "b.tif"}
    segment_files(ORTHO / "test_data_rgb.tif", classes["run-a"], model="default", irc=ORTHO / "test_data_irc.tif")
    rgb, irc = write_campaign_b(folder)
    segment_files(rgb, classes["run-b"], model="default", irc=irc)
    with web_server(store_url, folder / "server", BIN, OCSGE_JOBS=jobs) as url:
        for run, path in classes.items():
            metadata = RunMetadata(run, "default", "34")
            publish_run(open_store(store_url), open_results(jobs), vectorise_file(path), path, metadata, base_url=url)
        done = ocsge("segment-change", "run-a", "run-b", "--departement", "34", "--store", store_url, "--results", jobs)
        services.wait_until(lambda: COLLECTION in _collections(url), timeout_s=60)
        before, after = read_class_raster(classes["run-a"]), read_class_raster(classes["run-b"])
        assert before.classes is not None
        pixel_area = abs(before.transform.determinant)
        expected = expected_change(before.pixels, after.pixels, before.classes, pixel_area)
        yield Served(url, json.loads(done.stdout), expected, before.pixels, after.pixels, before.classes, pixel_area)


def test_features_are_the_known_edit_with_the_notice(served: Served) -> None:
    answer = requests.get(
        f"{served.url}/collections/{COLLECTION}/items",
        params={"f": "json", "run_avant": "run-a", "run_apres": "run-b", "limit": "1000"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text[:300]
    features = answer.json()["features"]
    assert features and answer.json()["numberMatched"] == len(features) == served.printed["features"]
    area = sum(feature["properties"]["surface_m2"] for feature in features)
    assert area == pytest.approx(served.expected.sum() * served.pixel_area, rel=1e-6)
    legend = np.array([code or "" for code in served.legend], dtype=object)
    pairs = {
        (str(a), str(b))
        for a, b in zip(legend[served.before[served.expected]], legend[served.after[served.expected]], strict=True)
    }
    got = {(f["properties"]["code_cs_avant"], f["properties"]["code_cs_apres"]) for f in features}
    assert got == pairs
    assert all(
        feature["properties"]["confiance"] is None for feature in features
    )  # published runs keep no probabilities
    assert "not available" in served.printed["confiance"]
    assert "not OCS GE" in served.printed["avertissement"]
    description = requests.get(f"{served.url}/collections/{COLLECTION}", params={"f": "json"}, timeout=30).json()
    assert AI_COUVERTURE_NOTICE in description["description"]


def test_printed_flows_equal_an_independent_pixel_count(served: Served) -> None:
    legend = np.array([code or "" for code in served.legend], dtype=object)
    sealed = list(impermeable_codes())
    before, after = np.isin(legend[served.before], sealed), np.isin(legend[served.after], sealed)
    gained = np.count_nonzero(served.expected & after & ~before) * served.pixel_area
    lost = np.count_nonzero(served.expected & before & ~after) * served.pixel_area
    assert served.printed["impermeabilisation_m2"] == pytest.approx(gained) and gained > 0
    assert served.printed["desimpermeabilisation_m2"] == pytest.approx(lost)
    assert served.printed["impermeabilisation_nette_m2"] == pytest.approx(gained - lost)


def test_vector_tiles_carry_the_change(served: Served) -> None:
    lon, lat = pyproj.Transformer.from_crs(2154, 4326, always_xy=True).transform(770_575.0, 6_277_575.0)
    z, x, y = tile_of(lon, lat, 16)
    answer = requests.get(
        f"{served.url}/collections/{COLLECTION}/tiles/WebMercatorQuad/{z}/{y}/{x}",
        params={"f": "mvt", "run_avant": "run-a"},
        timeout=60,
    )
    assert answer.status_code == 200, answer.text[:300]
    (layer,) = decode(answer.content).values()
    assert layer.name == COLLECTION
    assert len(layer.features) == served.printed["features"]  # the whole 50 m patch lies in one tile
    assert {feature.properties["run_apres"] for feature in layer.features} == {"run-b"}
