"""Imperméabilisation from a segmentation run: the sealed area of each zone (commune, territory) counted in pixels of
the run's class raster.

A pixel is sealed when the couverture its value stands for is (``impermeable_codes``: CS1.1.1.1 + CS1.1.1.2, as the
official tool counts); it belongs to a zone when its centre lies inside the zone (GDAL's rasterisation rule), so
zones that tile a territory share no pixel. Areas are pixel counts × pixel area: exact to the raster's grid.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
from affine import Affine
from rasterio import features
from shapely.geometry.base import BaseGeometry

from .impermeable import impermeable_codes


@dataclass(frozen=True)
class ZoneSealing:
    """The pixels of one zone: how many it holds, how many are sealed, how many the model left unclassified."""

    code: str
    pixels: int
    sealed_pixels: int
    nodata_pixels: int
    pixel_m2: float

    @property
    def surface_m2(self) -> float:
        return self.pixels * self.pixel_m2

    @property
    def sealed_m2(self) -> float:
        return self.sealed_pixels * self.pixel_m2

    @property
    def rate(self) -> float | None:
        """Sealed share of the classified pixels (None when none is classified)."""
        classified = self.pixels - self.nodata_pixels
        return self.sealed_pixels / classified if classified else None


def sealed_values(values: Mapping[int, str]) -> list[int]:
    """The raster values whose couverture is sealed, from the raster's legend (value → CS code)."""
    sealed = impermeable_codes()
    return sorted(value for value, code in values.items() if code in sealed)


def zone_sealing(
    classes: np.ndarray,
    transform: Affine,
    values: Mapping[int, str],
    zones: Sequence[tuple[str, BaseGeometry]],
    nodata: int | None = 0,
) -> list[ZoneSealing]:
    """Per zone (code, geometry in the raster's CRS), its pixels of ``classes`` (a 2-D class array placed by
    ``transform``) and the sealed ones among them; values outside ``values`` and ``nodata`` count as unclassified."""
    if classes.ndim != 2:
        raise ValueError(f"a class raster is one band, not an array of shape {classes.shape}")
    pixel_m2 = abs(transform.a * transform.e - transform.b * transform.d)
    sealed = np.isin(classes, sealed_values(values))
    known = np.isin(classes, [value for value in values if value != nodata])
    result = []
    for code, geometry in zones:
        inside = (
            features.geometry_mask([geometry], classes.shape, transform, invert=True)
            if not geometry.is_empty
            else np.zeros(classes.shape, dtype=bool)
        )
        pixels = int(inside.sum())
        result.append(ZoneSealing(code, pixels, int((sealed & inside).sum()), int((inside & ~known).sum()), pixel_m2))
    return result
