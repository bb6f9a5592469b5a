"""The class rasters of a run's blocks seen as one raster on the mosaic's grid: a VRT of the block COGs.

Blocks partition the mosaic and each COG is on its block's part of the grid, so the VRT only places them: no
resampling, no overlap. Its legend (colour table, ``OCSGE_VALUES``) is the blocks' own; a block not finished reads
as nodata (0). GDAL, QGIS and rasterio read it like a single file; one COG mosaic with overviews is for later.
"""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from pathlib import Path

import rasterio
from rasterio.enums import ColorInterp
from rasterio.windows import Window

from .bands import BandStack
from .legend import NODATA


def write_blocks_vrt(path: Path, grid: BandStack, blocks: Sequence[tuple[Path, Window]]) -> Path:
    """A one-band VRT on ``grid`` placing each block COG at its window (paths relative to the VRT's folder)."""
    root = ElementTree.Element("VRTDataset", rasterXSize=str(grid.width), rasterYSize=str(grid.height))
    ElementTree.SubElement(root, "SRS").text = grid.crs.to_wkt() if grid.crs else ""
    ElementTree.SubElement(root, "GeoTransform").text = ", ".join(repr(v) for v in grid.transform.to_gdal())
    band = ElementTree.SubElement(root, "VRTRasterBand", dataType="Byte", band="1")
    ElementTree.SubElement(band, "NoDataValue").text = str(NODATA)
    colours: dict[int, tuple[int, int, int] | tuple[int, int, int, int]] | None = None
    if blocks:
        with rasterio.open(blocks[0][0]) as first:
            tags = first.tags()
            # A confidence raster has no legend: its VRT has no colour table.
            colours = first.colormap(1) if first.colorinterp[0] == ColorInterp.palette else None
        metadata = ElementTree.SubElement(root, "Metadata")
        for key, text in sorted(tags.items()):
            ElementTree.SubElement(metadata, "MDI", key=key).text = text
    if colours is not None:
        ElementTree.SubElement(band, "ColorInterp").text = "Palette"
        table = ElementTree.SubElement(band, "ColorTable")
        for value in range(max(colours) + 1):
            rgba = (*colours.get(value, (0, 0, 0, 0)), 255)[:4]  # GDAL gives 4 components; a 3-tuple is opaque
            ElementTree.SubElement(table, "Entry", {f"c{i}": str(c) for i, c in enumerate(rgba, start=1)})
    for block_path, window in blocks:
        source = ElementTree.SubElement(band, "SimpleSource")
        relative = block_path.resolve().relative_to(path.parent.resolve())
        ElementTree.SubElement(source, "SourceFilename", relativeToVRT="1").text = relative.as_posix()
        ElementTree.SubElement(source, "SourceBand").text = "1"
        size = {"xSize": str(int(window.width)), "ySize": str(int(window.height))}
        ElementTree.SubElement(source, "SrcRect", {"xOff": "0", "yOff": "0", **size})
        corner = {"xOff": str(int(window.col_off)), "yOff": str(int(window.row_off))}
        ElementTree.SubElement(source, "DstRect", {**corner, **size})
    ElementTree.ElementTree(root).write(path)
    return path
