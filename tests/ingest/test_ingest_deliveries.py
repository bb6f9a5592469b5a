"""Generated IGN-like deliveries (names, field variants, CRSs as IGN publishes them) normalised exactly."""

from __future__ import annotations

import logging
import tempfile

import pandas as pd
import pytest
import shapely
from pandas.testing import assert_frame_equal

from ocsge_processes.ingest import plan_delivery, read_delivery
from ocsge_processes.ingest.columns import DTYPES
from ocsge_processes.layers import (
    ARTIF,
    ARTIF_DIFFERENCE,
    COMMUNES,
    DIFFERENCE,
    OCCUPATION_SOL,
    ZONE_CONSTRUITE,
    Layer,
)
from ocsge_processes.nomenclature import couverture, usage


def expected(layer: Layer, rows: dict[str, list[object]]) -> pd.DataFrame:
    """The frame a batch of ``layer`` must hold: every field in order and dtype, null where ``rows`` has none."""
    count = len(next(iter(rows.values())))
    return pd.DataFrame(
        {name: pd.Series(rows.get(name, [None] * count), dtype=DTYPES[kind]) for name, kind in layer.fields.items()}
    )


def attributes(batch) -> pd.DataFrame:
    return pd.DataFrame(batch.frame.drop(columns="geometry"))


