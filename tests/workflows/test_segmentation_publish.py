"""Publishing a segmentation run (``workflows.segmentation_publish``) on both stores and both result stores: the
polygons of the real Montpellier patch, classified by the default model, become the run's slice with every field;
a rerun replaces its slice only; bad input is refused before anything is written; a COG the result store refuses
leaves the collection as it was."""

from __future__ import annotations

import itertools
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import psycopg
import pytest
import rasterio
import shapely

from ocsge_processes.errors import InvalidInputError, UnknownCodeError
from ocsge_processes.layers import SEGMENTATION
from ocsge_processes.nomenclature import couverture
from ocsge_processes.results import ResultStore, open_results
from ocsge_processes.results.store import CHUNKS
from ocsge_processes.segmentation.vectorise import MinimumUnits, vectorise_file
from ocsge_processes.stores import FeatureStore, open_store, table_name
from ocsge_processes.workflows.segmentation_publish import (
    RunMetadata,
    declare_collection,
    ortho_date,
    publish_run,
)
from tests import services

from ..conftest import SHARED, ocsge

ORTHO = SHARED / "montpellier-ortho-lidar" / "ortho"
_DATABASES = itertools.count()
#: Small units, so that the 50 m patch gives a few dozen polygons rather than the three its real units leave.
SMALL_UNITS = MinimumUnits(building_m2=10, built_up_m2=10, open_m2=10)


