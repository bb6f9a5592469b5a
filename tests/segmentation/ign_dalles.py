"""BD ORTHO dalles as IGN delivers them, made for a test from the real Montpellier patch (generated data).

A real dalle is 5 km at 0.2 m (25 000 px, 625 Mpx); these are 1 km dalles of ``side`` px (4 m pixels at 250 px):
the real patch's RVB and IRC resampled to ``side`` px and mirrored from one dalle to the next (so neighbours join
without a seam), named ``DD-YYYY-XXXX-YYYY-LA93-RES-E080.jp2`` with the corner in km and the real resolution token,
in IGN's two product folders (RVB and IRC). Written in JPEG 2000 (lossless) or GeoTIFF into ``tmp_path``, never in
the repository.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import rasterio
import rasterio.shutil
from affine import Affine
from rasterio.enums import Resampling

ORTHO = Path(__file__).resolve().parents[3] / "shared" / "data" / "montpellier-ortho-lidar" / "ortho"
#: The patch's top-left corner is near (770 550, 6 277 600): the dalles' layout starts at the km around it.
ORIGIN_KM = (770, 6279)


def resampled(product: str, side: int) -> tuple[np.ndarray, rasterio.crs.CRS]:
    """The real patch's RVB or IRC resampled to ``side`` × ``side`` px, and its CRS (as the file declares it)."""
    name = "test_data_rgb.tif" if product == "RVB" else "test_data_irc.tif"
    with rasterio.open(ORTHO / name) as dataset:
        return dataset.read(out_shape=(3, side, side), resampling=Resampling.bilinear), dataset.crs


def dalle_name(col: int, row: int, side: int, departement: str = "34", year: int = 2021) -> str:
    """IGN's name of the dalle ``col`` east and ``row`` south of :data:`ORIGIN_KM`."""
    x_km, y_km = ORIGIN_KM[0] + col, ORIGIN_KM[1] - row
    metres = 1000 / side
    token = f"{int(metres)}M{round((metres % 1) * 100):02d}"
    return f"{departement}-{year}-{x_km:04d}-{y_km:04d}-LA93-{token}-E080"


def write_dalles(
    folder: Path,
    cols: int,
    rows: int,
    side: int = 250,
    products: tuple[str, ...] = ("RVB", "IRC"),
    skip: frozenset[tuple[str, int, int]] = frozenset(),
    driver: str = "JP2OpenJPEG",
) -> dict[tuple[str, int, int], Path]:
    """``cols`` × ``rows`` dalles per product under ``folder`` in IGN's layout; ``skip`` leaves some out
    (product, col, row). Returns each file by (product, col, row)."""
    written = {}
    pixel = 1000 / side
    for product in products:
        image, crs = resampled(product, side)
        product_dir = folder / f"BDORTHO_2-0_{product}-0M20_JP2-E080_LAMB93_D034_2021-01-01" / "BDORTHO"
        product_dir.mkdir(parents=True, exist_ok=True)
        for row in range(rows):
            for col in range(cols):
                if (product, col, row) in skip:
                    continue
                pixels = image[:, :: -1 if row % 2 else 1, :: -1 if col % 2 else 1]  # mirrored: seamless joins
                x_km, y_km = ORIGIN_KM[0] + col, ORIGIN_KM[1] - row
                transform = Affine(pixel, 0, x_km * 1000, 0, -pixel, y_km * 1000)
                suffix = ".jp2" if driver == "JP2OpenJPEG" else ".tif"
                path = product_dir / (dalle_name(col, row, side) + suffix)
                write_image(path, np.ascontiguousarray(pixels), transform, crs, driver)
                written[(product, col, row)] = path
    return written


def write_image(path: Path, pixels: np.ndarray, transform: Affine, crs: object, driver: str = "GTiff") -> Path:
    """``pixels`` as ``driver`` (JPEG 2000 lossless, through a GeoTIFF: the JP2 driver writes by copy only)."""
    staging = path.with_suffix(".staging.tif")
    profile = {"driver": "GTiff", "dtype": "uint8", "count": pixels.shape[0], "crs": crs, "transform": transform}
    with rasterio.open(staging, "w", width=pixels.shape[2], height=pixels.shape[1], **profile) as dataset:
        dataset.write(pixels)
    if driver == "GTiff":
        staging.replace(path)
    else:
        rasterio.shutil.copy(staging, path, driver=driver, REVERSIBLE="YES", QUALITY="100")
        staging.unlink()
    return path