@pytest.mark.parametrize("millesime", [["2021", "2021", "2021", "2021", "2021"], [2021] * 5], ids=["text", "int"])
def test_ign_gpkg_archive_is_normalised_exactly(tmp_path, write_layer, make_7z, squares, monkeypatch, millesime):
    name = "OCS-GE_2-0__GPKG_LAMB93_D033_2021-01-01"
    x, y = 400_000.0, 6_400_000.0
    bowtie = shapely.Polygon([(x, y), (x + 100, y + 100), (x + 100, y), (x, y + 100)])  # invalid
    polygons = [*squares(2), bowtie, shapely.Polygon(), None]
    occupation = write_layer(
        tmp_path / "src" / "OCCUPATION_SOL.gpkg",
        {
            "id": ["OCSGE1", "OCSGE2", "OCSGE3", "OCSGE4", "OCSGE5"],
            "code_cs": ["CS1.1.1.1", "CS2.2.1", "CS2.1.1", "CS1.2.2", "CS1.2.2"],
            "code_us": ["US5", "US1.1", "US1.2", "US6.3", "US6.3"],
            "millesime": millesime,
            "source": ["calcul", "RPG", None, "x", "x"],
            "ossature": [0, 1, 0, 0, 0],
            "id_origine": ["NC", "A1", "NC", "NC", "NC"],
            "code_or": ["1", "2", None, None, None],
        },
        polygons,
        layer="occupation_sol",
    )
    construite = write_layer(
        tmp_path / "src" / "ZONE_CONSTRUITE.gpkg",
        {"id": ["ZC1", "ZC2"], "millesime": [2021] * 2},
        [shapely.MultiPolygon([p]) for p in squares(2, size=300)],
        layer="zone_construite",
    )
    readme = tmp_path / "src" / "LISEZ-MOI.txt"
    readme.write_text("not a layer")
    inner = f"{name}/OCS-GE/1_DONNEES_LIVRAISON_2021"
    archive = make_7z(
        tmp_path / f"{name}.7z",
        {
            f"{inner}/OCCUPATION_SOL.gpkg": occupation,
            f"{inner}/ZONE_CONSTRUITE.gpkg": construite,
            f"{name}/LISEZ-MOI.txt": readme,
        },
    )
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))

    batches = {batch.layer.collection_id: batch for batch in read_delivery(archive)}

    assert list(scratch.iterdir()) == []  # the extraction folder is gone
    assert [(p.source, p.layer) for p in plan_delivery(archive)] == [
        (f"{name}.7z!{inner}/OCCUPATION_SOL.gpkg", OCCUPATION_SOL),
        (f"{name}.7z!{inner}/ZONE_CONSTRUITE.gpkg", ZONE_CONSTRUITE),
    ]
    batch = batches[OCCUPATION_SOL.collection_id]
    assert batch.slice == {"departement": "33", "millesime": 2021} and batch.epsg == 2154
    assert batch.source == f"{name}.7z!{inner}/OCCUPATION_SOL.gpkg:occupation_sol"
    codes_cs, codes_us = ["CS1.1.1.1", "CS2.2.1", "CS2.1.1"], ["US5", "US1.1", "US1.2"]
    assert_frame_equal(
        attributes(batch),
        expected(
            OCCUPATION_SOL,
            {
                "id": ["OCSGE1", "OCSGE2", "OCSGE3"],
                "code_cs": codes_cs,
                "code_us": codes_us,
                "millesime": [2021] * 3,
                "source": ["calcul", "RPG", None],
                "ossature": [0, 1, 0],
                "id_origine": ["NC", "A1", "NC"],
                "code_or": ["1", "2", None],
                "departement": ["33"] * 3,
                "libelle_cs": [couverture().label(c) for c in codes_cs],
                "libelle_us": [usage().label(c) for c in codes_us],
            },
        ),
    )
    geometries = batch.frame.geometry
    assert list(geometries.geom_type) == ["MultiPolygon"] * 3 and geometries.is_valid.all()
    assert geometries.iloc[0].equals(shapely.MultiPolygon([polygons[0]]))
    assert geometries.iloc[2].area == pytest.approx(5_000.0)  # the bowtie's two triangles
    zones = batches[ZONE_CONSTRUITE.collection_id]
    assert zones.slice == {"departement": "33", "millesime": 2021}
    assert_frame_equal(
        attributes(zones),
        expected(
            ZONE_CONSTRUITE,
            {
                "id": ["ZC1", "ZC2"],
                "millesime": [2021, 2021],
                "departement": ["33", "33"],
            },
        ),
    )


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_shapefile_with_upper_case_fields_and_no_prj(tmp_path, write_layer, squares):
    folder = tmp_path / "OCS-GE_2-0__SHP_LAMB93_D094_2018-01-01"
    write_layer(
        folder / "1_DONNEES_LIVRAISON" / "OCCUPATION_SOL.shp",
        {
            "ID": ["A", "B"],
            "CODE_CS": ["1.1.1.1", "CS2.2.1"],
            "CODE_US": ["235", "US1.1"],
            "MILLESIME": [2018, 2018],
        },
        squares(2),
        crs=None,
    )
    assert not list(folder.rglob("*.prj"))

    (batch,) = read_delivery(folder)

    assert batch.slice == {"departement": "94", "millesime": 2018}
    assert batch.epsg == 2154 and batch.frame.crs.to_epsg() == 2154
    assert batch.frame["code_cs"].tolist() == ["CS1.1.1.1", "CS2.2.1"]
    assert batch.frame["code_us"].tolist() == ["US235", "US1.1"]
    assert batch.frame["id"].tolist() == ["A", "B"]
    assert batch.source == f"{folder.name}/1_DONNEES_LIVRAISON/OCCUPATION_SOL.shp:OCCUPATION_SOL"


DIFF_CODES = {
    "ID": ["D1", "D2"],
    "avant_cs": ["CS2.2.1", None],
    "avant_us": ["US1.1", "US1.1"],
    "apres_cs": ["CS1.1.1.1", "CS1.1.1.2"],
    "apres_us": ["US5", "US4.1.1"],
}


def _diff_rows(cs_avant: str, us_avant: str, cs_apres: str, us_apres: str) -> dict[str, list[object]]:
    return {
        "ID": DIFF_CODES["ID"],
        cs_avant: DIFF_CODES["avant_cs"],
        us_avant: DIFF_CODES["avant_us"],
        cs_apres: DIFF_CODES["apres_cs"],
        us_apres: DIFF_CODES["apres_us"],
    }


