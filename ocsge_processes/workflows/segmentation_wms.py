"""A WMS (the Géoplateforme's BD ORTHO layers by default) as the source of a run over dalles.

The territory's extent is cut into square cells of ``CELL_PX`` px on BD ORTHO's 0.2 m grid (corners at multiples of
the cell side, so that every run and every territory shares one cache), and each cell the territory touches is
fetched once per product, RVB and, for a model that reads NIR, IRC, by ``images.fetch_wms``: the one path of a WMS
GetMap through the outbound policy (allow-list, one checked address, no redirect followed, size and band checks).
A fetched cell is kept as a GeoTIFF in the cache (``<cache>/<source>/RVB|IRC/``, renamed into place whole), so a
resumed or repeated run asks the WMS for nothing it has; the run then reads the cells as it reads delivered dalles
(``dalles.describe``, ``dalles.pair``, ``mosaic.build``).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import pyproj
import shapely
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from ..errors import InvalidInputError
from ..segmentation.dalles import describe, pair
from ..segmentation.mosaic import Mosaic, Territory, build
from .images import IRC_LAYER, ORTHO_LAYER, ImagePolicy, fetch_wms

#: BD ORTHO's pixel, in metres.
RESOLUTION_M = 0.2
#: Side of a cell in px: 4 000 px (800 m), under the 4 096 px a GetMap of the Géoplateforme's WMS may ask for.
CELL_PX = 4000
#: Most cells one run may fetch: a large département (10 000 km²) in 800 m cells.
MAX_CELLS = 16_000


@dataclass(frozen=True)
class WmsSource:
    """Where the cells come from: a WMS 1.3.0 URL, its RVB and IRC layers, the grid's CRS and the image format."""

    url: str
    layers: str = ORTHO_LAYER
    irc_layers: str = IRC_LAYER
    crs: str = "EPSG:2154"
    format: str = "image/png"

    @property
    def key(self) -> str:
        """The cache folder's name: one per source, whatever the territory."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


def wms_source(spec: Mapping[str, object]) -> WmsSource:
    """The source of a ``dalles`` input ``{"wms": URL, "layers": ..., "irc_layers": ...}`` (the URL is checked by the
    outbound policy when a cell is fetched)."""
    url, layers, irc = spec.get("wms"), spec.get("layers", ORTHO_LAYER), spec.get("irc_layers", IRC_LAYER)
    if not isinstance(url, str) or not url or not isinstance(layers, str) or not isinstance(irc, str):
        raise InvalidInputError("dalles.wms must be the WMS URL, and dalles.layers and dalles.irc_layers layer names")
    return WmsSource(url, layers, irc)


def wms_mosaic(
    source: WmsSource,
    territory: Territory,
    bands: tuple[str, ...],
    policy: ImagePolicy,
    cache: Path,
    workdir: Path,
    report: Callable[[int, int], None] | None = None,
    cell_px: int = CELL_PX,
) -> Mosaic:
    """The mosaic of the WMS cells ``territory`` touches, fetched into ``cache`` where missing (``report(done,
    total)`` after each cell), for a model reading ``bands``."""
    area = _projected(territory, source.crs)
    cells = _cells(area, cell_px * RESOLUTION_M)
    if not cells:
        raise InvalidInputError(f"the territory {territory.label} has no area to fetch from the WMS")
    if len(cells) > MAX_CELLS:
        raise InvalidInputError(f"the territory needs {len(cells)} WMS cells; at most {MAX_CELLS} per run")
    products = {"RVB": source.layers, **({"IRC": source.irc_layers} if "NIR" in bands else {})}
    root = cache / source.key
    dalles = []
    for done, (left, bottom) in enumerate(cells, 1):
        for product, layer in products.items():
            path = root / product / f"wms-{round(left)}-{round(bottom)}.tif"
            if not path.is_file():
                _fetch(source, layer, (left, bottom, cell_px * RESOLUTION_M), policy, path)
            dalles.append(describe(path, root, product))
        if report is not None:
            report(done, len(cells))
    pairs, problems = pair(dalles)
    if problems:  # cells of one grid, one per product and place: a WMS answering otherwise is refused
        raise InvalidInputError("; ".join(problems))
    return build(pairs, bands, workdir, territory)


def territory_pixels(territory: Territory, crs: str = WmsSource.crs) -> int:
    """Pixels of BD ORTHO's grid inside ``territory`` (its area in ``crs``, a projected CRS in metres)."""
    return round(_projected(territory, crs).area / RESOLUTION_M**2)


def _fetch(source: WmsSource, layer: str, cell: tuple[float, float, float], policy: ImagePolicy, path: Path) -> None:
    """One cell of ``layer`` into ``path``, whole or not at all."""
    left, bottom, side = cell
    spec = {
        "url": source.url,
        "bbox": [left, bottom, left + side, bottom + side],
        "crs": source.crs,
        "resolution": RESOLUTION_M,
        "format": source.format,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent, prefix=".fetch-") as workdir:
        fetched = fetch_wms(spec, "dalles.wms", policy, Path(workdir), layer=layer)
        os.replace(fetched, path)


def _projected(territory: Territory, crs: str) -> BaseGeometry:
    """The territory in the WMS grid's CRS."""
    project = pyproj.Transformer.from_crs(territory.crs, crs, always_xy=True).transform
    area = shapely.transform(territory.geometry, lambda xy: np.column_stack(project(xy[:, 0], xy[:, 1])))
    if area.is_empty or not area.is_valid:
        raise InvalidInputError(f"the territory {territory.label} is empty or not a valid geometry")
    return area


def _cells(area: BaseGeometry, side_m: float) -> list[tuple[float, float]]:
    """Lower-left corners of the cells of ``side_m`` (corners at its multiples) that ``area`` overlaps with an
    area (touching along an edge is not needing a cell)."""
    minx, miny, maxx, maxy = area.bounds
    columns = range(math.floor(minx / side_m), math.ceil(maxx / side_m))
    rows = range(math.floor(miny / side_m), math.ceil(maxy / side_m))
    if len(columns) * len(rows) > 4 * MAX_CELLS:  # a bounding box far larger than any département: refused unlisted
        raise InvalidInputError(f"the territory spans {len(columns)} × {len(rows)} WMS cells; too large for one run")
    corners = [(i * side_m, j * side_m) for j in rows for i in columns]
    return [(x, y) for x, y in corners if area.intersection(box(x, y, x + side_m, y + side_m)).area > 0]
