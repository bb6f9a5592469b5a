"""Vectorisation of class rasters: OCS GE minimum units, a clean partition of the classified pixels, bad inputs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import shapely
from affine import Affine
from rasterio.windows import Window

from ocsge_processes.errors import InvalidInputError
from ocsge_processes.segmentation.vectorise import (
    MinimumUnits,
    vectorise,
    vectorise_file,
)

#: A 0.2 m Lambert-93 grid with an origin that is not a round number.
TRANSFORM = Affine(0.2, 0.0, 770549.8, 0.0, -0.2, 6277600.2)
CRS = "EPSG:2154"
CLASSES = ["CS1.1.1.1", "CS1.1.1.2", "CS2.2.1", "CS2.1.1.1"]
BUILDING, PAVED, GRASS, TREES = range(4)
NODATA = 255
#: Pixels per metre.
PX = 5


def put(raster: np.ndarray, value: int, row_m: float, col_m: float, height_m: float, width_m: float) -> None:
    """Paint a block given in metres from the top-left corner."""
    raster[round(row_m * PX) : round((row_m + height_m) * PX), round(col_m * PX) : round((col_m + width_m) * PX)] = (
        value
    )


def centre(row_m: float, col_m: float) -> shapely.Point:
    """The world point ``row_m`` metres down and ``col_m`` metres right of the raster's corner."""
    return shapely.Point(TRANSFORM @ (col_m * PX, row_m * PX))


def landscape() -> np.ndarray:
    """200 × 200 m: a paved district with buildings in the top-left corner, meadow and woods elsewhere, nodata."""
    raster = np.full((1000, 1000), GRASS, dtype=np.uint8)
    put(raster, PAVED, 0, 0, 90, 90)
    for row, col in ((5, 5), (30, 60), (60, 30)):
        put(raster, BUILDING, row, col, 15, 15)  # 225 m² ≥ 200: kept, and they make the zone construite
    put(raster, BUILDING, 5, 40, 10, 10)  # 100 m² < 200: into the car park
    put(raster, GRASS, 25, 5, 20, 20)  # 400 m² < 500 in the zone construite: into the car park
    put(raster, GRASS, 50, 50, 30, 30)  # 900 m² ≥ 500 in the zone construite: kept
    put(raster, TREES, 105, 150, 20, 20)  # 400 m² < 2 500 in open country: into the meadow
    put(raster, TREES, 110, 20, 30, 30)  # 900 m² < 2 500 in open country: into the meadow
    put(raster, TREES, 135, 130, 60, 60)  # 3 600 m² ≥ 2 500: kept
    put(raster, NODATA, 196, 0, 4, 200)
    put(raster, NODATA, 150, 40, 10, 10)
    return raster


def blotches(seed: int = 0) -> np.ndarray:
    """500 × 500 px of 12 m blocks of random classes under a 3 % speckle, all under their units, and a nodata hole."""
    rng = np.random.default_rng(seed)
    raster = np.kron(rng.integers(0, 4, (9, 9)), np.ones((60, 60), dtype=np.int64))[:500, :500].astype(np.uint8)
    speckle = rng.random(raster.shape) < 0.03
    raster[speckle] = rng.integers(0, 4, int(speckle.sum()))
    raster[200:260, 310:420] = NODATA
    return raster


def assert_partition(polygons: np.ndarray, raster: np.ndarray) -> None:
    """Valid polygons that cover the classified pixels exactly, with no overlap."""
    assert shapely.is_valid(polygons).all()
    assert shapely.coverage_is_valid(polygons)
    classified_m2 = np.count_nonzero(raster != NODATA) * abs(TRANSFORM.determinant)
    assert shapely.area(shapely.coverage_union_all(polygons)) == pytest.approx(classified_m2, rel=1e-9)
    assert shapely.area(polygons).sum() == pytest.approx(classified_m2, rel=1e-9)
    first, second = shapely.STRtree(polygons).query(polygons, predicate="intersects")
    pair = first < second
    overlaps = shapely.area(shapely.intersection(polygons[first[pair]], polygons[second[pair]]))
    assert overlaps.max(initial=0.0) < 1e-9


