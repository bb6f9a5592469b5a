"""Fixtures of the store tests: the real SYBARVAL communes, as the stores' COMMUNES layer holds them."""

from __future__ import annotations

import geopandas as gpd
import pytest

from ..conftest import SYBARVAL


@pytest.fixture(scope="module")
def communes() -> gpd.GeoDataFrame:
    """The 17 SYBARVAL communes (BD TOPO contours) with the COMMUNES fields, in Lambert-93, as département 33."""
    raw = gpd.read_file(SYBARVAL, layer="communes_sybarval")
    return gpd.GeoDataFrame(
        {"code_insee": raw.CODE_INSEE, "nom": raw.NOM, "departement": "33", "epci": raw._SIREN_EPC.astype(str)},
        geometry=raw.geometry,
        crs=2154,
    )
