"""Assemble a model's input bands from orthophotos as IGN delivers them.

BD ORTHO comes as separate products: RVB (R, G, B) and IRC, a false-colour image whose bands are NIR, R, G. A model
reading R, G, B, NIR takes the first three from the RVB file and the near infrared from the IRC file; an elevation
band (nDSM encoded as FLAIR does: metres / 0.2, 8-bit) comes from a third file. An image may also carry 4 (R, G, B,
NIR) or 5 (R, G, B, NIR, E) bands itself. Every file must share the image's grid and CRS: bands are stacked pixel by
pixel, never resampled.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import rasterio
from affine import Affine
from rasterio.crs import CRS
from rasterio.enums import MaskFlags
from rasterio.windows import Window

from ..errors import InvalidInputError
from .crs import crs_name, same_crs
from .rasters import ANYWHERE, open_raster

#: Bands of an image by its band count.
IMAGE_BANDS = {3: ("R", "G", "B"), 4: ("R", "G", "B", "NIR"), 5: ("R", "G", "B", "NIR", "E")}
#: Bands of a BD ORTHO IRC image, in file order.
IRC_BANDS = ("NIR", "R", "G")
#: Largest gap between two files' origins or pixel sizes, in pixels, still taken as the same grid.
GRID_TOLERANCE_PX = 1e-3


@dataclass(frozen=True)
class BandStack:
    """Where each input band of a model is read: (file, 1-based band index) per band, and the common grid."""

    bands: tuple[str, ...]
    sources: tuple[tuple[Path, int], ...]
    width: int
    height: int
    transform: Affine
    crs: CRS | None
    #: The parts of the grid that have files (a mosaic with missing dalles); None: all of it.
    coverage: tuple[Window, ...] | None = None


def assemble(image: Path, bands: Sequence[str], irc: Path | None = None, elevation: Path | None = None) -> BandStack:
    """The ``bands`` a model needs, taken from ``image`` and, for what it lacks, from ``irc`` and ``elevation``."""
    available: dict[str, tuple[Path, int]] = {}
    reference = _describe(image)
    if reference.count not in IMAGE_BANDS:
        raise InvalidInputError(
            f"{image} has {reference.count} band(s); expected 3 (R,G,B), 4 (R,G,B,NIR) or 5 (R,G,B,NIR,E)"
        )
    extras = [(irc, IRC_BANDS, "an IRC image (NIR,R,G)"), (elevation, ("E",), "an elevation image")]
    for path, names, what in extras:
        if path is None:
            continue
        info = _describe(path)
        if info.count != len(names):
            raise InvalidInputError(f"{path} has {info.count} band(s); {what} has {len(names)}")
        _same_grid(image, reference, path, info)
        for index, name in enumerate(names, start=1):
            available.setdefault(name, (Path(path), index))
    # The image's own bands win: R and G of the RVB file, not the IRC copies.
    available.update({name: (Path(image), index) for index, name in enumerate(IMAGE_BANDS[reference.count], 1)})
    missing = [band for band in bands if band not in available]
    if missing:
        raise InvalidInputError(
            f"the model reads bands {','.join(bands)}; {', '.join(missing)} missing "
            f"(image {image} gives {','.join(IMAGE_BANDS[reference.count])}; NIR comes from an "
            f"IRC image, E from an elevation image)"
        )
    return BandStack(
        tuple(bands),
        tuple(available[band] for band in bands),
        reference.width,
        reference.height,
        reference.transform,
        reference.crs,
    )


@contextlib.contextmanager
def open_reader(stack: BandStack) -> Iterator[Callable[[Window], np.ndarray]]:
    """A function reading a window of the stack as uint8 (bands, rows, cols), padding outside the raster by mirror.

    The mirror is the raster's (as ``np.pad(raster, mode="symmetric")`` would give, however far the window goes
    out), never the window's own part inside: a pixel then reads the same context whatever the plan of windows.

    Files are opened by the thread that enters this context and must be read by that thread only (GDAL datasets are
    not thread-safe).
    """
    with contextlib.ExitStack() as stack_of_files:
        files = {
            path: stack_of_files.enter_context(open_raster(path, str(path), root=ANYWHERE))
            for path in dict(stack.sources)
        }

        def read(window: Window) -> np.ndarray:
            rows = _mirrored(int(window.row_off), int(window.height), stack.height)
            cols = _mirrored(int(window.col_off), int(window.width), stack.width)
            top, left = int(rows.min()), int(cols.min())
            inside = Window(left, top, int(cols.max()) - left + 1, int(rows.max()) - top + 1)
            pixels = np.stack([files[path].read(index, window=inside) for path, index in stack.sources])
            if inside.width == window.width and inside.height == window.height:
                return pixels  # wholly inside the raster: the rows and columns are already in order
            return pixels[:, (rows - top)[:, None], (cols - left)[None, :]]

        yield read


def _mirrored(start: int, size: int, length: int) -> np.ndarray:
    """Raster indices of ``start`` … ``start + size - 1`` on an axis of ``length`` mirrored at both ends (edge pixel
    repeated, period 2 × length)."""
    index = np.arange(start, start + size) % (2 * length)
    mirrored: np.ndarray = np.where(index < length, index, 2 * length - 1 - index)
    return mirrored


@contextlib.contextmanager
def open_validity(stack: BandStack) -> Iterator[Callable[[Window], np.ndarray | None]]:
    """A function telling, for a window inside the raster, which pixels have data in every file of the stack
    (bool rows × cols), or None where every file says all its pixels are valid.

    It reads GDAL's mask band of each file as a whole (``dataset_mask``: an alpha band, an internal mask, or a
    nodata value matched on every band at once), never a value per band: the real Montpellier patch declares 255
    as nodata, and a white roof is 255 in one band without being missing. Same thread rule as ``open_reader``.
    """
    with contextlib.ExitStack() as stack_of_files:
        files = [
            stack_of_files.enter_context(open_raster(path, str(path), root=ANYWHERE)) for path in dict(stack.sources)
        ]
        masked = [dataset for dataset in files if not _all_valid(dataset)]

        def valid(window: Window) -> np.ndarray | None:
            masks = [dataset.dataset_mask(window=window) > 0 for dataset in masked]
            if stack.coverage is not None:
                masks.append(_covered(window, stack.coverage))
            if not masks:
                return None
            usable: np.ndarray = np.logical_and.reduce(masks)
            return usable

        yield valid


def _covered(window: Window, coverage: tuple[Window, ...]) -> np.ndarray:
    """Pixels of ``window`` inside one of the ``coverage`` windows."""
    inside = np.zeros((int(window.height), int(window.width)), bool)
    for part in coverage:
        top, left = int(part.row_off - window.row_off), int(part.col_off - window.col_off)
        rows = slice(max(top, 0), max(min(top + int(part.height), inside.shape[0]), 0))
        cols = slice(max(left, 0), max(min(left + int(part.width), inside.shape[1]), 0))
        inside[rows, cols] = True
    return inside


def _all_valid(dataset: rasterio.io.DatasetReader) -> bool:
    return all(flags == [MaskFlags.all_valid] for flags in dataset.mask_flag_enums)


@dataclass(frozen=True)
class _Info:
    count: int
    width: int
    height: int
    transform: Affine
    crs: CRS | None


def _describe(path: Path) -> _Info:
    with open_raster(path, str(path), root=ANYWHERE) as dataset:
        dtypes = set(dataset.dtypes)
        info = _Info(dataset.count, dataset.width, dataset.height, dataset.transform, dataset.crs)
    if dtypes != {"uint8"}:
        raise InvalidInputError(
            f"{path} has {', '.join(sorted(dtypes))} bands; orthophotos and the elevation band must be 8-bit (uint8)"
        )
    return info


def _same_grid(image: Path, reference: _Info, path: Path, info: _Info) -> None:
    if (info.width, info.height) != (reference.width, reference.height):
        raise InvalidInputError(
            f"{path} is {info.width}×{info.height} px but {image} is "
            f"{reference.width}×{reference.height} px; both must cover the same grid"
        )
    if not same_crs(info.crs, reference.crs):
        raise InvalidInputError(
            f"{path} is in CRS {crs_name(info.crs)} but {image} is in {crs_name(reference.crs)}; "
            f"both must share the CRS"
        )
    pixel = max(abs(reference.transform.a), abs(reference.transform.e))
    if not info.transform.almost_equals(reference.transform, precision=GRID_TOLERANCE_PX * pixel):
        raise InvalidInputError(
            f"{path} has georeferencing {tuple(info.transform)[:6]} but {image} has "
            f"{tuple(reference.transform)[:6]}; both must cover the same grid"
        )
