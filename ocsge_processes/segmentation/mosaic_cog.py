"""The class rasters of a run's blocks as ONE Cloud Optimised GeoTIFF on the mosaic's grid, with overviews.

A block COG has no overviews (it is read at full resolution to vectorise); a viewer of a département wants the
whole map at every zoom from one URL. GDAL's COG driver reads the blocks' VRT once and writes tiles, overviews and
the legend (colour table, ``OCSGE_VALUES``) of the blocks; pixels of no block stay nodata (0), and overviews skip
nodata. Overviews take the most frequent class of each 2 × 2 (``MODE``): an average of class values would be a
class no pixel has, and nearest neighbour drops small classes at random.
"""

from __future__ import annotations

import os
import xml.etree.ElementTree as ElementTree
from pathlib import Path

import rasterio
import rasterio.shutil
from rasterio.errors import RasterioError

from ..errors import OcsgeError
from .cog import BLOCK, COMPRESS

#: Resampling of the overviews (see the module docstring).
OVERVIEW_RESAMPLING = "MODE"


def write_mosaic_cog(
    source: Path,
    out: Path,
    *,
    tags: dict[str, str] | None = None,
    threads: int | str = "ALL_CPUS",
    resampling: str = OVERVIEW_RESAMPLING,
) -> Path:
    """``source`` (the blocks' VRT, or any class raster) copied to the COG ``out``: written beside it, then renamed
    into place, so a reader never sees half a file. ``tags`` replace the source's own of the same names (a block's
    ``OCSGE_NODATA_PIXELS`` is not the mosaic's). ``resampling`` of the overviews: ``AVERAGE`` for a probability."""
    partial = out.with_name(out.name + ".partial.tif")
    retagged = _retagged(source, tags) if tags and source.suffix.lower() == ".vrt" else source
    try:
        rasterio.shutil.copy(
            retagged,
            partial,
            driver="COG",
            COMPRESS=COMPRESS,
            BLOCKSIZE=BLOCK,
            OVERVIEWS="IGNORE_EXISTING",
            OVERVIEW_RESAMPLING=resampling,
            BIGTIFF="IF_SAFER",
            NUM_THREADS=str(threads),
        )
        with rasterio.open(partial) as written:
            if written.nodata is None:
                raise OcsgeError(f"{source} declares no nodata: the mosaic COG would lose which pixels have no class")
        os.replace(partial, out)
    except (RasterioError, OcsgeError):
        partial.unlink(missing_ok=True)
        raise
    finally:
        if retagged != source:
            retagged.unlink(missing_ok=True)
    return out


def _retagged(vrt: Path, tags: dict[str, str]) -> Path:
    """A copy of the VRT ``vrt`` beside it (its relative sources still resolve) with ``tags`` in its metadata."""
    tree = ElementTree.parse(vrt)
    metadata = tree.getroot().find("Metadata")
    if metadata is None:
        metadata = ElementTree.SubElement(tree.getroot(), "Metadata")
    for item in [item for item in metadata.findall("MDI") if item.get("key") in tags]:
        metadata.remove(item)
    for key, value in sorted(tags.items()):
        ElementTree.SubElement(metadata, "MDI", key=key).text = value
    copy = vrt.with_name(vrt.stem + ".tagged.vrt")
    tree.write(copy)
    return copy
