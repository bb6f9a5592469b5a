"""Band assembly from BD ORTHO files: RVB + IRC (NIR, R, G) → R, G, B, NIR, optional elevation, checked grids."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from rasterio.windows import Window

from ocsge_processes.errors import InvalidInputError
from ocsge_processes.segmentation import assemble
from ocsge_processes.segmentation.bands import open_reader

from .conftest import TRANSFORM, smooth_image, write_raster

ORTHO = Path(__file__).resolve().parents[3] / "shared" / "data" / "montpellier-ortho-lidar" / "ortho"
RGBI = ["R", "G", "B", "NIR"]


@pytest.fixture()
def rvb_irc(tmp_path: Path) -> tuple[Path, Path, np.ndarray, np.ndarray]:
    rgb, irc = smooth_image(3, 40, 60, seed=1), smooth_image(3, 40, 60, seed=2)
    return write_raster(tmp_path / "rvb.tif", rgb), write_raster(tmp_path / "irc.tif", irc), rgb, irc


def _read_all(stack) -> np.ndarray:
    with open_reader(stack) as read:
        return read(Window(0, 0, stack.width, stack.height))


def test_rvb_and_irc_give_r_g_b_nir(rvb_irc) -> None:
    rvb, irc, rgb, cir = rvb_irc
    stack = assemble(rvb, RGBI, irc=irc)
    assert stack.sources == ((rvb, 1), (rvb, 2), (rvb, 3), (irc, 1))
    assert (stack.width, stack.height, stack.transform) == (60, 40, TRANSFORM)
    np.testing.assert_array_equal(_read_all(stack), np.concatenate([rgb, cir[:1]]))


def test_elevation_is_the_fifth_band(tmp_path: Path, rvb_irc) -> None:
    rvb, irc, rgb, cir = rvb_irc
    height = smooth_image(1, 40, 60, seed=3)
    stack = assemble(rvb, ["R", "G", "B", "NIR", "E"], irc=irc, elevation=write_raster(tmp_path / "e.tif", height))
    np.testing.assert_array_equal(_read_all(stack), np.concatenate([rgb, cir[:1], height]))


def test_an_image_with_all_bands_needs_nothing_else(tmp_path: Path) -> None:
    pixels = smooth_image(5, 40, 60)
    stack = assemble(write_raster(tmp_path / "rgbie.tif", pixels), ["R", "G", "B"])
    np.testing.assert_array_equal(_read_all(stack), pixels[:3])


def test_windows_outside_the_raster_are_mirrored(rvb_irc) -> None:
    rvb, _, rgb, _ = rvb_irc
    with open_reader(assemble(rvb, ["R", "G", "B"])) as read:
        window = read(Window(-3, -2, 64, 64))
    assert window.shape == (3, 64, 64)
    np.testing.assert_array_equal(window[:, 2:42, 3:63], rgb)
    np.testing.assert_array_equal(window[:, 0:2, 3:63], rgb[:, 1::-1])
    np.testing.assert_array_equal(window[:, 2:42, 0:3], rgb[:, :, 2::-1])


def test_nir_without_irc_says_where_to_get_it(rvb_irc) -> None:
    with pytest.raises(InvalidInputError, match=r"reads bands R,G,B,NIR; NIR missing .* NIR comes from an IRC image"):
        assemble(rvb_irc[0], RGBI)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"transform": TRANSFORM @ Affine.translation(1, 0)}, "has georeferencing .* both must cover the same grid"),
        ({"crs": "EPSG:3857"}, "is in CRS EPSG:3857 but .* is in EPSG:2154"),
        ({"shape": (40, 59)}, r"is 59×40 px but .* is 60×40 px"),
    ],
)
def test_irc_on_another_grid_is_refused(tmp_path: Path, rvb_irc, change: dict, message: str) -> None:
    pixels = smooth_image(3, *change.pop("shape", (40, 60)))
    irc = write_raster(tmp_path / "other_irc.tif", pixels, **change)
    with pytest.raises(InvalidInputError, match=message):
        assemble(rvb_irc[0], RGBI, irc=irc)


@pytest.mark.parametrize(
    ("bands", "message"),
    [
        (2, r"has 2 band\(s\); expected 3 \(R,G,B\), 4 \(R,G,B,NIR\) or 5 \(R,G,B,NIR,E\)"),
        (6, r"has 6 band\(s\)"),
    ],
)
def test_images_with_other_band_counts_are_refused(tmp_path: Path, bands: int, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        assemble(write_raster(tmp_path / "image.tif", smooth_image(bands, 20, 20)), ["R", "G", "B"])


def test_an_irc_image_must_have_three_bands(tmp_path: Path, rvb_irc) -> None:
    irc = write_raster(tmp_path / "irc4.tif", smooth_image(4, 40, 60))
    with pytest.raises(InvalidInputError, match=r"has 4 band\(s\); an IRC image \(NIR,R,G\) has 3"):
        assemble(rvb_irc[0], RGBI, irc=irc)


def test_a_file_that_is_no_raster_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "image.tif"
    path.write_text("<html>not found</html>")
    with pytest.raises(InvalidInputError, match="is not a raster image GDAL can read"):
        assemble(path, ["R", "G", "B"])


def test_a_16_bit_image_is_refused(tmp_path: Path) -> None:
    path = write_raster(tmp_path / "image.tif", smooth_image(3, 20, 20).astype(np.uint16))
    with pytest.raises(InvalidInputError, match="has uint16 bands; orthophotos .* must be 8-bit"):
        assemble(path, ["R", "G", "B"])


def test_real_bd_ortho_rvb_and_irc_patches() -> None:
    rvb, irc = ORTHO / "test_data_rgb.tif", ORTHO / "test_data_irc.tif"
    stack = assemble(rvb, RGBI, irc=irc)
    with rasterio.open(rvb) as r, rasterio.open(irc) as i:
        assert (r.count, i.count) == (3, 3)
        assert stack.crs == r.crs == i.crs and stack.transform == r.transform
        rgb, cir = r.read(), i.read()
    pixels = _read_all(stack)
    assert pixels.shape == (4, 252, 252)
    np.testing.assert_array_equal(pixels[:3], rgb)
    np.testing.assert_array_equal(pixels[3], cir[0])
    # The IRC file is NIR, R, G: its bands 2 and 3 are the RVB file's red and green.
    assert np.corrcoef(cir[1].ravel(), rgb[0].ravel())[0, 1] > 0.99
    assert np.corrcoef(cir[2].ravel(), rgb[1].ravel())[0, 1] > 0.99
