"""Change between two campaigns: two class rasters of one grid → polygons of couverture change and sealing flows.

IGN's update chain compares an AI couverture of two aerial campaigns to find where the land changed; this does it for
two segmentation runs. A pixel changed when both runs classified it and gave it different couverture leaves.

- **Minimum units.** Changed pixels are grouped into 4-connected regions, whatever their before/after pair, and a
  region is kept when its area reaches the vectoriser's unit for what it touches (``vectorise.MinimumUnits``): the
  building unit where a building appeared or went, the zone construite unit otherwise. A change is judged with the
  lenient zone construite unit because whether it lies in one differs between the two campaigns. Within a kept
  region, each before/after pair is one polygon, however small: the region, not the pair, is what was mapped.
- **Confidence.** When both runs kept their probabilities (the engine's second COG, softmax × 255 per class), the
  ``confiance`` of a polygon is the mean, over its pixels, of the lower of the two runs' top probabilities: a change
  is as sure as the less sure of its two labels. A run over dalles publishes its top probability
  (``confiance.tif``); a run without it gives None.
- **Flows.** Imperméabilisation counts the kept pixels sealed after and not before (``impermeable.csv``: CS1.1.1.1 and
  CS1.1.1.2), désimperméabilisation the reverse, in m² of pixel area.

AI couverture is not OCS GE: no usage, no photo-interpretation, no IGN validation (``NOTICE``).
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import rasterio.features
import shapely
from shapely.geometry import shape

from ..artificialisation.components import connected_components
from ..artificialisation.impermeable import impermeable_codes
from ..errors import InvalidInputError
from .crs import same_crs
from .vectorise import BUILDING, ClassRaster, MinimumUnits, projected_crs

#: What every output of a change says about where its couverture comes from.
NOTICE = (
    "AI couverture, not OCS GE: a segmentation model's couverture of two orthophoto campaigns, without usage, "
    "without photo-interpretation and without IGN validation; a change may be a model error in either campaign."
)


@dataclass(frozen=True)
class SealingFlows:
    """Sealing between the two campaigns over the kept change polygons, in m²."""

    impermeabilisation_m2: float
    desimpermeabilisation_m2: float

    @property
    def net_m2(self) -> float:
        """Imperméabilisation less désimperméabilisation."""
        return self.impermeabilisation_m2 - self.desimpermeabilisation_m2


@dataclass(frozen=True)
class Change:
    """The polygons of change (``code_cs_avant``, ``code_cs_apres``, ``confiance``, ``surface_m2``) and the flows."""

    polygons: gpd.GeoDataFrame
    flows: SealingFlows
    notice: str = NOTICE


def change(
    before: ClassRaster,
    after: ClassRaster,
    *,
    units: MinimumUnits | None = None,
    confidence_before: np.ndarray | None = None,
    confidence_after: np.ndarray | None = None,
) -> Change:
    """The couverture change from ``before`` to ``after`` (same grid, each with its CS legend ``classes``).

    ``units`` are the vectoriser's by default. ``confidence_*`` are each run's top class probability per pixel
    (0 to 1), both or neither.
    """
    _check_grids(before, after)
    codes_before, codes_after = _codes(before, "before"), _codes(after, "after")
    changed = (codes_before != codes_after) & (codes_before != "") & (codes_after != "")
    pixel_area = abs(before.transform.determinant)
    kept = _kept_regions(changed, codes_before, codes_after, pixel_area, units or MinimumUnits())
    pairs, pair_index = np.unique(
        np.stack([codes_before[kept], codes_after[kept]], axis=1).astype(str), axis=0, return_inverse=True
    )
    pair_raster = np.full(changed.shape, -1, dtype=np.int64)
    pair_raster[kept] = pair_index.ravel()
    # One label per 4-connected patch of one pair: the polygons are traced from the labels, so each knows its pair
    # and its pixels (for the confidence) without rasterising it again.
    patches = _components(kept, pair_raster)
    shapes = list(rasterio.features.shapes(patches, mask=kept, connectivity=4, transform=before.transform))
    geometries = [shape(geometry) for geometry, _ in shapes]
    labels = np.array([int(value) for _, value in shapes], dtype=np.int64)
    patch_pair = np.zeros(int(patches.max()) + 1, dtype=np.int64)
    patch_pair[patches[kept]] = pair_raster[kept]
    values = patch_pair[labels]
    sure = _confidence(confidence_before, confidence_after, changed.shape)
    confiance: list[float | None] = [None] * len(labels)
    if sure is not None and len(labels):
        total = np.bincount(patches[kept], weights=sure[kept], minlength=len(patch_pair))
        count = np.bincount(patches[kept], minlength=len(patch_pair))
        confiance = [round(float(total[label] / count[label]), 4) for label in labels]
    sealed = np.array(sorted(impermeable_codes()))
    sealed_before, sealed_after = np.isin(codes_before, sealed), np.isin(codes_after, sealed)
    flows = SealingFlows(
        float(np.count_nonzero(kept & sealed_after & ~sealed_before)) * pixel_area,
        float(np.count_nonzero(kept & sealed_before & ~sealed_after)) * pixel_area,
    )
    frame = gpd.GeoDataFrame(
        {
            "code_cs_avant": [str(pairs[v][0]) for v in values],
            "code_cs_apres": [str(pairs[v][1]) for v in values],
            "confiance": confiance,
            "surface_m2": shapely.area(np.array(geometries, dtype=object)) if geometries else [],
        },
        geometry=geometries,
        crs=projected_crs(before.crs),
    )
    return Change(frame, flows)


def _check_grids(before: ClassRaster, after: ClassRaster) -> None:
    if before.pixels.shape != after.pixels.shape or not before.transform.almost_equals(after.transform):
        raise InvalidInputError(
            f"the two runs are not on one grid ({before.pixels.shape[1]} × {before.pixels.shape[0]} px at "
            f"{tuple(before.transform)[:6]} vs {after.pixels.shape[1]} × {after.pixels.shape[0]} px at "
            f"{tuple(after.transform)[:6]}): a change is computed pixel by pixel over the same territory"
        )
    if before.crs is None or after.crs is None or not same_crs(before.crs, after.crs):
        raise InvalidInputError(f"the two runs are not in one CRS ({before.crs} vs {after.crs})")


def _codes(raster: ClassRaster, which: str) -> np.ndarray:
    """The CS code of each pixel, '' where unclassified."""
    if raster.classes is None:
        raise InvalidInputError(f"the {which} raster carries no CS legend (OCSGE_VALUES tag of a 'cs' raster)")
    lookup = np.array([code or "" for code in raster.classes] + [""] * (256 - len(raster.classes)), dtype=object)
    if raster.nodata is not None:
        lookup[raster.nodata] = ""
    codes: np.ndarray = lookup[raster.pixels].astype(str)
    return codes


def _kept_regions(
    changed: np.ndarray, before: np.ndarray, after: np.ndarray, pixel_area: float, units: MinimumUnits
) -> np.ndarray:
    """The changed pixels whose 4-connected region of change reaches its minimum unit."""
    regions = _components(changed, np.zeros(changed.shape, dtype=np.int64))
    count = int(regions.max()) + 1
    size = np.bincount(regions[changed], minlength=count) * pixel_area
    building = np.bincount(
        regions[changed], weights=((before == BUILDING) | (after == BUILDING))[changed], minlength=count
    )
    unit = np.where(building > 0, units.building_m2, units.built_up_m2)
    big = size >= unit * (1 - 1e-9)  # a region of exactly its unit is kept despite float rounding
    kept: np.ndarray = changed & big[regions]
    return kept


def _components(mask: np.ndarray, values: np.ndarray) -> np.ndarray:
    """A label per pixel: the 4-connected pixels of ``mask`` with one value share one; a pixel off the mask is
    its own label (callers read labels under the mask only)."""
    height, width = mask.shape
    index = np.arange(mask.size, dtype=np.int64).reshape(height, width)
    across = mask[:, :-1] & mask[:, 1:] & (values[:, :-1] == values[:, 1:])
    down = mask[:-1] & mask[1:] & (values[:-1] == values[1:])
    first = np.concatenate([index[:, :-1][across], index[:-1][down]])
    second = np.concatenate([index[:, 1:][across], index[1:][down]])
    labels: np.ndarray = connected_components(mask.size, first, second).reshape(height, width)
    return labels.astype(np.int32)


def _confidence(before: np.ndarray | None, after: np.ndarray | None, shape_: tuple[int, ...]) -> np.ndarray | None:
    if (before is None) != (after is None):
        raise InvalidInputError("confidence is given for both runs or neither")
    if before is None or after is None:
        return None
    if before.shape != shape_ or after.shape != shape_:
        raise InvalidInputError(f"confidence rasters must be {shape_} px like the class rasters")
    sure: np.ndarray = np.minimum(before, after)
    return sure


def top_probability(probabilities: np.ndarray) -> np.ndarray:
    """Each pixel's top class probability (0 to 1) from the engine's probability COG bands (softmax × 255)."""
    top: np.ndarray = probabilities.max(axis=0).astype(np.float64) / 255.0
    return top