@pytest.fixture(scope="module")
def classes(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The class COG of the real patch, made by `ocsge segment` with the default model."""
    out = tmp_path_factory.mktemp("run") / "classes.tif"
    ocsge("segment", str(ORTHO / "test_data_rgb.tif"), "--irc", str(ORTHO / "test_data_irc.tif"), "--out", str(out))
    return out


@pytest.fixture(scope="module")
def polygons(classes: Path) -> gpd.GeoDataFrame:
    frame = vectorise_file(classes, units=SMALL_UNITS)
    assert len(frame) >= 10, "too few polygons for the tests below to mean anything"
    return frame


@dataclass
class Target:
    store: FeatureStore
    results: ResultStore
    results_url: str


@pytest.fixture(params=["gpkg", "postgis"])
def target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Target]:
    """An empty store and result store of each kind: a GeoPackage and SQLite, or PostGIS and PostgreSQL."""
    if request.param == "gpkg":
        url, results = str(tmp_path / "s.gpkg"), str(tmp_path / "jobs.sqlite")
    else:
        # one database per test: the result store keeps its connection for the process' life, so none is dropped
        url = services.fresh_database(request.getfixturevalue("postgis_url"), f"ocsge_publish_{next(_DATABASES)}")
        results = url
    store = open_store(url)
    yield Target(store, open_results(results), results)
    store.close()


def _metadata(run: str = "run-1") -> RunMetadata:
    return RunMetadata(run, "default", "34", "2021-06-14")


def _slice(store: FeatureStore, run: str) -> gpd.GeoDataFrame:
    if table_name(SEGMENTATION, 2154) not in store.tables():
        return gpd.GeoDataFrame()
    return store.read_frame(SEGMENTATION, 2154, equals={"run": run})


def test_a_run_is_published_with_every_field_and_its_cog(
    target: Target, polygons: gpd.GeoDataFrame, classes: Path
) -> None:
    publication = publish_run(
        target.store, target.results, polygons, classes, _metadata(), base_url="http://127.0.0.1:5000/"
    )
    assert (publication.collection, publication.epsg, publication.features) == (
        "ocsge-segmentation",
        2154,
        len(polygons),
    )
    assert publication.classification == "http://127.0.0.1:5000/results/run-1/classes.tif"
    stored = _slice(target.store, "run-1")
    assert len(stored) == len(polygons)
    assert stored["code_cs"].tolist() == polygons["code_cs"].tolist()
    assert stored["libelle_cs"].tolist() == [couverture().get(code).label for code in polygons["code_cs"]]
    assert set(stored["modele"]) == {"default"} and set(stored["departement"]) == {"34"}
    assert set(stored["date_prise_de_vue"]) == {"2021-06-14"}
    assert stored["id"].is_unique
    # The patch's CRS is Lambert-93 without its code: the same coordinates, stored as they are, MultiPolygons.
    assert set(stored.geometry.geom_type) == {"MultiPolygon"}
    for mine, theirs in zip(stored.geometry, polygons.geometry, strict=True):
        assert shapely.equals_exact(shapely.normalize(mine), shapely.normalize(shapely.multipolygons([theirs])), 0)
    file = target.results.info("run-1", "classes.tif")
    assert file.size == classes.stat().st_size == publication.size
    assert b"".join(target.results.read(file)) == classes.read_bytes()


def test_a_rerun_replaces_its_slice_and_leaves_other_runs(
    target: Target, polygons: gpd.GeoDataFrame, classes: Path
) -> None:
    publish_run(target.store, target.results, polygons, classes, _metadata("run-1"), base_url="http://x")
    publish_run(target.store, target.results, polygons, classes, _metadata("run-2"), base_url="http://x")
    few = polygons.iloc[:3]
    again = publish_run(
        target.store, target.results, [few.iloc[:1], few.iloc[1:]], classes, _metadata("run-1"), base_url="http://x"
    )
    assert again.features == 3 and len(_slice(target.store, "run-1")) == 3
    assert len(_slice(target.store, "run-2")) == len(polygons)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"run": "../up"}, "run id"),
        ({"date_prise_de_vue": "14/06/2021"}, "not an ISO date"),
        ({"departement": "99"}, "unknown département"),
        ({"modele": ""}, "model name is empty"),
    ],
)
def test_bad_metadata_is_refused_before_anything_is_written(
    target: Target, polygons: gpd.GeoDataFrame, classes: Path, change: dict[str, str], message: str
) -> None:
    metadata = RunMetadata(**{**_metadata().__dict__, **change})
    with pytest.raises((InvalidInputError, UnknownCodeError), match=message):
        publish_run(target.store, target.results, polygons, classes, metadata, base_url="http://x")
    assert table_name(SEGMENTATION, 2154) not in target.store.tables()
    assert target.results.files(metadata.run) == []


def test_bad_polygons_or_raster_are_refused_before_anything_is_written(
    target: Target, polygons: gpd.GeoDataFrame, classes: Path, tmp_path: Path
) -> None:
    unknown = polygons.assign(code_cs="CS9.9")
    with pytest.raises(UnknownCodeError, match="CS9.9"):
        publish_run(target.store, target.results, unknown, classes, _metadata(), base_url="http://x")
    geographic = polygons.to_crs("EPSG:4326")
    with pytest.raises(InvalidInputError, match="not projected"):
        publish_run(target.store, target.results, geographic, classes, _metadata(), base_url="http://x")
    vrt = tmp_path / "classes.vrt"
    subprocess.run(["gdal_translate", "-q", "-of", "VRT", str(classes), str(vrt)], check=True)
    with pytest.raises(InvalidInputError, match="one GeoTIFF"):
        publish_run(target.store, target.results, polygons, vrt, _metadata(), base_url="http://x")
    assert table_name(SEGMENTATION, 2154) not in target.store.tables()
    assert target.results.files("run-1") == []


def test_polygons_in_another_crs_are_reprojected_to_the_departement_crs(
    target: Target, polygons: gpd.GeoDataFrame, classes: Path
) -> None:
    mercator = polygons.set_crs("EPSG:2154", allow_override=True).to_crs("EPSG:3857")
    publish_run(target.store, target.results, mercator, classes, _metadata(), base_url="http://x")
    stored = _slice(target.store, "run-1")
    # Reprojected there and back: PROJ's round trip is exact to well under a millimetre on a 50 m patch.
    assert stored.total_bounds == pytest.approx(polygons.total_bounds, abs=1e-3)


def test_a_cog_the_result_store_refuses_leaves_the_collection_as_it_was(
    postgis_url: str, polygons: gpd.GeoDataFrame, classes: Path, tmp_path: Path
) -> None:
    """A result store that refuses the COG (PostgreSQL with a cap on stored chunks, as a quota would) fails the
    publication after the polygons went in: the run's previous slice is put back, or none on a first run."""
    url = services.fresh_database(postgis_url, f"ocsge_publish_{next(_DATABASES)}")
    store = open_store(str(tmp_path / "s.gpkg"))
    results = open_results(url)
    publish_run(store, results, polygons.iloc[:4], classes, _metadata("kept"), base_url="http://x")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {CHUNKS} ADD CONSTRAINT quota CHECK (octet_length(data) < 100) NOT VALID")
    with pytest.raises(psycopg.errors.CheckViolation):
        publish_run(store, results, polygons, classes, _metadata("first"), base_url="http://x")
    assert len(_slice(store, "first")) == 0
    with pytest.raises(psycopg.errors.CheckViolation):
        publish_run(store, results, polygons, classes, _metadata("kept"), base_url="http://x")
    kept = _slice(store, "kept")
    assert kept["code_cs"].tolist() == polygons["code_cs"].iloc[:4].tolist()
    assert b"".join(results.read(results.info("kept", "classes.tif"))) == classes.read_bytes(), "its COG is whole"
    assert results.files("first") == []


def test_declaring_the_collection_makes_an_empty_table_once(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "s.gpkg"))
    assert declare_collection(store) is True
    assert store.tables() == {"segmentation": 0}
    assert declare_collection(store) is False


def test_the_ortho_date_comes_from_its_imagery_metadata_only(tmp_path: Path) -> None:
    assert ortho_date(ORTHO / "test_data_rgb.tif") is None, "the real patch says nothing of its date"
    dated = tmp_path / "dated.tif"
    shutil.copy(ORTHO / "test_data_rgb.tif", dated)
    with rasterio.open(dated, "r+") as dataset:
        dataset.update_tags(TIFFTAG_DATETIME="2024:01:02 03:04:05")  # the file's date: not the photo's
    assert ortho_date(dated) is None
    with rasterio.open(dated, "r+") as dataset:
        dataset.update_tags(ns="IMAGERY", ACQUISITIONDATETIME="2021-06-14T10:32:00Z")
    assert ortho_date(dated) == "2021-06-14"
