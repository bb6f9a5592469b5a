"""Paired dalles laid on one grid and limited to a territory: the band stack a run segments, with what is missing.

All dalles must share one grid (CRS by definition, pixel size, pixel corners); the mosaic is two VRTs (RVB and IRC)
written beside the run, whose sources are the dalles themselves, and its ``coverage`` (the dalles' windows): a
missing dalle is reported and its pixels are nodata, never filled. A territory (a geometry in any CRS) keeps the
dalles it touches; a territory that touches none is refused.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ElementTree
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyproj
import shapely
from affine import Affine
from rasterio.windows import Window
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from ..errors import InvalidInputError
from .bands import BandStack, assemble
from .dalles import Dalle, Pair, same_grid


@dataclass(frozen=True)
class Territory:
    """The geometry limiting a run, in the CRS ``crs`` (any pyproj definition), and how the user named it."""

    geometry: BaseGeometry
    crs: str
    label: str


@dataclass(frozen=True)
class Mosaic:
    """The stack to segment, the dalles in it, and what was asked for but is not there."""

    stack: BandStack
    pairs: tuple[Pair, ...]
    #: The territory in the mosaic's CRS (the whole mosaic without one).
    area: BaseGeometry
    missing: tuple[str, ...]

    @property
    def pixel_m2(self) -> float:
        return abs(self.stack.transform.a * self.stack.transform.e)


def build(pairs: Sequence[Pair], bands: Sequence[str], workdir: Path, territory: Territory | None = None) -> Mosaic:
    """The mosaic of ``pairs`` inside ``territory`` for a model reading ``bands``; VRTs written in ``workdir``."""
    if not pairs:
        raise InvalidInputError("no RVB dalle to segment")
    reference = pairs[0].rvb
    for found in pairs[1:]:
        same_grid(reference, found.rvb)
    area = _area(territory, reference) if territory else None
    missing: list[str] = []
    chosen = [p for p in pairs if area is None or area.intersects(box(*p.rvb.bounds))]
    if not chosen:
        raise InvalidInputError(f"the territory {territory.label if territory else ''} lies outside the dalles given")
    if "NIR" in bands:
        missing += [f"IRC dalle of {p.rvb.path.name} (its pixels are left unclassified)" for p in chosen if not p.irc]
    if area is not None:
        missing += _missing_cells(area, [p.rvb for p in pairs], reference)
    if "NIR" in bands and not any(p.irc for p in chosen):
        raise InvalidInputError("the model reads NIR and no IRC dalle was given for the territory")
    transform, width, height = _extent([p.rvb for p in chosen], reference)
    coverage = [p for p in chosen if p.irc is not None or "NIR" not in bands]
    rvb_vrt = _write_vrt(workdir / "rvb.vrt", [p.rvb for p in chosen], transform, width, height)
    irc_vrt = None
    if "NIR" in bands:
        irc_vrt = _write_vrt(workdir / "irc.vrt", [p.irc for p in coverage if p.irc], transform, width, height)
    stack = assemble(rvb_vrt, bands, irc=irc_vrt)
    windows = tuple(_window(p.rvb, transform) for p in coverage)
    whole = box(*_bounds(transform, width, height))
    return Mosaic(
        BandStack(stack.bands, stack.sources, width, height, transform, stack.crs, windows),
        tuple(chosen),
        whole if area is None else area.intersection(whole),
        tuple(missing),
    )


def _area(territory: Territory, reference: Dalle) -> BaseGeometry:
    """The territory in the dalles' CRS."""
    source = pyproj.CRS.from_user_input(territory.crs)
    target = pyproj.CRS.from_wkt(reference.crs.to_wkt())
    project = pyproj.Transformer.from_crs(source, target, always_xy=True).transform
    area = shapely.transform(territory.geometry, lambda xy: np.column_stack(project(xy[:, 0], xy[:, 1])))
    if area.is_empty or not area.is_valid:
        raise InvalidInputError(f"the territory {territory.label} is empty or not a valid geometry")
    return area


