"""``ocsge export`` at every level on both stores, exact: the hand-built communes of ``territory_data`` (three
départements, two CRSs, millésimes of different years) and the hand-built territory tables of ``territory_tables``
(EPCI, a SCoT across two départements, régions), read back with GDAL's ogr2ogr.

Hand-computed from the strips (a strip w m wide covers w / 10 ha = w × 1 000 m²), as in test_territory_process:
artificialised 33001: 10 ha (2018), 18 (2021), 17 (2024); 33002: 5 ha at each; 40001: 20 (2020), 30 (2023); 97401:
30 (2017), 40 (2022). Sealed (CS1.1.1.1 and CS1.1.1.2) 33001: 10, 15, 12 ha; 33002: 5; 40001: 20, 30; 97401: 30, 30.
Areas: 33001, 40001, 97401 100 ha; 33002 50 ha.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ocsge_processes.stores import open_store
from ocsge_processes.workflows.sparte_export import export_frame, land_names, territory_communes
from tests import services

from ..conftest import ocsge
from . import territory_data, territory_tables

HA = 10_000


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def stored(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path]:
    """A store of each kind with the hand-built data and tables, and the folder ``ocsge export`` wrote."""
    folder = tmp_path_factory.mktemp("sparte-levels")
    if request.param == "gpkg":
        url = str(folder / "levels.gpkg")
    else:
        url = services.fresh_database(request.getfixturevalue("postgis_url"), "ocsge_sparte_levels")
    store = open_store(url)
    territory_data.load(store)
    store.close()
    package = territory_tables.write_package(folder / "package")
    ocsge("ingest-territoires", "--store", url, str(package), str(territory_tables.write_scot(folder / "s.csv")))
    ocsge("export", "--store", url, "--out", str(folder / "export"))
    return url, folder / "export"


@pytest.fixture
def exported(stored: tuple[str, Path]) -> Path:
    return stored[1]


def _rows(path: Path) -> dict[str, dict]:
    """The rows GDAL reads, by code (ogr2ogr to GeoJSON; a CSV's empty cells read as null)."""
    # sparte quotes every string: unquoted cells are numbers.
    csv = ("EMPTY_STRING_AS_NULL=YES", "AUTODETECT_TYPE=YES", "QUOTED_FIELDS_AS_STRING=YES")
    options = [part for option in csv for part in ("-oo", option)] if path.suffix == ".csv" else []
    text = subprocess.run(
        ["ogr2ogr", *options, "-f", "GeoJSON", "/vsistdout/", str(path)], capture_output=True, text=True, check=True
    ).stdout
    features = [feature["properties"] for feature in json.loads(text)["features"]]
    return {next(value for key, value in row.items() if key.endswith("_code")): row for row in features}


@pytest.mark.parametrize("fmt", ["csv", "gpkg"])
def test_scot_across_two_departements_by_rank(exported: Path, fmt: str) -> None:
    rows = _rows(exported / f"artif_scot.{fmt}")
    val = rows["SCOT1"]
    assert val["nom"] == "SCoT du Val"
    assert (val["millesimes_1"], val["millesimes_2"]) == ("2018, 2020", "2021, 2023")
    assert (val["surface_artif_1"], val["surface_artif_2"]) == ((10 + 20) * HA, (18 + 30) * HA)
    assert val["flux_surface_1_2"] == 18 * HA and val["flux_artif_1_2"] == 18 * HA and val["flux_desartif_1_2"] == 0
    # 30 ha of 200, 48 ha of 200: percents through a float division.
    assert val["pourcent_artif_1"] == pytest.approx(15.0, rel=1e-12)
    assert val["flux_percent_1_2"] == pytest.approx(9.0, rel=1e-12)
    # 40001 has no third millésime: the SCoT's third rank is not the whole SCoT, so it has no figure.
    assert val["millesimes_3"] == "2024" and val["surface_artif_3"] is None
    assert rows["SCOT2"]["surface_artif_2"] == 40 * HA and rows["SCOT2"]["millesimes_2"] == "2022"


def test_region_and_departement_rows(exported: Path) -> None:
    regions = _rows(exported / "imper_region.csv")
    assert regions["75"]["nom"] == "Nouvelle-Aquitaine"
    assert (regions["75"]["surface_imper_1"], regions["75"]["surface_imper_2"]) == (35 * HA, 50 * HA)
    assert regions["75"]["pourcent_imper_1"] == pytest.approx(14.0, rel=1e-12)  # 35 ha of 250
    assert regions["04"]["surface_imper_2"] == 30 * HA and regions["04"]["flux_imper_net_1_2"] == 0
    departements = _rows(exported / "artif_departement.gpkg")
    gironde = departements["33"]
    assert (gironde["nom"], gironde["region_code"]) == ("Gironde", "75")
    assert [gironde[f"surface_artif_{rank}"] for rank in (1, 2, 3)] == [15 * HA, 23 * HA, 22 * HA]
    assert gironde["flux_surface_2_3"] == -1 * HA and gironde["flux_artif_net_2_3"] == -1 * HA


def test_commune_rows_name_their_territories(exported: Path) -> None:
    communes = _rows(exported / "artif_commune.gpkg")
    assert set(communes) == {"33001", "33002", "40001", "97401"}
    first = communes["33001"]
    assert (first["departement_code"], first["region_code"], first["epci_code"], first["scot_code"]) == (
        "33",
        "75",
        "200000001",
        "SCOT1",
    )
    assert communes["33002"]["scot_code"] is None and communes["97401"]["region_code"] == "04"
    assert first["commune_surface"] == 100 * HA and communes["33002"]["commune_surface"] == 50 * HA
    epcis = _rows(exported / "artif_epci.gpkg")
    assert epcis["200000001"]["nom"] == "CC des Deux Communes"
    assert epcis["200000001"]["surface_artif_3"] == (17 + 5) * HA


def test_a_list_gives_one_row_per_listed_territory(stored: tuple[str, Path]) -> None:
    """The process's export of a list: the levels of its territories, each listed one a row (and no other land its
    communes belong to: 40001, in the SCoT, is of EPCI 200000003, which is not listed)."""
    store = open_store(stored[0])
    scopes, communes = territory_communes(store, {"liste": [{"epci": "200000001"}, {"scot": "SCoT du Val"}]})
    assert scopes == {"epci": ["200000001"], "scot": ["SCOT1"]}
    assert sorted(c.land.code for c in communes) == ["33001", "33002", "40001"]
    epci = export_frame(communes, "epci", "artif", land_names(store, "epci"), scopes["epci"])
    assert list(epci.epci_code) == ["200000001"] and list(epci.nom) == ["CC des Deux Communes"]
    assert list(epci.surface_artif_1) == [(10 + 5) * HA]
    scot = export_frame(communes, "scot", "artif", land_names(store, "scot"), scopes["scot"])
    assert list(scot.scot_code) == ["SCOT1"] and list(scot.surface_artif_2) == [(18 + 30) * HA]
