"""Zones of a local urban plan over a hand-built commune: TYPEZONE read as the official tool reads it, zones cut to the
territory, the unzoned rest, and the stock of each zone type from the same measure as any territory's."""

from __future__ import annotations

import geopandas as gpd
import pytest
from shapely.geometry import box

from ocsge_processes.artificialisation import Territory, TerritoryPart, aggregate_stocks, compute_all_stocks
from ocsge_processes.artificialisation.zoning import by_typezone, cnig_spelling, typezone, unzoned, zones_in
from ocsge_processes.errors import InvalidInputError

from .polygons import layer

#: 4 ha: 400 m × 100 m.
COMMUNE = Territory("C", "Commune", "commune", (TerritoryPart(2154, box(0, 0, 400, 100)),))


def zoning(rows: list[tuple[str, str, object]], epsg: int = 2154) -> gpd.GeoDataFrame:
    """A ZONE_URBA-like layer from (libelle, typezone, geometry) rows."""
    return gpd.GeoDataFrame(
        {
            "id": [f"Z{i}" for i in range(len(rows))],
            "libelle": [row[0] for row in rows],
            "typezone": [row[1] for row in rows],
            "idurba": ["PLU"] * len(rows),
        },
        geometry=[row[2] for row in rows],
        crs=epsg,
    )


#: U 0-150 (1.5 ha), AUc 150-250 (1 ha), AUs 250-300 (0.5 ha), Nd 300-380 reaching 200 m north of the commune (0.8 ha
#: inside it), a zone wholly outside, and 380-400 unzoned (0.2 ha).
ZONES = zoning(
    [
        ("UA", "U", box(0, 0, 150, 100)),
        ("1AU", "AUc", box(150, 0, 250, 100)),
        ("2AU", "AUs", box(250, 0, 300, 100)),
        ("Nd", "Nd", box(300, 0, 380, 300)),
        ("far", "A", box(1000, 0, 1100, 100)),
    ]
)


@pytest.mark.parametrize(
    ("value", "read_as", "spelled"),
    [
        ("U", "U", "U"),
        ("auc", "AUc", "AUc"),
        ("AUS", "AUs", "AUs"),
        ("Ah", "A", "Ah"),
        ("NH", "N", "Nh"),
        ("Nd", "N", "Nd"),
    ],
)
def test_typezone_as_the_official_tool_reads_it(value: str, read_as: str, spelled: str) -> None:
    assert typezone(value) == read_as and cnig_spelling(value) == spelled


@pytest.mark.parametrize("value", ["UA", "AU", "ZC", "", "1AUh"])
def test_names_that_are_no_cnig_type(value: str) -> None:
    assert typezone(value) is None and cnig_spelling(value) is None


def test_zones_are_cut_to_the_territory_and_the_rest_is_unzoned() -> None:
    zones = zones_in(ZONES, COMMUNE)
    assert [(z.libelle, z.typezone, z.territory.surface_m2) for z in zones] == [
        ("UA", "U", 15_000),
        ("1AU", "AUc", 10_000),
        ("2AU", "AUs", 5_000),
        ("Nd", "N", 8_000),
    ]
    rest = unzoned(COMMUNE, zones)
    assert rest is not None and rest.surface_m2 == 2_000 and rest.parts[0].geometry.equals(box(380, 0, 400, 100))
    assert by_typezone(zones) == {"U": [0], "AUc": [1], "AUs": [2], "AU": [1, 2], "N": [3]}


def test_no_rest_when_the_zones_cover_the_territory() -> None:
    assert unzoned(COMMUNE, zones_in(zoning([("UA", "U", box(-10, -10, 410, 110))]), COMMUNE)) is None


def test_stock_per_zone_type() -> None:
    # building 0-100 (U), garden 100-200 (U 100-150, AUc 150-200), field 200-400
    land = layer(
        [
            ("CS1.1.1.1", "US5", box(0, 0, 100, 100)),
            ("CS2.2.1", "US5", box(100, 0, 200, 100)),
            ("CS2.2.1", "US1.1", box(200, 0, 400, 100)),
        ]
    )
    zones = zones_in(ZONES, COMMUNE)
    stocks = compute_all_stocks(land, [zone.territory for zone in zones], "matrix")
    u, auc, aus, n = stocks
    assert (u.surface_artificialisee_ha, u.surface_impermeabilisee_ha) == (pytest.approx(1.5), pytest.approx(1.0))
    assert (auc.surface_artificialisee_ha, auc.surface_impermeabilisee_ha) == (pytest.approx(0.5), 0.0)
    assert aus.surface_artificialisee_ha == 0.0 and n.surface_artificialisee_ha == 0.0
    au = aggregate_stocks([stocks[i] for i in by_typezone(zones)["AU"]], "AU")
    assert au.surface_ha == pytest.approx(1.5) and au.taux_artificialisation == pytest.approx(0.5 / 1.5 * 100)


def test_a_type_outside_the_standard_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="TYPEZONE 'UA' is not in the CNIG standard"):
        zones_in(zoning([("UA", "UA", box(0, 0, 100, 100))]), COMMUNE)


def test_a_layer_without_the_cnig_fields_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="typezone"):
        zones_in(ZONES.drop(columns="typezone"), COMMUNE)