def test_patches_under_their_unit_merge_into_the_neighbour_with_the_longest_boundary() -> None:
    result = vectorise(landscape(), TRANSFORM, CRS, CLASSES, nodata=NODATA, tolerance_m=0)
    assert sorted(zip(result["code_cs"], result["surface_m2"], strict=True)) == [
        ("CS1.1.1.1", 225.0),
        ("CS1.1.1.1", 225.0),
        ("CS1.1.1.1", 225.0),
        ("CS1.1.1.2", 6525.0),
        ("CS2.1.1.1", 3600.0),
        ("CS2.2.1", 900.0),
        ("CS2.2.1", 27400.0),
    ]

    def code_at(row_m: float, col_m: float) -> str:
        return result.loc[result.contains(centre(row_m, col_m)), "code_cs"].item()

    assert code_at(10, 45) == "CS1.1.1.2"  # the 100 m² building
    assert code_at(35, 15) == "CS1.1.1.2"  # the 400 m² lawn among buildings
    assert code_at(65, 65) == "CS2.2.1"  # the 900 m² lawn among buildings
    assert code_at(125, 35) == "CS2.2.1"  # the 900 m² wood in open country
    assert code_at(165, 160) == "CS2.1.1.1"  # the 3 600 m² wood


@pytest.mark.parametrize(
    ("building", "units", "kept"),
    [
        (True, MinimumUnits(), True),  # 900 m² ≥ 500 within 20 m of a building
        (False, MinimumUnits(), False),  # car parks alone are no zone construite: 900 m² < 2 500
        (True, MinimumUnits(built_up_reach_m=5), False),  # the building too far for a 5 m reach
        (False, MinimumUnits(open_m2=800), True),  # units are parameters
    ],
)
def test_the_zone_construite_is_the_reach_of_buildings(building: bool, units: MinimumUnits, kept: bool) -> None:
    raster = np.full((500, 500), PAVED, dtype=np.uint8)
    put(raster, GRASS, 35, 35, 30, 30)
    if building:
        put(raster, BUILDING, 35, 15, 15, 15)  # 5 m west of the lawn: within 20 m of all of it
    result = vectorise(raster, TRANSFORM, CRS, CLASSES, tolerance_m=0, units=units)
    assert ("CS2.2.1" in set(result["code_cs"])) is kept


@pytest.mark.parametrize("tolerance_m", [0, None, 1.0])
def test_polygons_partition_the_classified_pixels(tolerance_m: float | None) -> None:
    raster = blotches()
    result = vectorise(raster, TRANSFORM, CRS, CLASSES, tolerance_m=tolerance_m)
    assert_partition(np.asarray(result.geometry.array), raster)
    assert np.array_equal(result["surface_m2"], result.area)
    if tolerance_m == 0:
        buildings = result["code_cs"] == "CS1.1.1.1"
        assert (result.loc[buildings, "surface_m2"] >= 200).all()
        assert (result.loc[~buildings, "surface_m2"] >= 500).all()


def test_simplification_smooths_shared_edges_and_keeps_the_partition() -> None:
    rows, cols = np.indices((500, 500))
    raster = np.where(rows > cols // 2, GRASS, TREES).astype(np.uint8)  # a staircase of 1 × 2 px steps
    exact = vectorise(raster, TRANSFORM, CRS, CLASSES, tolerance_m=0)
    simple = vectorise(raster, TRANSFORM, CRS, CLASSES)
    assert_partition(np.asarray(simple.geometry.array), raster)
    assert shapely.get_num_coordinates(simple.geometry.array).sum() < 20
    assert shapely.get_num_coordinates(exact.geometry.array).sum() > 500
    # The straight edge cuts each step in two equal halves: the areas stay those of the pixels (float rounding).
    assert np.allclose(np.sort(simple["surface_m2"]), np.sort(exact["surface_m2"]), rtol=1e-9, atol=0)


def test_polygons_lie_on_the_raster_grid_in_its_crs() -> None:
    raster = landscape()
    result = vectorise(raster, TRANSFORM, CRS, CLASSES, tolerance_m=0)
    assert result.crs == CRS
    columns, rows = ~TRANSFORM @ tuple(shapely.get_coordinates(result.geometry.array).T)
    assert np.allclose(columns, np.round(columns), atol=1e-6) and np.allclose(rows, np.round(rows), atol=1e-6)
    west, north = TRANSFORM @ (0, 0)
    east, south = TRANSFORM @ (1000, 1000)
    assert np.allclose(result.total_bounds, [west, south + 4, east, north])  # the bottom 4 m are nodata


def test_unclassified_pixels_get_no_polygon() -> None:
    result = vectorise(landscape(), TRANSFORM, CRS, CLASSES, nodata=NODATA)
    hole = shapely.box(*TRANSFORM @ (40 * PX, 160 * PX), *TRANSFORM @ (50 * PX, 150 * PX))
    assert result.intersection(hole).area.sum() == pytest.approx(0, abs=1e-9)

    empty = vectorise(np.full((10, 10), NODATA, dtype=np.uint8), TRANSFORM, CRS, CLASSES)
    assert empty.empty and list(empty.columns) == ["code_cs", "surface_m2", "geometry"] and empty.crs == CRS

    # A value whose class is None is unclassified too, like 0 in the engine's rasters.
    raster = np.ones((100, 100), dtype=np.uint8)
    raster[:, :50] = 0
    result = vectorise(raster, TRANSFORM, CRS, [None, "CS1.2.2"], nodata=None)
    assert list(result["code_cs"]) == ["CS1.2.2"] and result["surface_m2"].item() == pytest.approx(200)


def test_a_small_patch_with_only_nodata_around_stays() -> None:
    raster = np.full((100, 100), NODATA, dtype=np.uint8)
    raster[40:60, 40:60] = TREES  # 16 m²
    result = vectorise(raster, TRANSFORM, CRS, CLASSES)
    assert list(result["code_cs"]) == ["CS2.1.1.1"] and result["surface_m2"].item() == pytest.approx(16)


def write_classes(path: Path, raster: np.ndarray, tags: dict[str, str]) -> Path:
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=raster.shape[1],
        height=raster.shape[0],
        count=1,
        dtype="uint8",
        crs=CRS,
        transform=TRANSFORM,
        nodata=0,
    ) as dataset:
        dataset.write(raster, 1)
        dataset.update_tags(**tags)
    return path