@pytest.mark.parametrize("variant", ["shp_CS_2018", "gpkg_cs_avant", "7z_cs_2018_diif"])
def test_diff_field_variants_give_the_same_batch(tmp_path, write_layer, make_7z, squares, variant):
    if variant == "shp_CS_2018":
        path = write_layer(
            tmp_path / "OCS-GE-NG_1-1_DIFF_SHP_LAMB93_D094_2018-2021.shp",
            _diff_rows("CS_2018", "US_2018", "CS_2021", "US_2021"),
            squares(2),
        )
    elif variant == "gpkg_cs_avant":
        path = write_layer(
            tmp_path / "OCS-GE_2-0_DIFF-2018-2021_GPKG_LAMB93_D094_2025-01-01.gpkg",
            _diff_rows("cs_avant", "us_avant", "cs_apres", "us_apres"),
            squares(2),
            layer="diff",
        )
    else:
        shp = write_layer(
            tmp_path / "src" / "ocsge.shp", _diff_rows("cs_2018", "us_2018", "cs_2021", "us_2021"), squares(2)
        )
        name = "OCS-GE_2-0__SHP_LAMB93_D094_DIFF_2018-2021"
        path = make_7z(tmp_path / f"{name}.7z", {f"{name}/OCSGE_DIIF_D094.shp": shp})

    (batch,) = read_delivery(path)

    assert batch.layer is DIFFERENCE
    assert batch.slice == {"departement": "94", "millesime_avant": 2018, "millesime_apres": 2021}
    assert_frame_equal(
        attributes(batch),
        expected(
            DIFFERENCE,
            {
                "id": ["D1", "D2"],
                "code_cs_avant": ["CS2.2.1", None],
                "code_us_avant": ["US1.1", "US1.1"],
                "code_cs_apres": ["CS1.1.1.1", "CS1.1.1.2"],
                "code_us_apres": ["US5", "US4.1.1"],
                "millesime_avant": [2018, 2018],
                "millesime_apres": [2021, 2021],
                "departement": ["94", "94"],
            },
        ),
    )


def test_drom_file_stays_in_its_utm_crs(tmp_path, write_layer, squares):
    polygons = squares(2, epsg=2975)
    path = write_layer(
        tmp_path / "OCS-GE_2-0__GPKG_RGR92UTM40S_D974_2022-01-01.gpkg",
        {
            "id": ["R1", "R2"],
            "code_cs": ["CS2.1.1.1", "CS1.2.2"],
            "code_us": ["US1.2", "US6.3"],
        },
        polygons,
        layer="occupation_sol",
        crs=2975,
    )

    (batch,) = read_delivery(path)

    assert batch.slice == {"departement": "974", "millesime": 2022}
    assert batch.epsg == 2975 and batch.frame.crs.to_epsg() == 2975
    assert batch.frame.geometry.iloc[1].equals(shapely.MultiPolygon([polygons[1]]))


def test_artif_layer_of_a_drom_archive(tmp_path, write_layer, make_7z, squares):
    name = "OCS-GE_2-0_ARTIFICIALISATION_GPKG_RGAF09UTM20_D0971_2022-01-01"
    gpkg = write_layer(
        tmp_path / "src" / "ARTIF.gpkg",
        {
            "id": ["G1", "G2", "G3"],
            "code_cs": ["CS1.1.1.1", "CS2.2.1", "CS2.2.1"],
            "code_us": ["US5", "US1.1", "US3"],
            "millesime": [2022] * 3,
            "artif": ["artif", "non artif", "Non Artif"],
            "crit_seuil": ["true", "0", "1"],
            "aire": [1e4, 1e4, 1e4],
        },
        squares(3, epsg=5490),
        layer="artif_2022_971",
        crs=5490,
    )
    archive = make_7z(tmp_path / f"{name}.7z", {f"{name}/ARTIF.gpkg": gpkg})

    (batch,) = read_delivery(archive)

    assert batch.layer is ARTIF and batch.epsg == 5490
    assert batch.slice == {"departement": "971", "millesime": 2022}
    assert_frame_equal(
        attributes(batch),
        expected(
            ARTIF,
            {
                "id": ["G1", "G2", "G3"],
                "code_cs": ["CS1.1.1.1", "CS2.2.1", "CS2.2.1"],
                "code_us": ["US5", "US1.1", "US3"],
                "millesime": [2022] * 3,
                "artif": ["artif", "non artif", "non artif"],
                "crit_seuil": [True, False, True],
                "departement": ["971"] * 3,
            },
        ),
    )


