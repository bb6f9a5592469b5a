"""Shared fixtures: real commune contours from ../shared/data and one small generated dataset per session."""

from __future__ import annotations

import os
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import shapely

from ocsge_processes.generate import GeneratedOcsge, generate, read_communes

SHARED_DATA = Path(os.environ.get("OCSGE_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
SYBARVAL = SHARED_DATA / "sybarval-ocsge-change-2015-2018" / "sybarval_ocsge_change_2015_2018.gpkg"
ADMIN_EXPRESS_33 = SHARED_DATA / "communes-admin-express-2018" / "33-gironde" / "communes-33-gironde.geojson"
#: Arcachon, Andernos-les-Bains, Arès: small, coastal, with a built-up centre each.
CODES = ("33005", "33009", "33011")
#: Larger cells than the default keep the suite fast; the built-up cells keep their default size.
CELL_SIZE_M = 200.0


def _require(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data {path} not found; set OCSGE_SHARED_DATA to the shared/data folder")
    return path


@pytest.fixture(scope="session")
def sybarval_path() -> Path:
    return _require(SYBARVAL)


@pytest.fixture(scope="session")
def admin_express_path() -> Path:
    return _require(ADMIN_EXPRESS_33)


@pytest.fixture(scope="session")
def communes(sybarval_path: Path) -> gpd.GeoDataFrame:
    return read_communes(sybarval_path, codes=CODES)


@pytest.fixture(scope="session")
def generated(communes: gpd.GeoDataFrame) -> GeneratedOcsge:
    return generate(communes, departement="33", cell_size_m=CELL_SIZE_M, seed=7, progress=False)


def commune_of(polygons: np.ndarray, communes: gpd.GeoDataFrame) -> np.ndarray:
    """Row of the commune that holds each polygon (by a point inside the polygon); -1 if none."""
    points = shapely.point_on_surface(polygons)
    found = np.full(len(polygons), -1)
    point_index, commune_index = shapely.STRtree(communes.geometry.array).query(points, predicate="within")
    found[point_index] = commune_index
    return found
