"""What an execution will cost, known before it runs: enough to refuse a synchronous execution that cannot end
within the sync budget (the server's adapter decides, docs/limits.md), never one that might.

Each estimate is a lower bound on the run time: the throughput measured on the project's machine (2 shared vCPUs)
times ``SPEEDUP``, so that a server that much faster would still miss the budget. An input whose cost cannot be
known without fetching or decoding it (an ``href`` or inline image, a bbox territory) gives no estimate:
it runs, and the budget answers for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyproj
import rasterio
import shapely
import shapely.geometry

from ..errors import OcsgeError
from ..layers import COMMUNES
from ..stores import FeatureQuery, FeatureStore, table_name
from ..territory import departement_epsg, normalise_departement
from .images import ImagePolicy, fetch_image
from .territory_names import members

#: How much faster than the measuring machine a server may be while the estimates stay lower bounds.
SPEEDUP = 4.0
#: Default model on the CPU, 1008 × 1008 px RGB + IRC: 75 000–85 000 px/s (2026-12-04, AMD EPYC, 2 shared vCPUs).
CPU_PIXELS_PER_S = 80_000.0
#: On a GPU: not measured on the project's machine (it has none); an upper bound for the models of
#: config/models.yml on one datacentre GPU, so that a GPU server refuses nothing the pixel limit lets through.
GPU_PIXELS_PER_S = 20_000_000.0
#: Artificialisation of a territory given by its geometry: 23 000 vertices/s (100 849 vertices in 4.4 s, a Le Teich
#: contour densified, generated 2021 and 2024 stocks, 2026-12-04).
VERTICES_PER_S = 25_000.0
#: Artificialisation per commune: 0.08 s for the fastest measured (Arcachon, two generated millésimes).
SECONDS_PER_COMMUNE = 0.08


@dataclass(frozen=True)
class Cost:
    """A lower bound on an execution's run time, and what it was counted from (for the client's message)."""

    seconds: float
    what: str


# Any: the execution's inputs, JSON as the client sent it
def segmentation_cost(inputs: dict[str, Any], policy: ImagePolicy) -> Cost | None:
    """From the image's pixels: a WMS grid (bbox / resolution) or a data-directory file's header."""
    pixels = _pixels(inputs.get("image"), policy)
    if pixels is None or pixels > policy.max_pixels:
        return None  # beyond the pixel limit of every execution, the run's own refusal says so: async would not help
    from ..segmentation.device import select_device  # imports torch: only when a segmentation is asked for

    try:
        device = select_device(str(inputs.get("device", "auto"))).type
    except OcsgeError:
        return None
    rate = GPU_PIXELS_PER_S if device == "cuda" else CPU_PIXELS_PER_S
    return Cost(pixels / rate / SPEEDUP, f"{pixels:,} pixels on the {device.upper()}".replace(",", " "))


def artificialisation_cost(store: FeatureStore, territoire: object) -> Cost | None:
    """From the territory's communes (a list, or a département's count in the store) or its geometry's vertices."""
    if not isinstance(territoire, dict):
        return None
    communes = _commune_count(store, territoire)
    if communes is not None:
        return Cost(communes * SECONDS_PER_COMMUNE / SPEEDUP, f"{communes} communes")
    geometry = territoire.get("geometry")
    if isinstance(geometry, dict):
        try:
            vertices = int(shapely.get_num_coordinates(shapely.geometry.shape(geometry)))
        except (TypeError, ValueError, KeyError, AttributeError, shapely.errors.ShapelyError):
            return None
        return Cost(vertices / VERTICES_PER_S / SPEEDUP, f"a territory of {vertices:,} vertices".replace(",", " "))
    return None


def _pixels(image: object, policy: ImagePolicy) -> int | None:
    if not isinstance(image, dict):
        return None
    if isinstance(image.get("wms"), dict):
        wms = image["wms"]
        try:
            minx, miny, maxx, maxy = (float(v) for v in wms["bbox"])
            resolution = float(wms.get("resolution", 0.2))
            if not pyproj.CRS.from_user_input(wms.get("crs", "EPSG:2154")).is_projected or resolution <= 0:
                return None
        except (TypeError, ValueError, KeyError, pyproj.exceptions.CRSError):
            return None
        across, down = (maxx - minx) / resolution, (maxy - miny) / resolution
        if not across * down < 1e300:  # inf or NaN: no estimate; the run refuses the extent with its message
            return None
        return max(0, round(across)) * max(0, round(down))
    if "path" in image:
        try:  # the same checks as the run (under the data directory, size): the header of nothing else is read
            path: Path = fetch_image({"path": image["path"]}, "image", policy, Path())
            with rasterio.open(path) as dataset:
                return dataset.width * dataset.height
        except (OcsgeError, rasterio.errors.RasterioError, OSError):
            return None
    return None


def _commune_count(store: FeatureStore, territoire: dict[str, Any]) -> int | None:
    if isinstance(territoire.get("communes"), list):
        return len({str(code) for code in territoire["communes"]})
    if isinstance(territoire.get("liste"), list):  # each listed territory is measured apart
        counts = [_commune_count(store, item) if isinstance(item, dict) else None for item in territoire["liste"]]
        return sum(count for count in counts if count is not None) if None not in counts else None
    group = next((kind for kind in ("epci", "scot", "region") if isinstance(territoire.get(kind), str)), None)
    if group is not None:
        try:
            return len(members(store, group, territoire[group]))
        except OcsgeError:  # unknown: the run refuses it with its message
            return None
    if "departement" not in territoire:
        return None
    try:
        departement = normalise_departement(territoire["departement"])
        epsg = departement_epsg(departement)
        if table_name(COMMUNES, epsg) not in store.tables():
            return None
        page = store.query(COMMUNES, epsg, FeatureQuery(equals=(("departement", departement),), hits_only=True))
    except (OcsgeError, TypeError, ValueError):
        return None
    return page.number_matched