def test_artif_diff_zan_evol_layer(tmp_path, write_layer, make_7z, squares):
    name = "OCS-GE-ARTIFICIALISATION_2-0_DIFF-2018-2021_GPKG_LAMB93_D033_2025-11_04"
    gpkg = write_layer(
        tmp_path / "src" / "zan_evol.gpkg",
        {
            "id_2018": ["a", "b"],
            "id_2021": ["c", "d"],
            "cs_2018": ["CS2.2.1", "CS1.1.1.1"],
            "cs_2021": ["CS1.1.1.1", "CS2.2.1"],
            "us_2018": ["US1.1", "US5"],
            "us_2021": ["US5", "US6.3"],
            "artif_2018": ["non artif", "artif"],
            "artif_2021": ["artif", "non artif"],
            "artificialisation": [1, -1],
            "surface": [1e4, 1e4],
        },
        squares(2),
        layer="zan_evol_2018_2021_33",
    )
    archive = make_7z(tmp_path / f"{name}.7z", {f"{name}/zan_evol_2018_2021_33.gpkg": gpkg})

    (batch,) = read_delivery(archive)

    assert batch.layer is ARTIF_DIFFERENCE
    assert batch.slice == {"departement": "33", "millesime_avant": 2018, "millesime_apres": 2021}
    assert_frame_equal(
        attributes(batch),
        expected(
            ARTIF_DIFFERENCE,
            {
                "id": ["33-zan_evol_2018_2021_33-2018-2021-1", "33-zan_evol_2018_2021_33-2018-2021-2"],
                "code_cs_avant": ["CS2.2.1", "CS1.1.1.1"],
                "code_us_avant": ["US1.1", "US5"],
                "code_cs_apres": ["CS1.1.1.1", "CS2.2.1"],
                "code_us_apres": ["US5", "US6.3"],
                "artif_avant": ["non artif", "artif"],
                "artif_apres": ["artif", "non artif"],
                "artificialisation": [1, -1],
                "millesime_avant": [2018, 2018],
                "millesime_apres": [2021, 2021],
                "departement": ["33", "33"],
            },
        ),
    )


def test_national_communes_file_splits_by_departement_and_crs(tmp_path, write_layer):
    bordeaux, basse_terre = shapely.box(-0.6, 44.8, -0.55, 44.85), shapely.box(-61.75, 16.0, -61.7, 16.05)
    path = write_layer(
        tmp_path / "COMMUNE.gpkg",
        {
            "INSEE_COM": ["33063", "97105"],
            "NOM_COM": ["Bordeaux", "Basse-Terre"],
            "SIREN_EPCI": [243300316, None],
        },
        [bordeaux, basse_terre],
        layer="commune",
        crs=4326,
    )

    batches = {batch.slice["departement"]: batch for batch in read_delivery(path)}

    assert {k: (b.layer, b.epsg, b.frame.crs.to_epsg()) for k, b in batches.items()} == {
        "33": (COMMUNES, 2154, 2154),
        "971": (COMMUNES, 5490, 5490),
    }
    assert_frame_equal(
        attributes(batches["33"]),
        expected(
            COMMUNES,
            {
                "code_insee": ["33063"],
                "nom": ["Bordeaux"],
                "departement": ["33"],
                "epci": ["243300316"],
            },
        ),
    )
    assert batches["971"].frame["epci"].isna().all()
    assert 400_000 < batches["33"].frame.geometry.iloc[0].centroid.x < 430_000  # Lambert-93, not degrees


