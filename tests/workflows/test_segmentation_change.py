"""The change between two runs in both stores: every field, one slice per pair of runs (a second pair beside it, a
rerun replacing it), and refusals before anything is written. Class rasters are small synthetic grids (generated
data): the real patch's change is tested in tests/segmentation/test_change.py."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
from affine import Affine
from rasterio.crs import CRS

from ocsge_processes.errors import InvalidInputError
from ocsge_processes.layers import SEGMENTATION_CHANGE
from ocsge_processes.segmentation.vectorise import ClassRaster
from ocsge_processes.stores import FeatureStore, open_store, table_name
from ocsge_processes.workflows.segmentation_change import publish_change
from tests import services

_DATABASES = itertools.count()
#: 0.2 m pixels in Lambert-93 over Montpellier; values 1 to 3 are these leaves (0 is nodata).
TRANSFORM = Affine(0.2, 0, 770_550.0, 0, -0.2, 6_277_600.0)
LEGEND = (None, "CS1.1.1.1", "CS2.2.1", "CS2.1.1.1")


def _raster(pixels: np.ndarray) -> ClassRaster:
    return ClassRaster(pixels, TRANSFORM, CRS.from_epsg(2154), 0, LEGEND)


@pytest.fixture(params=["gpkg", "postgis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[FeatureStore]:
    if request.param == "gpkg":
        url = str(tmp_path / "s.gpkg")
    else:
        url = services.fresh_database(request.getfixturevalue("postgis_url"), f"ocsge_change_{next(_DATABASES)}")
    opened = open_store(url)
    yield opened
    opened.close()


def _grass_then_roof(rows: int) -> tuple[ClassRaster, ClassRaster]:
    """A 150 px square of grass; afterwards a ``rows`` × 80 px roof in it (80 × 80 px = 256 m², over 200 m²)."""
    before = np.full((150, 150), 2, dtype=np.uint8)
    after = before.copy()
    after[20 : 20 + rows, 30:110] = 1
    return _raster(before), _raster(after)


def _slice(store: FeatureStore, avant: str, apres: str) -> gpd.GeoDataFrame:
    return store.read_frame(SEGMENTATION_CHANGE, 2154, equals={"run_avant": avant, "run_apres": apres})


def test_a_pair_is_its_own_slice_and_a_rerun_replaces_it(store: FeatureStore) -> None:
    before, after = _grass_then_roof(80)
    published = publish_change(store, before, after, "run-2018", "run-2021", "34")
    assert published.features == 1 and published.flows.impermeabilisation_m2 == pytest.approx(80 * 80 * 0.04)
    assert published.summary()["confiance"].startswith("not available")
    row = _slice(store, "run-2018", "run-2021").iloc[0]
    assert (row["code_cs_avant"], row["code_cs_apres"], row["departement"]) == ("CS2.2.1", "CS1.1.1.1", "34")
    assert row["surface_m2"] == pytest.approx(256.0) and row["geometry"].area == pytest.approx(256.0)
    assert row["confiance"] is None or np.isnan(row["confiance"])
    publish_change(store, after, before, "run-2021", "run-2024", "34")  # another pair, beside the first
    smaller, larger = _grass_then_roof(90)
    publish_change(store, smaller, larger, "run-2018", "run-2021", "34")  # the same pair again: replaced
    assert _slice(store, "run-2018", "run-2021")["surface_m2"].tolist() == [pytest.approx(90 * 80 * 0.04)]
    assert _slice(store, "run-2021", "run-2024")["code_cs_apres"].tolist() == ["CS2.2.1"]


def test_a_change_under_the_building_unit_is_not_a_polygon(store: FeatureStore) -> None:
    before, after = _grass_then_roof(60)  # 60 × 80 px = 192 m² < 200 m²
    published = publish_change(store, before, after, "a", "b", "34")
    assert published.features == 0 and published.flows.net_m2 == 0


def test_rasters_of_two_grids_are_refused_before_anything_is_written(store: FeatureStore) -> None:
    before, after = _grass_then_roof(80)
    shifted = ClassRaster(after.pixels, TRANSFORM @ Affine.translation(1, 0), after.crs, 0, LEGEND)
    with pytest.raises(InvalidInputError, match="not on one grid"):
        publish_change(store, before, shifted, "a", "b", "34")
    assert table_name(SEGMENTATION_CHANGE, 2154) not in store.tables()