def _missing_cells(area: BaseGeometry, dalles: Sequence[Dalle], reference: Dalle) -> list[str]:
    """Cells of the dalles' layout (their size, from the first dalle's corner) that the territory touches and no
    dalle covers: named by their corner in km, as IGN names dalles."""
    size_x, size_y = reference.width * reference.transform.a, reference.height * abs(reference.transform.e)
    left0, _, _, top0 = reference.bounds
    minx, miny, maxx, maxy = area.bounds
    present = {(round((d.bounds[0] - left0) / size_x), round((top0 - d.bounds[3]) / size_y)) for d in dalles}
    missing = []
    for i in range(math.floor((minx - left0) / size_x), math.ceil((maxx - left0) / size_x)):
        for j in range(math.floor((top0 - maxy) / size_y), math.ceil((top0 - miny) / size_y)):
            cell = box(left0 + i * size_x, top0 - (j + 1) * size_y, left0 + (i + 1) * size_x, top0 - j * size_y)
            # Touching only along an edge is not needing the cell: the intersection must have an area.
            if (i, j) not in present and area.intersection(cell).area > 0:
                x_km, y_km = (left0 + i * size_x) / 1000, (top0 - j * size_y) / 1000
                missing.append(f"dalle at {x_km:g} km, {y_km:g} km (not delivered; its pixels are left unclassified)")
    return missing


def _extent(dalles: Sequence[Dalle], reference: Dalle) -> tuple[Affine, int, int]:
    """The smallest grid holding ``dalles``, on the reference's pixels."""
    left = min(d.bounds[0] for d in dalles)
    top = max(d.bounds[3] for d in dalles)
    a, e = reference.transform.a, reference.transform.e
    transform = Affine(a, 0.0, left, 0.0, e, top)
    width = max(_window(d, transform).col_off + d.width for d in dalles)
    height = max(_window(d, transform).row_off + d.height for d in dalles)
    return transform, int(width), int(height)


def _window(dalle: Dalle, transform: Affine) -> Window:
    col, row = ~transform @ (dalle.transform.c, dalle.transform.f)
    return Window(round(col), round(row), dalle.width, dalle.height)


def _bounds(transform: Affine, width: int, height: int) -> tuple[float, float, float, float]:
    right, bottom = transform @ (width, height)
    return transform.c, min(bottom, transform.f), right, max(bottom, transform.f)


def _write_vrt(path: Path, dalles: Sequence[Dalle], transform: Affine, width: int, height: int) -> Path:
    """A VRT of ``dalles`` on the mosaic's grid (3 bands, 8 bits); places without a dalle read 0 and are out of
    the coverage."""
    root = ElementTree.Element("VRTDataset", rasterXSize=str(width), rasterYSize=str(height))
    ElementTree.SubElement(root, "SRS").text = dalles[0].crs.to_wkt() if dalles else ""
    ElementTree.SubElement(root, "GeoTransform").text = ", ".join(repr(v) for v in transform.to_gdal())
    for band in (1, 2, 3):
        element = ElementTree.SubElement(root, "VRTRasterBand", dataType="Byte", band=str(band))
        for dalle in dalles:
            window = _window(dalle, transform)
            source = ElementTree.SubElement(element, "SimpleSource")
            ElementTree.SubElement(source, "SourceFilename", relativeToVRT="0").text = str(dalle.path.resolve())
            ElementTree.SubElement(source, "SourceBand").text = str(band)
            size = {"xSize": str(dalle.width), "ySize": str(dalle.height)}
            ElementTree.SubElement(source, "SrcRect", {"xOff": "0", "yOff": "0", **size})
            corner = {"xOff": str(window.col_off), "yOff": str(window.row_off)}
            ElementTree.SubElement(source, "DstRect", {**corner, **size})
    path.parent.mkdir(parents=True, exist_ok=True)
    ElementTree.ElementTree(root).write(path)
    return path
