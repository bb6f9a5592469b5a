"""Seamless outputs of a run: polygons vectorised tile by tile and stitched equal those of the whole-raster
vectoriser, whatever the tile size; a patch cut by a tile edge is judged on its whole area; the blocks become one
COG with overviews; a finished run is published (polygons and COG), an unfinished one is not.

The class raster is the default model's over 3 × 3 dalles made from the real Montpellier patch (generated data,
``ign_dalles``), 750 × 750 px at 4 m: units of 12 to 156 px, so that many patches are judged near tile edges.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import rasterio
import shapely
from affine import Affine

from ocsge_processes.layers import SEGMENTATION
from ocsge_processes.segmentation import get_model
from ocsge_processes.segmentation.stitch import default_halo, stitch_file
from ocsge_processes.segmentation.vectorise import vectorise_file
from ocsge_processes.segmentation.windows import TilingChoice
from ocsge_processes.stores import open_store
from ocsge_processes.workflows.segmentation_assembly import MOSAIC_COG, POLYGONS, finish, publisher
from ocsge_processes.workflows.segmentation_run import RunOptions, prepare, run_blocks

from .ign_dalles import write_dalles

pytestmark = pytest.mark.slow  # the default model on the CPU over 0.56 Mpx, then several vectorisations

OPTIONS = RunOptions("default", device="cpu", tiling=TilingChoice(256, 64, 1), block_side=384)
#: Tile sides tried: neither divides the 750 px raster, one is smaller than the halo's reach of 2 × 35 px.
TILES = (128, 300)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """A finished run over 3 × 3 dalles, assembled and published into a GeoPackage store and a job database."""
    folder = tmp_path_factory.mktemp("stitch")
    write_dalles(folder / "d", 3, 3, side=250, driver="GTiff")
    mosaic = prepare(folder / "d", folder / "d", folder / "w", get_model("default").bands, None)
    summary = run_blocks(mosaic, folder / "run", OPTIONS)
    store, jobs = folder / "published.gpkg", folder / "jobs.sqlite"
    summary = finish(folder / "run", mosaic, summary, "stitch-test", publisher(str(store), str(jobs), "http://h"))
    return {"summary": summary, "run_dir": folder / "run", "store": store, "jobs": jobs}


def _stitched(path: Path, tile: int, tolerance_m: float | None = None, halo: int | None = None) -> gpd.GeoDataFrame:
    parts = list(stitch_file(path, tolerance_m=tolerance_m, tile=tile, halo=halo))
    return gpd.GeoDataFrame(pd.concat(parts, ignore_index=True), crs=parts[0].crs)


def _by_code(frame: gpd.GeoDataFrame) -> pd.Series:
    return frame.groupby("code_cs").surface_m2.sum()


def _no_seams(frame: gpd.GeoDataFrame) -> None:
    """A valid coverage where no two polygons of one code share a boundary (a seam would be one)."""
    geometries = frame.geometry.values
    assert shapely.coverage_is_valid(geometries)
    tree = shapely.STRtree(geometries)
    first, second = tree.query(geometries, predicate="touches")
    pairs = (first < second) & (frame.code_cs.values[first] == frame.code_cs.values[second])
    shared = shapely.length(shapely.intersection(geometries[first[pairs]], geometries[second[pairs]]))
    assert not (shared > 0).any(), f"{int((shared > 0).sum())} pairs of one code share a boundary"


def test_stitched_polygons_are_the_whole_raster_vectorisers(run: dict) -> None:
    """At pixel edges (tolerance 0) every polygon equals the whole-raster vectoriser's, for both tile sizes: no
    merge near a tile edge differs on this raster, so no difference needs explaining."""
    cog = run["run_dir"] / MOSAIC_COG
    whole = vectorise_file(cog, tolerance_m=0)
    assert len(whole) > 100 and whole.code_cs.nunique() >= 3
    for tile in TILES:
        stitched = _stitched(cog, tile, tolerance_m=0)
        assert len(stitched) == len(whole)
        _no_seams(stitched)
        tree = shapely.STRtree(stitched.geometry.values)
        found, match = tree.query(whole.geometry.representative_point().values, predicate="within")
        assert sorted(found.tolist()) == list(range(len(whole)))
        assert shapely.equals(whole.geometry.values[found], stitched.geometry.values[match]).all()
        assert (whole.code_cs.values[found] == stitched.code_cs.values[match]).all()


def test_simplified_polygons_differ_by_less_than_the_tolerance(run: dict) -> None:
    """Simplified (one pixel, the default), the polygons are the same ones (same count, each matched by a point
    inside it, same code), per-class areas within 0.1 % of the whole-raster vectoriser's, and the two tile sizes
    agree as closely. What differs is explained: a boundary that crosses a tile edge keeps the point where it
    crosses, so it is simplified in two parts (and its neighbours, whose simplification may not cross it, follow);
    every boundary stays within the tolerance of the pixel edges, so a polygon differs from the whole-raster one by
    less than its perimeter times one pixel."""
    cog = run["run_dir"] / MOSAIC_COG
    whole = vectorise_file(cog)
    pixel = 4.0  # m, the dalles' pixel side
    results = [_stitched(cog, tile) for tile in TILES]
    for stitched in results:
        _no_seams(stitched)
        np.testing.assert_allclose(_by_code(stitched), _by_code(whole), rtol=1e-3)
        assert len(stitched) == len(whole)
        tree = shapely.STRtree(stitched.geometry.values)
        found, match = tree.query(whole.geometry.representative_point().values, predicate="within")
        assert sorted(found.tolist()) == list(range(len(whole)))
        assert (whole.code_cs.values[found] == stitched.code_cs.values[match]).all()
        one, other = whole.geometry.values[found], stitched.geometry.values[match]
        moved = shapely.area(shapely.symmetric_difference(one, other))
        assert (moved <= shapely.length(other) * pixel).all()
        assert (moved > 0).any()  # the tile edges did pin some boundaries: the bound above is what is tested
    np.testing.assert_allclose(_by_code(results[0]), _by_code(results[1]), rtol=1e-3)


def _raster(path: Path, pixels: np.ndarray) -> Path:
    values = {"1": "CS2.2.1", "2": "CS2.1.1.1"}  # herbaceous, deciduous trees: open-country units (2 500 m²)
    with rasterio.open(
        path, "w", driver="GTiff", width=pixels.shape[1], height=pixels.shape[0], count=1, dtype="uint8",
        crs="EPSG:2154", transform=Affine(1, 0, 770000, 0, -1, 6279000), nodata=0,
    ) as dataset:  # fmt: skip
        dataset.write(pixels, 1)
        dataset.update_tags(OCSGE_OUTPUT="cs", OCSGE_VALUES=json.dumps(values))
    return path


def test_a_patch_cut_by_a_tile_edge_is_judged_on_its_whole_area(tmp_path: Path) -> None:
    """Trees across the tile edge at row 200: 60 × 60 m (3 600 m², kept though each side is 1 800 m²) and
    35 × 40 m (1 400 m², merged though neither side is seen whole by its tile)."""
    pixels = np.ones((400, 400), np.uint8)
    pixels[170:230, 40:100] = 2  # 3 600 m² across the edge
    pixels[180:220, 250:285] = 2  # 1 400 m² across the edge
    path = _raster(tmp_path / "classes.tif", pixels)
    assert default_halo(1.0) == 140
    stitched = _stitched(path, 200, tolerance_m=0)
    trees = stitched[stitched.code_cs == "CS2.1.1.1"]
    assert trees.surface_m2.tolist() == [3600.0]
    assert stitched.surface_m2.sum() == 400 * 400
    # Without a halo each tile sees 1 400 m² as a patch cut by its edge, taken as whole: the halo is what judges it.
    blind = _stitched(path, 200, tolerance_m=0, halo=0)
    assert sorted(blind[blind.code_cs == "CS2.1.1.1"].surface_m2.tolist()) == [1400.0, 3600.0]
    # Vectorised tile by tile with no stitching, both would go: each half is under the unit.
    halves = [vectorise_file(path, window=rasterio.windows.Window(0, row, 400, 200), tolerance_m=0) for row in (0, 200)]
    assert not any((half.code_cs == "CS2.1.1.1").any() for half in halves)


def test_the_run_is_one_cog_with_overviews_and_is_published(run: dict) -> None:
    summary, run_dir = run["summary"], run["run_dir"]
    assembled = summary["assembled"]
    assert assembled is not None and assembled["published"] == "http://h/results/stitch-test/classes.tif"
    cog = run_dir / MOSAIC_COG
    info = json.loads(subprocess.run(["gdalinfo", "-json", str(cog)], capture_output=True, check=True).stdout)
    band = info["bands"][0]
    assert info["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"] == "COG"
    assert band["noDataValue"] == 0 and [o["size"] for o in band["overviews"]] == [[375, 375]]
    assert info["metadata"][""]["OCSGE_NODATA_PIXELS"] == "0"
    with rasterio.open(cog) as mosaic, rasterio.open(run_dir / summary["classification"]) as blocks:
        full = blocks.read(1)
        np.testing.assert_array_equal(mosaic.read(1), full)
        overview = mosaic.read(1, out_shape=(375, 375))
    assert set(np.unique(overview)) <= set(np.unique(full))  # MODE: only classes the pixels have
    polygons = gpd.read_file(run_dir / POLYGONS)
    assert len(polygons) == assembled["polygons"] > 100
    assert polygons.surface_m2.sum() == pytest.approx(9e6)  # 3 × 3 km: every pixel classified, once
    published = open_store(str(run["store"])).read_frame(SEGMENTATION, 2154, equals={"run": "stitch-test"})
    assert len(published) == len(polygons) and set(published.modele) == {"default"}
    assert set(published.departement) == {"34"}


def test_an_unfinished_run_is_neither_assembled_nor_published(tmp_path: Path) -> None:
    files = write_dalles(tmp_path / "d", 2, 1, side=250, driver="GTiff")
    files[("RVB", 1, 0)].write_bytes(files[("RVB", 1, 0)].read_bytes()[:4000])  # a truncated dalle
    mosaic = prepare(tmp_path / "d", tmp_path / "d", tmp_path / "w", get_model("default").bands, None)
    summary = run_blocks(mosaic, tmp_path / "run", OPTIONS)
    assert summary["failed"]
    store = tmp_path / "published.gpkg"
    summary = finish(tmp_path / "run", mosaic, summary, "unfinished", publisher(str(store), str(tmp_path / "j"), "h"))
    assert summary["assembled"] is None
    assert not (tmp_path / "run" / MOSAIC_COG).exists() and not store.exists()
