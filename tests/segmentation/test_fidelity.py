"""Fidelity of the windowing: windows on the network's grid up to the raster's edge, the raster's own mirror past
it, input nodata from GDAL's mask band (the real Montpellier patch), CRSs compared by definition, one default."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from click.testing import CliRunner
from rasterio.crs import CRS
from rasterio.windows import Window
from shapely.geometry import Point

from ocsge_processes.cli import main
from ocsge_processes.errors import InvalidInputError
from ocsge_processes.segmentation import ModelSpec, Tiling, assemble, plan
from ocsge_processes.segmentation.bands import open_reader
from ocsge_processes.segmentation.checkpoint import build_model
from ocsge_processes.segmentation.crs import same_crs
from ocsge_processes.segmentation.engine import segment, segment_files
from ocsge_processes.segmentation.vectorise import vectorise_file
from ocsge_processes.segmentation.windows import DEFAULT_MARGIN, WINDOW_MULTIPLE, TilingChoice, default_tiling

from .conftest import smooth_image, write_raster

ORTHO = Path(__file__).resolve().parents[3] / "shared" / "data" / "montpellier-ortho-lidar" / "ortho"
RGB, IRC = ORTHO / "test_data_rgb.tif", ORTHO / "test_data_irc.tif"
#: 128 px windows, 64 px centres: a 300 × 236 raster ends 44 px into its last centres on both axes.
TILING = Tiling(window=128, margin=32, batch_size=1)


@pytest.mark.parametrize(("width", "height"), [(300, 236), (252, 252), (1000, 65), (31, 700)])
@pytest.mark.parametrize("tiling", [TILING, Tiling(512, 128), Tiling(1024, 128), Tiling(160, 48)])
def test_every_window_is_on_the_32_px_grid_of_the_first(width: int, height: int, tiling: Tiling) -> None:
    tiles = plan(width, height, tiling)
    offsets = {(int(t.read.col_off) % WINDOW_MULTIPLE, int(t.read.row_off) % WINDOW_MULTIPLE) for t in tiles}
    assert offsets == {((-tiling.margin) % WINDOW_MULTIPLE,) * 2}
    assert all(t.core.col_off % tiling.stride == 0 and t.core.row_off % tiling.stride == 0 for t in tiles)
    assert all(t.read.col_off == t.core.col_off - tiling.margin for t in tiles)


def test_a_margin_off_the_grid_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="margin must be a multiple of 16 px"):
        Tiling(160, 40)


def test_the_reader_mirrors_the_raster_not_the_window(tmp_path: Path) -> None:
    pixels = smooth_image(3, 50, 70, seed=4)
    stack = assemble(write_raster(tmp_path / "rgb.tif", pixels), ["R", "G", "B"])
    mirrored = np.pad(pixels, ((0, 0), (200, 200), (200, 200)), mode="symmetric")
    with open_reader(stack) as read:
        for col, row in [(60, 40), (-150, 45), (30, -190), (65, 48)]:  # windows reaching far past the edge
            window = read(Window(col, row, 128, 96))
            np.testing.assert_array_equal(window, mirrored[:, row + 200 : row + 296, col + 200 : col + 328])


@pytest.fixture(scope="module")
def network(spec: ModelSpec, weights: dict[str, torch.Tensor]) -> torch.nn.Module:
    model = build_model(spec)
    model.load_state_dict(weights)
    return model


@pytest.mark.slow  # two segmentations on the CPU
def test_edge_pixels_get_the_classes_of_a_larger_raster(tmp_path: Path, spec: ModelSpec, network) -> None:
    """The raster's last centres hold 44 of their 64 px: their windows stay on the grid and read the mirror, so
    their classes are those of a larger raster made of the raster and its mirror (the pulled-back windows of
    before read other pixels at another position on the grid, and changed classes there)."""
    pixels = smooth_image(5, 236, 300, seed=5)
    larger = np.pad(pixels, ((0, 0), (0, 100), (0, 100)), mode="symmetric")
    small = segment(
        assemble(write_raster(tmp_path / "small.tif", pixels), spec.bands),
        network,
        spec,
        tmp_path / "s.tif",
        tiling=TILING,
        device="cpu",
        output="class",
    )
    segment(
        assemble(write_raster(tmp_path / "large.tif", larger), spec.bands),
        network,
        spec,
        tmp_path / "l.tif",
        tiling=TILING,
        device="cpu",
        output="class",
    )
    with rasterio.open(small.path) as a, rasterio.open(tmp_path / "l.tif") as b:
        classes, reference = a.read(1), b.read(1, window=Window(0, 0, 300, 236))
    assert len(np.unique(classes)) > 1  # random weights still vary: the comparison means something
    np.testing.assert_array_equal(classes, reference)


@pytest.fixture(scope="module")
def real_patch(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, object]:
    out = tmp_path_factory.mktemp("real") / "classes.tif"
    return out, segment_files(RGB, out, model="default", irc=IRC, device="cpu")


@pytest.mark.slow  # the default model over the real patch on the CPU
def test_real_patch_nodata_comes_from_the_mask_band_not_a_band_value(real_patch) -> None:
    out, result = real_patch
    with rasterio.open(RGB) as dataset:
        rgb, mask = dataset.read(), dataset.dataset_mask()
        assert dataset.nodata == 255
    missing = mask == 0
    white_in_one_band = (rgb == 255).any(axis=0) & ~missing
    assert missing.sum() > 0 and white_in_one_band.sum() > 0  # both cases are in the real patch
    with rasterio.open(out) as dataset:
        classes = dataset.read(1)
        assert dataset.nodata == 0
        assert int(dataset.tags()["OCSGE_NODATA_PIXELS"]) == int(missing.sum()) == result.nodata_pixels
    assert (classes[missing] == 0).all()
    assert (classes[white_in_one_band] != 0).all()  # a 255 in one band is a pixel like any other


@pytest.mark.slow  # the default model over the real patch on the CPU
def test_polygons_leave_out_the_pixels_without_data(real_patch) -> None:
    out, _ = real_patch
    with rasterio.open(RGB) as dataset:
        rows, cols = np.nonzero(dataset.dataset_mask() == 0)
        centres = [Point(dataset.xy(r, c)) for r, c in zip(rows, cols, strict=True)]
    polygons = vectorise_file(out)
    assert not polygons.empty
    covered = [bool(polygons.contains(point).any()) for point in centres]
    assert not any(covered)


def test_a_mask_on_either_input_leaves_the_pixel_unclassified(tmp_path: Path, spec: ModelSpec, network) -> None:
    pixels = smooth_image(5, 64, 96, seed=6)
    rgb, irc = write_raster(tmp_path / "rgb.tif", pixels[:3]), write_raster(tmp_path / "irc.tif", pixels[[3, 0, 1]])
    elevation = write_raster(tmp_path / "e.tif", pixels[4:])
    hidden = np.ones((64, 96), bool)
    hidden[10:20, 30:50] = False
    with rasterio.open(irc, "r+") as dataset:  # an internal mask, as GDAL writes one for a dalle's unknown edge
        dataset.write_mask(np.where(hidden, 255, 0).astype(np.uint8))
    out = tmp_path / "classes.tif"
    result = segment(
        assemble(rgb, spec.bands, irc=irc, elevation=elevation), network, spec, out, tiling=TILING, device="cpu"
    )
    with rasterio.open(out) as dataset:
        classes = dataset.read(1)
    assert result.nodata_pixels == 200
    assert (classes[~hidden] == 0).all()


def test_crs_compared_by_definition(tmp_path: Path) -> None:
    with rasterio.open(RGB) as dataset:
        patch_crs, transform, pixels = dataset.crs, dataset.transform, dataset.read()
    assert patch_crs.to_epsg() is None  # no code to compare: the definition is all there is
    spelled_out = CRS.from_proj4(
        "+proj=lcc +lat_0=46.5 +lon_0=3 +lat_1=49 +lat_2=44 +x_0=700000 +y_0=6600000 +datum=WGS84 +units=m"
    )
    assert same_crs(patch_crs, spelled_out) and same_crs(patch_crs, CRS.from_epsg(2154))
    assert not same_crs(patch_crs, CRS.from_epsg(27572)) and not same_crs(patch_crs, CRS.from_epsg(3943))
    irc = write_raster(tmp_path / "irc.tif", pixels, transform=transform, crs=spelled_out.to_wkt())
    assert assemble(RGB, ["R", "G", "B", "NIR"], irc=irc).width == 252
    other = write_raster(tmp_path / "other.tif", pixels, transform=transform, crs="EPSG:3943")
    with pytest.raises(InvalidInputError, match="is in CRS EPSG:3943 but .* is in PROJCS"):
        assemble(RGB, ["R", "G", "B", "NIR"], irc=other)


def test_one_default_tiling_for_the_engine_and_the_command_line() -> None:
    assert TilingChoice().resolve(5000, 5000, "cpu") == default_tiling(5000, 5000, "cpu") == Tiling()
    assert TilingChoice(margin=64).resolve(5000, 5000, "cuda") == Tiling(1024, 64, 8)
    assert Tiling().margin == DEFAULT_MARGIN
    help_text = CliRunner().invoke(main, ["segment", "--help"]).output
    assert "default: 1024" in help_text and "512" not in help_text


@pytest.mark.slow  # the default model over the real patch on the CPU
def test_the_process_summary_gives_the_area_without_data(real_patch) -> None:
    from ocsge_processes.workflows.images import ImagePolicy
    from ocsge_processes.workflows.segmentation import run

    data_dir = ORTHO.parent.parent
    inputs = {
        "image": {"path": "montpellier-ortho-lidar/ortho/test_data_rgb.tif"},
        "irc": {"path": "montpellier-ortho-lidar/ortho/test_data_irc.tif"},
        "device": "cpu",
    }
    result = run(inputs, ImagePolicy(data_dir=data_dir), Path(real_patch[0]).parent)
    assert result.summary["nodata_m2"] == pytest.approx(real_patch[1].nodata_pixels * 0.2 * 0.2)
    assert json.dumps(result.summary)  # JSON-serialisable, as the process returns it
