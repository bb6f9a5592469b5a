"""Tokens of IGN delivery names (as listed in sparte's sources.json) and layer routing."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from pyproj import CRS

from ocsge_processes.ingest.geometries import polygonal
from ocsge_processes.ingest.names import (
    crs_token,
    departement_token,
    layer_by_name,
    route_layer,
    single_year,
    year_pair,
)
from ocsge_processes.layers import (
    ARTIF,
    ARTIF_DIFFERENCE,
    COMMUNES,
    DIFFERENCE,
    OCCUPATION_SOL,
    ZONE_CONSTRUITE,
)

# name, département, EPSG, year pair, layer
NAMES = [
    ("OCS-GE_2-0__GPKG_LAMB93_D033_2021-01-01", "33", 2154, None, None),
    ("OCS-GE_2-0_DIFF-2021-2024_GPKG_LAMB93_D033_2025-01-01", "33", 2154, (2021, 2024), DIFFERENCE),
    ("OCS-GE_2-0_DIFF_SHP_LAMB93_D033_2018-2021", "33", 2154, (2018, 2021), DIFFERENCE),
    ("OCS-GE_2-0__SHP_LAMB93_D094_DIFF_2018-2021", "94", 2154, (2018, 2021), DIFFERENCE),
    ("OCS-GE-NG_1-1_DIFF_SHP_LAMB93_D094_2018-2021", "94", 2154, (2018, 2021), DIFFERENCE),
    ("OCS-GE_2-0_DIIF_SHP_LAMB93_D02A_2019-2022", "2A", 2154, (2019, 2022), DIFFERENCE),
    ("OCS-GE_2-0_ARTIFICIALISATION_GPKG_LAMB93_D033_2021-01-01", "33", 2154, None, ARTIF),
    ("OCS-GE_2-0_ARTIFICIALISATION_GPKG_RGAF09UTM20_D0971_2022-01-01", "971", 5490, None, ARTIF),
    (
        "OCS-GE-ARTIFICIALISATION_2-0_DIFF-2018-2021_GPKG_LAMB93_D033_2025-11_04",
        "33",
        2154,
        (2018, 2021),
        ARTIF_DIFFERENCE,
    ),
    ("OCS-GE_2-0__GPKG_RGFG95UTM22_D973_2018-01-01", "973", 2972, None, None),
    ("OCS-GE_2-0__GPKG_RGM04UTM38S_D976_2020-01-01", "976", 4471, None, None),
    ("zan_evol_2018_2021_33", None, None, (2018, 2021), ARTIF_DIFFERENCE),
    ("desartificialisation_2018_2015", None, None, (2015, 2018), ARTIF),
    ("OCCUPATION_SOL", None, None, None, OCCUPATION_SOL),
    ("zone_construite", None, None, None, ZONE_CONSTRUITE),
    ("communes_sybarval", None, None, None, COMMUNES),
    ("enveloppe_urbaine_2018", None, None, None, None),
]


@pytest.mark.parametrize(("name", "departement", "epsg", "pair", "layer"), NAMES, ids=[n[0] for n in NAMES])
def test_name_tokens(name, departement, epsg, pair, layer):
    assert departement_token([name]) == departement
    assert (crs_token([name]) or (None, None))[1] == epsg
    assert year_pair([name]) == pair
    assert layer_by_name(name) is layer


def test_single_year_skips_names_with_several_years():
    names = ["occupation_sol", "OCS-GE_2-0_DIFF-2021-2024_GPKG_LAMB93_D033_2025-01-01", "x_D033_2021-01-01"]
    assert single_year(names) == 2021


@pytest.mark.parametrize(
    ("names", "fields", "layer"),
    [
        (["artificialisation_2015_2018"], ["Surface", "cs_2015", "us_2015", "cs_2018", "us_2018"], DIFFERENCE),
        (["artif_2021_33"], ["id", "code_cs", "code_us", "artif", "crit_seuil"], ARTIF),
        (
            ["x", "OCS-GE-ARTIFICIALISATION_2-0_DIFF-2018-2021"],
            ["cs_2018", "cs_2021", "artificialisation"],
            ARTIF_DIFFERENCE,
        ),
        (["OCCUPATION_SOL"], ["CS_AVANT", "CS_APRES", "US_AVANT", "US_APRES"], DIFFERENCE),
        (["communes_sybarval"], ["CODE_INSEE", "NOM"], COMMUNES),
        (["enveloppe_urbaine_2018"], ["couverture"], None),
    ],
)
def test_fields_refine_the_layer_a_name_announces(names, fields, layer):
    assert route_layer(names, fields) is layer


def test_polygonal_keeps_only_valid_multipolygons():
    square = shapely.box(0, 0, 1, 1)
    bowtie = shapely.Polygon([(0, 0), (2, 2), (2, 0), (0, 2)])
    mixed = shapely.GeometryCollection([square, shapely.LineString([(5, 5), (6, 6)])])
    geoms, repaired = polygonal(
        np.array(
            [
                square,
                shapely.MultiPolygon([square]),
                bowtie,
                shapely.Polygon(),
                None,
                shapely.Point(1, 1),
                mixed,
                shapely.Polygon([(0, 0, 5), (1, 0, 5), (1, 1, 5)]),
            ],
            dtype=object,
        ),
        CRS.from_epsg(2154),
        "test.gpkg",
    )

    assert repaired == 1
    assert [None if g is None else g.geom_type for g in geoms] == [
        "MultiPolygon",
        "MultiPolygon",
        "MultiPolygon",
        None,
        None,
        None,
        "MultiPolygon",
        "MultiPolygon",
    ]
    assert geoms[0].equals(shapely.MultiPolygon([square])) and geoms[6].equals(shapely.MultiPolygon([square]))
    assert geoms[2].is_valid and geoms[2].area == pytest.approx(2.0)
    assert not shapely.has_z(geoms[7])
