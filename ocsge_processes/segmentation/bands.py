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
from affine import Affine
from rasterio.crs import CRS
from rasterio.windows import Window

from ..errors import InvalidInputError
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

    Files are opened by the thread that enters this context and must be read by that thread only (GDAL datasets are
    not thread-safe).
    """
    with contextlib.ExitStack() as stack_of_files:
        files = {
            path: stack_of_files.enter_context(open_raster(path, str(path), root=ANYWHERE))
            for path in dict(stack.sources)
        }

        def read(window: Window) -> np.ndarray:
            inside = window.intersection(Window(0, 0, stack.width, stack.height)).round_offsets().round_lengths()
            pixels = np.stack([files[path].read(index, window=inside) for path, index in stack.sources])
            top, left = int(inside.row_off - window.row_off), int(inside.col_off - window.col_off)
            bottom, right = window.height - inside.height - top, window.width - inside.width - left
            pad = ((0, 0), (top, int(bottom)), (left, int(right)))
            return np.pad(pixels, pad, mode="symmetric") if any(p for axis in pad for p in axis) else pixels

        yield read


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
    if info.crs != reference.crs:
        raise InvalidInputError(
            f"{path} is in CRS {_crs_name(info.crs)} but {image} is in {_crs_name(reference.crs)}; "
            f"both must share the CRS"
        )
    pixel = max(abs(reference.transform.a), abs(reference.transform.e))
    if not info.transform.almost_equals(reference.transform, precision=GRID_TOLERANCE_PX * pixel):
        raise InvalidInputError(
            f"{path} has georeferencing {tuple(info.transform)[:6]} but {image} has "
            f"{tuple(reference.transform)[:6]}; both must cover the same grid"
        )


def _crs_name(crs: CRS | None) -> str:
    if crs is None:
        return "none"
    return crs.to_string() if crs.to_epsg() else crs.to_wkt()[:80]
