"""Output rasters: written tile by tile into a plain tiled GeoTIFF, then rewritten once as a Cloud Optimised GeoTIFF.

GDAL's COG driver cannot be written window by window, so the windows go to a ``.partial.tif`` beside the output
(uncompressed, so that windows smaller than a block cost no recompression) and the COG driver copies it in one pass.
The grid is the input's exactly: same width, height, transform and CRS.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from pathlib import Path

import rasterio
import rasterio.shutil
from rasterio.io import DatasetWriter

from .bands import BandStack

#: Block side of the outputs, as IGN's COG outputs.
BLOCK = 512
#: Compression of the final COG (lossless; categorical data compresses well).
COMPRESS = "DEFLATE"


@contextlib.contextmanager
def cog_writer(
    path: Path,
    grid: BandStack,
    count: int,
    *,
    nodata: int | None = None,
    colormap: dict[int, tuple[int, int, int, int]] | None = None,
    tags: dict[str, str] | None = None,
    descriptions: Sequence[str] = (),
) -> Iterator[DatasetWriter]:
    """A uint8 dataset on ``grid`` to write windows into; on a clean exit it becomes the COG ``path``.

    Overviews are not built: the outputs are read at full resolution (vectorisation, areas), and a viewer can ask
    GDAL for them later.
    """
    path = Path(path)
    partial = path.with_name(path.name + ".partial.tif")
    try:
        with rasterio.open(
            partial,
            "w",
            driver="GTiff",
            width=grid.width,
            height=grid.height,
            count=count,
            dtype="uint8",
            crs=grid.crs,
            transform=grid.transform,
            nodata=nodata,
            tiled=True,
            blockxsize=BLOCK,
            blockysize=BLOCK,
            BIGTIFF="IF_SAFER",
        ) as dataset:
            if colormap:
                dataset.write_colormap(1, dict(colormap))
            dataset.update_tags(0, None, **(tags or {}))  # dataset tags (band 0, default namespace)
            for band, description in enumerate(descriptions, start=1):
                dataset.set_band_description(band, description)
            yield dataset
        rasterio.shutil.copy(
            partial, path, driver="COG", COMPRESS=COMPRESS, BLOCKSIZE=BLOCK, OVERVIEWS="NONE", BIGTIFF="IF_SAFER"
        )
    finally:
        partial.unlink(missing_ok=True)
