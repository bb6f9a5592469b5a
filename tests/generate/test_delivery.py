"""write_delivery(): IGN's archive names, inner paths, layer and field names, readable by GDAL (pyogrio)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import geopandas as gpd
import py7zr
import pyogrio
import pytest

from ocsge_processes.generate import SOURCE, GeneratedOcsge, write_delivery

MILLESIME = "OCS-GE_2-0__GPKG_LAMB93_D033_{year}-01-01"
DIFF = "OCS-GE_2-0_DIFF-2021-2024_GPKG_LAMB93_D033_2025-01-01"
DATA = "OCS-GE/1_DONNEES_LIVRAISON"
EXPECTED = {
    f"{MILLESIME.format(year=2021)}/{DATA}/OCCUPATION_SOL.gpkg": ("occupation_sol", 2021),
    f"{MILLESIME.format(year=2021)}/{DATA}/ZONE_CONSTRUITE.gpkg": ("zone_construite", 2021),
    f"{MILLESIME.format(year=2024)}/{DATA}/OCCUPATION_SOL.gpkg": ("occupation_sol", 2024),
    f"{MILLESIME.format(year=2024)}/{DATA}/ZONE_CONSTRUITE.gpkg": ("zone_construite", 2024),
    f"{DIFF}/{DATA}/DIFF_2021_2024.gpkg": ("diff", None),
}
FIELDS = {
    "occupation_sol": {
        "id": "OFTString",
        "code_cs": "OFTString",
        "code_us": "OFTString",
        "millesime": "OFTString",
        "source": "OFTString",
        "ossature": "OFTInteger",
        "id_origine": "OFTString",
        "code_or": "OFTString",
    },
    "zone_construite": {"id": "OFTString", "millesime": "OFTString"},
    "diff": {
        "id": "OFTString",
        "cs_avant": "OFTString",
        "us_avant": "OFTString",
        "cs_apres": "OFTString",
        "us_apres": "OFTString",
        "millesime_avant": "OFTInteger",
        "millesime_apres": "OFTInteger",
    },
}


@pytest.fixture(scope="module")
def archives(generated: GeneratedOcsge, tmp_path_factory: pytest.TempPathFactory) -> tuple[list[Path], Path]:
    out = tmp_path_factory.mktemp("delivery")
    written = write_delivery(generated, out)
    extracted = tmp_path_factory.mktemp("extracted")
    for archive in written:
        with py7zr.SevenZipFile(archive) as seven:
            seven.extractall(extracted)
    return written, extracted


def test_archive_names_and_inner_paths(archives: tuple[list[Path], Path]) -> None:
    written, _ = archives
    assert [path.name for path in written] == [
        f"{MILLESIME.format(year=2021)}.7z",
        f"{MILLESIME.format(year=2024)}.7z",
        f"{DIFF}.7z",
    ]
    files = set()
    for archive in written:
        with py7zr.SevenZipFile(archive) as seven:
            files |= {name for name in seven.getnames() if name.endswith(".gpkg")}
    assert files == set(EXPECTED)
    assert not any(path.name.startswith(".ocsge-") for path in written[0].parent.iterdir())  # staging removed


@pytest.mark.parametrize("inner", sorted(EXPECTED))
def test_geopackages_have_ign_layers_and_fields(
    archives: tuple[list[Path], Path], generated: GeneratedOcsge, inner: str
) -> None:
    path = archives[1] / inner
    layer, year = EXPECTED[inner]
    assert [str(name) for name, _ in pyogrio.list_layers(path)] == [layer]
    info = pyogrio.read_info(path, layer=layer)
    assert info["geometry_name"] == "the_geom"
    assert info["geometry_type"] == "MultiPolygon"
    assert info["crs"] == "EPSG:2154"
    assert dict(zip(info["fields"], info["ogr_types"], strict=True)) == FIELDS[layer]
    expected = (
        generated.diff
        if year is None
        else getattr(generated, "occupation" if layer == "occupation_sol" else "zone_construite")[year]
    )
    assert info["features"] == len(expected)
    with sqlite3.connect(path) as db:
        assert db.execute(
            "select count(*) from sqlite_master where name = ?", (f"rtree_{layer}_the_geom",)
        ).fetchone() == (1,)


def test_occupation_read_back_equals_generated(archives: tuple[list[Path], Path], generated: GeneratedOcsge) -> None:
    path = archives[1] / f"{MILLESIME.format(year=2024)}/{DATA}/OCCUPATION_SOL.gpkg"
    frame = gpd.read_file(path, layer="occupation_sol")
    expected = generated.occupation[2024]
    assert (frame["id"].to_numpy() == expected["id"].to_numpy()).all()
    assert (frame["code_cs"].to_numpy() == expected["code_cs"].to_numpy()).all()
    assert (frame["source"] == SOURCE).all()
    assert frame.area.sum() == pytest.approx(expected.area.sum(), rel=1e-9)


def test_unarchived_delivery_has_the_same_layout(generated: GeneratedOcsge, tmp_path: Path) -> None:
    written = write_delivery(generated, tmp_path, archive=False)
    assert [path.name for path in written] == [MILLESIME.format(year=2021), MILLESIME.format(year=2024), DIFF]
    found = {str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*.gpkg")}
    assert found == set(EXPECTED)
    write_delivery(generated, tmp_path, archive=False)  # writing again replaces the files
    assert {str(path.relative_to(tmp_path)) for path in tmp_path.rglob("*.gpkg")} == set(EXPECTED)