def test_a_cs_raster_vectorises_with_its_own_legend_and_nodata(tmp_path: Path) -> None:
    # As the engine writes them: 0 is nodata, value n the n-th couverture leaf (5 = CS1.2.1, 15 = CS2.2.1).
    raster = np.full((400, 400), 15, dtype=np.uint8)
    raster[:, 300:] = 5
    raster[:, :100] = 0
    tags = {"OCSGE_OUTPUT": "cs", "OCSGE_VALUES": json.dumps({1: "CS1.1.1.1", 5: "CS1.2.1", 15: "CS2.2.1"})}
    path = write_classes(tmp_path / "classes.tif", raster, tags)

    whole = vectorise_file(path, units=MinimumUnits(open_m2=0))
    assert sorted(zip(whole["code_cs"], whole["surface_m2"], strict=True)) == [("CS1.2.1", 1600.0), ("CS2.2.1", 3200.0)]

    window = vectorise_file(path, window=Window(250, 0, 150, 400), units=MinimumUnits(open_m2=0))
    areas = sorted(zip(window["code_cs"], window["surface_m2"], strict=True))
    assert areas == [("CS1.2.1", 1600.0), ("CS2.2.1", 800.0)]
    assert window.total_bounds[0] == pytest.approx((TRANSFORM @ (250, 0))[0])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"pixels": np.zeros((10, 10), dtype=np.float32)}, "uint8"),
        ({"pixels": np.zeros((2, 10, 10), dtype=np.uint8)}, "2-D"),
        ({"pixels": np.zeros((0, 10), dtype=np.uint8)}, "empty"),
        ({"pixels": np.full((10, 10), 7, dtype=np.uint8)}, r"pixel values \[7\] have no class"),
        ({"classes": ["CS1.1.1.1", "CS9.9"]}, "unknown couverture"),
        ({"classes": ["CS1.1.1.1", "CS1.1"]}, "not a couverture leaf"),
        ({"crs": "EPSG:4326"}, "projected CRS in metres"),
        ({"crs": None}, "no CRS"),
        ({"max_pixels": 50}, "over the 50 px"),
        ({"tolerance_m": -1.0}, "tolerance_m"),
        ({"nodata": 300}, "nodata"),
    ],
)
def test_bad_inputs_are_refused_with_a_clear_message(change: dict, message: str) -> None:
    arguments = {
        "pixels": np.ones((10, 10), dtype=np.uint8),
        "transform": TRANSFORM,
        "crs": CRS,
        "classes": ["CS1.1.1.1", "CS2.2.1"],
        "max_pixels": 1000,
        "nodata": NODATA,
    }
    arguments.update(change)
    with pytest.raises(InvalidInputError, match=message):
        vectorise(**arguments)


def test_minimum_units_are_areas_and_distances_not_below_zero() -> None:
    with pytest.raises(InvalidInputError, match="building_m2 must be a number ≥ 0; got -1"):
        MinimumUnits(building_m2=-1)


def test_bad_files_are_refused_with_a_clear_message(tmp_path: Path) -> None:
    text = tmp_path / "notes.tif"
    text.write_text("not a raster")
    with pytest.raises(InvalidInputError, match="not a readable raster"):
        vectorise_file(text)
    plain = write_classes(tmp_path / "plain.tif", np.ones((10, 10), dtype=np.uint8), {})
    with pytest.raises(InvalidInputError, match="carries no CS legend"):
        vectorise_file(plain)
    with pytest.raises(InvalidInputError, match="over the 50 px"):
        vectorise_file(plain, ["CS2.2.1"], max_pixels=50)
