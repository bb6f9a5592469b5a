"""``ocsge generate --zonage``: a generated plan per commune in the CNIG ZONE_URBA layout, saying it is generated,
whose zones tile each commune; ``ocsge ingest`` reads it and the zoning breakdown adds up to the territory."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pyogrio
import pytest
import shapely
from click.testing import CliRunner

from ocsge_processes.artificialisation.zoning import TYPEZONES
from ocsge_processes.generate import GeneratedOcsge
from ocsge_processes.generate.command import generate_command
from ocsge_processes.generate.zoning import generate_zoning
from ocsge_processes.layers import GENERATED_SOURCE
from ocsge_processes.stores import open_store
from ocsge_processes.workflows.artificialisation import run

from ..conftest import ocsge


@pytest.fixture(scope="module")
def zoning(communes: gpd.GeoDataFrame, generated: GeneratedOcsge) -> gpd.GeoDataFrame:
    return generate_zoning(communes, generated)


def test_every_zone_says_it_is_generated_and_has_a_cnig_type(zoning: gpd.GeoDataFrame) -> None:
    assert set(zoning["source"]) == {GENERATED_SOURCE}
    assert all("GÉNÉRÉE" in name for name in zoning["libelong"]) and all("GENERE" in i for i in zoning["idurba"])
    assert set(zoning["typezone"]) <= set(TYPEZONES) and {"U", "AUc", "AUs"} <= set(zoning["typezone"])
    assert zoning["idzone"].is_unique


def test_the_zones_of_a_commune_tile_it(zoning: gpd.GeoDataFrame, communes: gpd.GeoDataFrame) -> None:
    communes = communes.to_crs(zoning.crs)
    for code, commune in zip(communes["code_insee"], communes.geometry, strict=True):
        zones = zoning[zoning["insee"] == code].geometry.to_numpy()
        # planar areas of the same polygons cut differently agree to floating-point noise (1e-6 m² per km²)
        assert sum(shapely.area(zones)) == pytest.approx(commune.area, rel=1e-9), code
        assert shapely.union_all(zones).symmetric_difference(commune).area < 1e-6 * commune.area, code


def test_generated_zoning_is_ingested_and_broken_down(sybarval_path: Path, tmp_path: Path) -> None:
    options = ["--codes", "33009", "--cell-size", "300", "--zonage", "--out", str(tmp_path)]
    result = CliRunner().invoke(generate_command, ["--communes", str(sybarval_path), *options])
    assert result.exit_code == 0, result.output
    [path] = tmp_path.glob("ZONE_URBA_*.gpkg")
    assert pyogrio.list_layers(path)[0][0] == "zone_urba"
    store = str(tmp_path / "store.gpkg")
    ocsge("ingest", "--store", store, str(sybarval_path), *map(str, sorted(tmp_path.glob("*.7z"))), str(path))
    document = run(open_store(store), {"communes": ["33009"]}, [2021, 2024], "matrix", zonage=True)
    zoning = document["zonage"]
    assert zoning["zones_generees"] is True and zoning["plans"] == ["33009_PLU_GENERE_20210101"]
    types = [zoning["par_typezone"][name] for name in TYPEZONES if name in zoning["par_typezone"]]
    whole = document["territoires"][0]
    assert sum(t["surface_ha"] for t in types) == pytest.approx(whole["surface_ha"], abs=1e-3)  # rounded to 1e-4 ha
    for year in ("2021", "2024"):
        artificial = sum(t["stocks"][year]["surface_artificialisee_ha"] for t in types)
        assert artificial == pytest.approx(whole["stocks"][year]["surface_artificialisee_ha"], rel=1e-9)
