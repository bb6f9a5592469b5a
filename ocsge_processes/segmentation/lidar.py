"""Training labels and an elevation band from classified LiDAR HD, on the grid of an orthophoto.

IGN's LiDAR HD points carry ASPRS classes (2 ground, 3/4/5 low/medium/high vegetation, 6 building, 9 water). Seen
from above, each 0.2 m pixel takes the class of its highest point, which is what the camera saw; ground is then
split by the orthophoto's NDVI into herbaceous land and sealed or bare land. The labels are good enough to train a
small model, not a substitute for photo-interpretation: shadows, overhangs and points missing under bridges are
left as they fall.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator
from dataclasses import dataclass
from functools import reduce
from pathlib import Path

import numpy as np
from rasterio.transform import Affine, rowcol

from ..errors import InvalidInputError

#: Label values of the default model's classes; NO_LABEL marks pixels without a usable point.
BUILDING, SEALED, TREES, HERBACEOUS, WATER = 0, 1, 2, 3, 4
NO_LABEL = 255

#: ASPRS classes of LiDAR HD and the label each gives when it is the highest point of a pixel (ground is split later).
_ASPRS_LABELS = {6: BUILDING, 4: TREES, 5: TREES, 3: HERBACEOUS, 9: WATER}
_GROUND = 2

#: NDVI above which visible ground is vegetated (grass, lawn) rather than sealed or bare.
NDVI_VEGETATED = 0.2

#: FLAIR's elevation encoding: nDSM in steps of 0.2 m, clipped to 0-255.
ELEVATION_STEP_M = 0.2


@dataclass(frozen=True)
class Points:
    """LiDAR points in the raster's CRS: coordinates and ASPRS classes."""

    x: np.ndarray
    y: np.ndarray
    z: np.ndarray
    classification: np.ndarray


def read_points(paths: list[Path]) -> Points:
    """Points of one or several LAS/LAZ files."""
    import laspy
    from laspy.lib import read_las  # laspy.read, imported from where it is defined (laspy has no __all__)

    parts = []
    for path in paths:
        try:
            las = read_las(path)
        except (OSError, laspy.errors.LaspyException) as err:
            raise InvalidInputError(f"{path}: not a readable LAS/LAZ file ({err})") from None
        parts.append((np.asarray(las.x), np.asarray(las.y), np.asarray(las.z), np.asarray(las.classification)))
    if not parts:
        raise InvalidInputError("no LiDAR file given")
    return Points(*(np.concatenate(column) for column in zip(*parts, strict=True)))


def labels_and_elevation(
    points: Points, transform: Affine, shape: tuple[int, int], red: np.ndarray, nir: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Label and 8-bit nDSM rasters of ``shape`` on ``transform`` (NO_LABEL / 0 where no point falls)."""
    xs, ys = points.x, points.y
    found_rows, found_cols = rowcol(transform, xs, ys)  # type: ignore[arg-type]  # vectorised: stubs say float or list
    rows, cols = np.asarray(found_rows), np.asarray(found_cols)
    inside = (rows >= 0) & (rows < shape[0]) & (cols >= 0) & (cols < shape[1])
    if not inside.any():
        raise InvalidInputError("no LiDAR point falls on the image: check that both are in the same place and CRS")
    pixel = rows[inside] * shape[1] + cols[inside]
    z, classes = points.z[inside], points.classification[inside]
    top = _spread(_highest(pixel, z, shape[0] * shape[1]).reshape(shape)).ravel()
    labels = np.full(shape[0] * shape[1], NO_LABEL, np.uint8)
    seen = top >= 0
    top_class = classes[top[seen]]
    labels[seen] = [_ASPRS_LABELS.get(int(c), NO_LABEL) for c in top_class]
    ground = np.zeros(labels.shape, bool)
    ground[np.flatnonzero(seen)[top_class == _GROUND]] = True
    vegetated = (_ndvi(red, nir) > NDVI_VEGETATED).ravel()
    labels[ground] = np.where(vegetated[ground], HERBACEOUS, SEALED)
    return labels.reshape(shape), _elevation(pixel, z, classes, top, shape)


def _highest(pixel: np.ndarray, z: np.ndarray, count: int) -> np.ndarray:
    """Index (into the points) of the highest point of each pixel, -1 where none."""
    order = np.lexsort((z, pixel))
    last = np.r_[pixel[order][1:] != pixel[order][:-1], True]
    top = np.full(count, -1, np.int64)
    top[pixel[order][last]] = order[last]
    return top


def _spread(top: np.ndarray, passes: int = 3) -> np.ndarray:
    """Pixels no point fell on (LiDAR HD has ~10 points/m², a 0.2 m pixel 0.04 m²) take a neighbour's point."""
    top = top.copy()
    for _ in range(passes):
        if not (top < 0).any():
            break
        for neighbour in _neighbours(top, -1):
            take = (neighbour >= 0) & (top < 0)
            top[take] = neighbour[take]
    return top


def _elevation(
    pixel: np.ndarray, z: np.ndarray, classes: np.ndarray, top: np.ndarray, shape: tuple[int, int]
) -> np.ndarray:
    """Height above ground of each pixel's highest point, FLAIR-encoded; ground is the lowest ground point nearby."""
    ground = classes == _GROUND
    if not ground.any():
        raise InvalidInputError("the LiDAR has no ground point (class 2): heights cannot be computed")
    floor = np.full(shape[0] * shape[1], np.inf)
    np.minimum.at(floor, pixel[ground], z[ground])
    floor = _fill(floor.reshape(shape))
    seen = top >= 0
    height = np.zeros(shape[0] * shape[1])
    height[seen] = z[top[seen]] - floor.ravel()[seen]
    return np.clip(np.round(height / ELEVATION_STEP_M), 0, 255).astype(np.uint8).reshape(shape)


def _fill(grid: np.ndarray) -> np.ndarray:
    """Pixels without ground take the mean of their known neighbours, growing outwards (a coarse terrain model)."""
    grid = grid.copy()
    while np.isinf(grid).any():
        known = np.isfinite(grid)
        if not known.any():
            break
        total = reduce(operator.add, _neighbours(np.where(known, grid, 0.0), 0.0))
        count = reduce(operator.add, _neighbours(known.astype(float), 0.0))
        grow = ~known & (count > 0)
        grid[grow] = total[grow] / count[grow]
    return grid


def _neighbours(grid: np.ndarray, outside: float) -> Iterator[np.ndarray]:
    """The grid shifted towards each of its 8 neighbours, ``outside`` beyond its edges.

    Each shift is taken when asked for, so a caller that updates ``grid`` between two sees its own updates.
    """
    rows, cols = grid.shape
    for dy, dx in ((0, 1), (0, -1), (1, 0), (-1, 0), (1, 1), (-1, -1), (1, -1), (-1, 1)):
        yield np.pad(grid, 1, constant_values=outside)[1 + dy : 1 + dy + rows, 1 + dx : 1 + dx + cols]


def _ndvi(red: np.ndarray, nir: np.ndarray) -> np.ndarray:
    red, nir = red.astype(float), nir.astype(float)
    ndvi: np.ndarray = np.divide(nir - red, nir + red, out=np.zeros_like(red), where=(nir + red) > 0)
    return ndvi