@pytest.mark.parametrize("how", ["code_dep field", "communes in the file", "argument", "token beats argument"])
def test_departement_sources(tmp_path, write_layer, squares, how):
    rows = {"code_cs": ["CS2.2.1"], "code_us": ["US1.1"], "millesime": [2021]}
    path, argument, want = tmp_path / "ocsge_occupation.gpkg", None, "32"
    if how == "code_dep field":
        rows["code_dep"] = ["032"]
    elif how == "argument":
        argument = "32"
    elif how == "token beats argument":
        path, argument, want = tmp_path / "occupation_LAMB93_D094.gpkg", "32", "94"
    write_layer(path, rows, squares(1), layer="occupation_sol")
    if how == "communes in the file":
        write_layer(
            path, {"CODE_INSEE": ["32013"], "NOM": ["Auch"]}, squares(1, size=500), layer="communes", append=True
        )

    batches = list(read_delivery(path, departement=argument))

    occupation = next(b for b in batches if b.layer is OCCUPATION_SOL)
    assert occupation.slice == {"departement": want, "millesime": 2021}
    assert occupation.frame["departement"].tolist() == [want]
    assert occupation.frame["id"].tolist() == [f"{want}-occupation_sol-2021-1"]


def test_unknown_layer_is_skipped_with_a_warning(tmp_path, write_layer, squares, caplog):
    path = tmp_path / "OCS-GE_2-0__GPKG_LAMB93_D033_2021-01-01.gpkg"
    write_layer(path, {"code_cs": ["CS2.2.1"], "code_us": ["US1.1"]}, squares(1), layer="occupation_sol")
    write_layer(path, {"couverture": ["x"]}, squares(1), layer="enveloppe_urbaine_2018", append=True)

    with caplog.at_level(logging.WARNING, logger="ocsge_processes.ingest"):
        batches = list(read_delivery(path))

    assert [b.layer for b in batches] == [OCCUPATION_SOL]
    assert any("enveloppe_urbaine_2018" in r.getMessage() and r.levelno == logging.WARNING for r in caplog.records)


def test_couverture_usage_names_and_missing_optional_fields(tmp_path, write_layer, squares):
    path = write_layer(
        tmp_path / "OCS-GE_2-0__GPKG_LAMB93_D033_2021-01-01.gpkg",
        {
            "ID": ["X1"],
            "COUVERTURE": ["cs2.1.2"],
            "USAGE": ["us6.6"],
        },
        squares(1),
        layer="OCCUPATION_SOL",
    )

    (batch,) = read_delivery(path)

    assert_frame_equal(
        attributes(batch),
        expected(
            OCCUPATION_SOL,
            {
                "id": ["X1"],
                "code_cs": ["CS2.1.2"],
                "code_us": ["US6.6"],
                "millesime": [2021],
                "departement": ["33"],
                "libelle_cs": [couverture().label("CS2.1.2")],
                "libelle_us": [usage().label("US6.6")],
            },
        ),
    )


def test_folder_with_an_archive_and_commune_contours(tmp_path, write_layer, make_7z, squares):
    folder = tmp_path / "livraison"
    name = "OCS-GE_2-0__GPKG_LAMB93_D033_2021-01-01"
    gpkg = write_layer(
        tmp_path / "src" / "OCCUPATION_SOL.gpkg",
        {"id": ["A"], "code_cs": ["CS2.2.1"], "code_us": ["US1.1"]},
        squares(1),
        layer="occupation_sol",
    )
    folder.mkdir()
    make_7z(folder / f"{name}.7z", {f"{name}/OCCUPATION_SOL.gpkg": gpkg})
    write_layer(
        folder / "communes-33.geojson",
        {"code": ["33063"], "nom": ["Bordeaux"]},
        [shapely.box(-0.6, 44.8, -0.55, 44.85)],
        crs=4326,
        driver="GeoJSON",
    )

    batches = {batch.layer.collection_id: batch for batch in read_delivery(folder)}

    assert batches[OCCUPATION_SOL.collection_id].source == (
        f"livraison/{name}.7z!{name}/OCCUPATION_SOL.gpkg:occupation_sol"
    )
    assert batches[OCCUPATION_SOL.collection_id].slice == {"departement": "33", "millesime": 2021}
    assert batches[COMMUNES.collection_id].slice == {"departement": "33"}
    assert batches[COMMUNES.collection_id].frame["code_insee"].tolist() == ["33063"]
