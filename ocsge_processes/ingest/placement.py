"""Where a layer's geometries lie, checked before anything is written: a wrong CRS must be refused, not stored.

A ``.prj`` that says WGS 84 over Lambert-93 numbers turns every coordinate infinite once reprojected; a UTM 20N
``.prj`` over the same numbers moves the data thousands of kilometres. Both are caught here: every coordinate must be
finite, inside the declared CRS's area of use, inside the département CRS's area of use once reprojected, and inside
the extent of the département's communes where they are known.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

import numpy as np
import shapely
from pyproj import CRS, Transformer

from ..errors import DeliveryError
from ..layers import COMMUNES

if TYPE_CHECKING:
    from .deliveries import Batch

#: Distance a layer may reach beyond its département's communes. OCS GE is cut on BD TOPO's limits while commune
#: contours may be Admin Express (simplified, other coast and estuary lines): the real SYBARVAL BD TOPO communes lie
#: up to 974 m from their Admin Express COG 2018 contours. A wrong CRS moves data by hundreds of km or more.
DEPARTEMENT_MARGIN_M = 2_000.0

#: Degrees added around a CRS's area of use. EPSG's areas of UTM CRSs stop at the zone's edge (RGFG95 / UTM 22N:
#: east of 54°W) while IGN delivers whole départements in them (western French Guiana reaches 54.6°W); a wrong CRS
#: moves data by far more than this 1° (about 110 km).
AREA_OF_USE_MARGIN_DEG = 1.0

Bounds = tuple[float, float, float, float]


def refuse_nonfinite(geoms: np.ndarray, invalid: np.ndarray, crs: CRS, source: str) -> None:
    """Refuse geometries with an infinite or NaN coordinate.

    GEOS reports such coordinates as invalid, so only ``invalid`` geometries are looked at; this must run before
    repairs, which would quietly drop the bad vertices.
    """
    suspects = np.flatnonzero(invalid)
    if not len(suspects):
        return
    coords, owner = shapely.get_coordinates(geoms[suspects], return_index=True)
    bad = np.unique(owner[~np.isfinite(coords).all(axis=1)])
    if len(bad):
        raise DeliveryError(
            f"{source}: {len(bad)} of {len(geoms)} geometries have infinite or NaN coordinates (CRS {_name(crs)}); "
            f"extent found {_extent(shapely.bounds(geoms))}; nothing was written"
        )


def refuse_outside_area_of_use(geoms: np.ndarray, crs: CRS, source: str, role: str = "the declared CRS") -> None:
    """Refuse geometries outside ``crs``'s area of use (its lon/lat box with a margin, projected into ``crs``)."""
    area, box = crs.area_of_use, area_of_use(crs)
    if area is None or box is None or not len(geoms):
        return
    # The same shape as refuse_outside_departements (bounds, outside, raise) with another box and another message
    # for another mistake (a wrong CRS there, a wrong département here): folding would only move the message.
    bounds = shapely.bounds(geoms)
    outside = ~_inside(bounds, box)
    if outside.any():
        raise DeliveryError(
            f"{source}: {int(outside.sum())} of {len(geoms)} geometries lie outside the area of use of {role} "
            f"{_name(crs)} ({area.name.rstrip('.')}: {_extent(np.array([box]))} in its units); extent found "
            f"{_extent(bounds)}. The coordinates do not match the CRS: is the .prj (or the CRS in the name) wrong? "
            "Nothing was written"
        )


def area_of_use(crs: CRS) -> Bounds | None:
    """The area of use of ``crs``, widened by ``AREA_OF_USE_MARGIN_DEG``, as a box in its own coordinates (x, y
    order); None when it has none."""
    area = crs.area_of_use
    if area is None:
        return None
    m = AREA_OF_USE_MARGIN_DEG
    west, south = max(area.west - m, -180.0), max(area.south - m, -90.0)
    east, north = min(area.east + m, 180.0), min(area.north + m, 90.0)
    to_crs = Transformer.from_crs(CRS.from_epsg(4326), crs, always_xy=True)
    box = to_crs.transform_bounds(west, south, east, north, densify_pts=21)
    return box if np.isfinite(box).all() else None


def departement_extents(batches: Iterable[Batch], stored: Mapping[str, Bounds]) -> dict[str, Bounds]:
    """Extent of each département's communes: those of the delivery, else those already in the store."""
    extents = dict(stored)
    for batch in batches:
        if batch.layer is COMMUNES and len(batch.frame):
            x0, y0, x1, y1 = batch.frame.total_bounds
            extents[batch.departement] = (float(x0), float(y0), float(x1), float(y1))
    return extents


def refuse_outside_departements(batches: Iterable[Batch], extents: Mapping[str, Bounds]) -> None:
    """Refuse layers reaching beyond their département's communes by more than ``DEPARTEMENT_MARGIN_M``."""
    for batch in batches:
        departement = batch.departement
        if batch.layer is COMMUNES or departement not in extents or not len(batch.frame):
            continue
        x0, y0, x1, y1 = extents[departement]
        m = DEPARTEMENT_MARGIN_M
        allowed = (x0 - m, y0 - m, x1 + m, y1 + m)
        bounds = shapely.bounds(np.asarray(batch.frame.geometry.array, dtype=object))
        outside = ~_inside(bounds, allowed)
        if outside.any():
            raise DeliveryError(
                f"{batch.source}: {int(outside.sum())} of {len(bounds)} geometries of {batch.layer.collection_id} "
                f"lie outside département {departement} (in EPSG:{batch.epsg}, its communes span "
                f"{_extent(np.array([extents[departement]]))}, with a {m / 1000:g} km margin); extent found "
                f"{_extent(bounds)}. Is the file's CRS (.prj) or its département wrong? If the store holds only "
                "some communes of the département, ingest all of them first. Nothing was written"
            )


def _inside(bounds: np.ndarray, box: Bounds) -> np.ndarray:
    """Rows of ``bounds`` (minx, miny, maxx, maxy) inside ``box``; NaN rows (empty geometries) count as inside."""
    with np.errstate(invalid="ignore"):
        inside = (
            (bounds[:, 0] >= box[0]) & (bounds[:, 1] >= box[1]) & (bounds[:, 2] <= box[2]) & (bounds[:, 3] <= box[3])
        )
    return inside | np.isnan(bounds).all(axis=1)


def _extent(bounds: np.ndarray) -> str:
    finite = bounds[np.isfinite(bounds).all(axis=1)]
    if not len(finite):
        return "no finite coordinate"
    x0, y0, x1, y1 = finite[:, 0].min(), finite[:, 1].min(), finite[:, 2].max(), finite[:, 3].max()
    digits = 4 if max(abs(x0), abs(x1), abs(y0), abs(y1)) <= 360 else 0  # degrees, else metres
    return f"x {x0:.{digits}f} to {x1:.{digits}f}, y {y0:.{digits}f} to {y1:.{digits}f}"


def _name(crs: CRS) -> str:
    epsg = crs.to_epsg()
    return f"{crs.name} (EPSG:{epsg})" if epsg else crs.name
