"""The generated polygons tile each commune and meet IGN's minimum mapping units."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pytest
import shapely

from ocsge_processes.generate import GeneratedOcsge, generate
from ocsge_processes.generate.layout import CommuneLayout, plan_commune
from ocsge_processes.generate.partition import ROAD, RURAL, URBAN, partition_commune
from ocsge_processes.nomenclature import MIN_AREA_BUILDING_M2, MIN_AREA_BUILT_UP_M2, MIN_AREA_M2

from .conftest import commune_of

#: The partition is exact; only the overlays' floating-point noise remains (below 1e-13 of the area when measured).
TOLERANCE = 1e-9


def assert_tiles(polygons: np.ndarray, commune: shapely.Geometry) -> None:
    """No overlap (sum of areas == area of the union) and no gap (union == commune), to float rounding.

    Shared edges must also be identical (a valid coverage): unions are then exact and overlays robust.
    """
    assert shapely.coverage_is_valid(polygons)
    area_m2 = shapely.area(commune)
    union = shapely.union_all(polygons)
    assert shapely.area(polygons).sum() == pytest.approx(area_m2, rel=TOLERANCE)
    assert shapely.area(union) == pytest.approx(area_m2, rel=TOLERANCE)
    assert shapely.area(shapely.symmetric_difference(union, commune)) < TOLERANCE * area_m2


def unit_violations(occupation: gpd.GeoDataFrame, zones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Polygons under their unit: 200 m² for buildings, 500 m² when mostly inside a zone construite, else 2 500 m²."""
    geometry = np.asarray(occupation.geometry.array, dtype=object)
    area = shapely.area(geometry)
    inside = np.zeros(len(geometry))
    poly, zone = shapely.STRtree(zones.geometry.array).query(geometry, predicate="intersects")
    np.add.at(inside, poly, shapely.area(shapely.intersection(geometry[poly], zones.geometry.array[zone])))
    unit = np.where(
        occupation["code_cs"] == "CS1.1.1.1",
        MIN_AREA_BUILDING_M2,
        np.where(inside > 0.5 * area, MIN_AREA_BUILT_UP_M2, MIN_AREA_M2),
    )
    return occupation[area < unit]


def test_each_commune_is_tiled_without_gap_or_overlap(generated: GeneratedOcsge, communes: gpd.GeoDataFrame) -> None:
    for occupation in generated.occupation.values():
        geometry = np.asarray(occupation.geometry.array, dtype=object)
        owner = commune_of(geometry, communes)
        assert (owner >= 0).all()
        for row, commune in enumerate(communes.geometry):
            assert_tiles(geometry[owner == row], commune)


def test_polygons_are_valid_multipolygons(generated: GeneratedOcsge) -> None:
    for layer in (*generated.occupation.values(), *generated.zone_construite.values(), generated.diff):
        assert shapely.is_valid(layer.geometry.array).all()
        assert set(layer.geom_type) == {"MultiPolygon"}


@pytest.mark.parametrize("index", [0, 1])
def test_every_polygon_meets_its_minimum_mapping_unit(generated: GeneratedOcsge, index: int) -> None:
    year = generated.millesimes[index]
    offenders = unit_violations(generated.occupation[year], generated.zone_construite[year])
    assert offenders.empty, offenders[["id", "code_cs", "code_us"]].assign(area=offenders.area).head()


def test_built_up_zones_have_small_polygons_and_rural_land_large_ones(generated: GeneratedOcsge) -> None:
    occupation = generated.occupation[generated.millesimes[0]]
    zones = generated.zone_construite[generated.millesimes[0]]
    inside = occupation.representative_point().within(zones.union_all())
    assert inside.any() and (~inside).any()
    assert occupation.area[inside].median() < 0.25 * occupation.area[~inside].median()
    # The zone construite is the union of whole cells: it never cuts a polygon.
    share = occupation.intersection(zones.union_all()).area / occupation.area
    assert ((share < 1e-9) | (share > 1 - 1e-9)).all()  # float rounding of the intersection only


def test_zone_construite_only_grows(generated: GeneratedOcsge) -> None:
    before, after = (generated.zone_construite[year].union_all() for year in generated.millesimes)
    assert shapely.area(shapely.difference(before, after)) == 0
    assert shapely.area(after) > shapely.area(before)


def test_island_and_notched_commune_are_tiled_and_slivers_absorbed() -> None:
    # A 3 km square with a narrow notch (so Voronoi cells are cut in two) and an 800 m² island (under every unit).
    square = shapely.box(0, 0, 3000, 3000)
    notch = shapely.box(1480, 400, 1495, 3000)
    island = shapely.box(3100, 100, 3140, 120)
    commune = shapely.union(shapely.difference(square, notch), island)
    layout = plan_commune(commune, np.array([700.0, 1500.0]), np.empty(0, dtype=object), np.random.default_rng(3))
    cells = partition_commune(layout, cell_size_m=100.0, urban_cell_size_m=25.0, rng=np.random.default_rng(4))
    assert_tiles(cells.geometry, commune)
    units = np.where(
        cells.kind == URBAN, MIN_AREA_BUILDING_M2, np.where(cells.built_up, MIN_AREA_BUILT_UP_M2, MIN_AREA_M2)
    )
    assert (shapely.area(cells.geometry) >= units).all()
    assert (cells.kind == URBAN).any() and (cells.kind == ROAD).any() and (cells.kind == RURAL).any()
    holder = [g for g in cells.geometry if shapely.intersects(g, island)]
    assert len(holder) == 1 and shapely.get_num_geometries(holder[0]) == 2  # the island joined a neighbour


def test_a_commune_smaller_than_a_cell_is_one_polygon() -> None:
    commune = shapely.box(10, 10, 70, 60)  # 3 000 m², no grid point of 100 m falls inside
    layout = CommuneLayout(
        commune, np.array([[40.0, 35.0]]), np.array([0.0]), np.array([False]), shapely.Polygon(), shapely.Polygon()
    )
    cells = partition_commune(layout, cell_size_m=100.0, urban_cell_size_m=25.0, rng=np.random.default_rng(0))
    assert len(cells.geometry) == 1
    assert shapely.equals(cells.geometry[0], commune)


def test_generate_on_a_synthetic_commune_keeps_units_in_both_millesimes() -> None:
    commune = gpd.GeoDataFrame(
        {"code_insee": ["33999"]}, geometry=[shapely.box(400000, 6400000, 404000, 6403000)], crs=2154
    )
    generated = generate(commune, departement="33", cell_size_m=100.0, seed=1, progress=False)
    for year in generated.millesimes:
        assert_tiles(np.asarray(generated.occupation[year].geometry.array), commune.geometry[0])
        assert unit_violations(generated.occupation[year], generated.zone_construite[year]).empty
