"""What the pixel values of a segmentation raster mean, and their colours.

A raster holds one uint8 per pixel, 0 being nodata. Two legends:

* ``cs`` (the default, what the OCS GE products need): value *n* is the *n*-th couverture leaf in the order of
  ``config/nomenclature/couverture.csv`` (1 = CS1.1.1.1, …); classes that map to no leaf are 0. Colours are the
  nomenclature's.
* ``class``: the model's own class codes (FLAIR 1..19) with the model's colours, to inspect a model before mapping.

The legend is also written in the raster's metadata (``OCSGE_VALUES``), so a file explains itself if the nomenclature
file changes later.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from ..errors import InvalidInputError
from ..nomenclature import couverture
from .registry import ModelSpec

#: Accepted legends.
OUTPUTS = ("cs", "class")
#: Value of pixels without a class.
NODATA = 0


@dataclass(frozen=True)
class Legend:
    """Pixel value → code, colours, and the lookup table from model output channel to pixel value."""

    kind: str
    values: dict[int, str]
    colors: dict[int, tuple[int, int, int, int]]
    lut: np.ndarray

    def tags(self, model: str) -> dict[str, str]:
        """GeoTIFF metadata that names the model and the meaning of every value."""
        return {"OCSGE_MODEL": model, "OCSGE_OUTPUT": self.kind, "OCSGE_VALUES": json.dumps(self.values)}


def cs_values() -> dict[int, str]:
    """Pixel value of each couverture leaf in ``cs`` rasters."""
    return dict(enumerate(couverture().leaves(), start=1))


def legend(spec: ModelSpec, kind: str = "cs") -> Legend:
    """The legend of ``spec``'s rasters of ``kind``."""
    if kind == "cs":
        value_of = {code: value for value, code in cs_values().items()}
        lut = [value_of[klass.cs] if klass.cs else NODATA for klass in spec.classes]
        colors = {value: couverture().get(code).color for value, code in cs_values().items()}
        values = cs_values()
    elif kind == "class":
        if not all(0 < klass.code < 256 for klass in spec.classes):
            raise InvalidInputError(f"model {spec.name}: class codes must be 1 to 255 to be written as pixel values")
        lut = [klass.code for klass in spec.classes]
        colors = {klass.code: klass.color for klass in spec.classes}
        values = {klass.code: klass.name for klass in spec.classes}
    else:
        raise InvalidInputError(f"unknown output {kind!r}; expected one of {', '.join(OUTPUTS)}")
    palette = {NODATA: (0, 0, 0, 0)} | {value: _rgba(color) for value, color in colors.items()}
    return Legend(kind, values, palette, np.array(lut, np.uint8))


def _rgba(color: str) -> tuple[int, int, int, int]:
    return int(color[1:3], 16), int(color[3:5], 16), int(color[5:7], 16), 255
