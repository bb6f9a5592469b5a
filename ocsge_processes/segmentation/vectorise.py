"""Class rasters to OCS GE couverture polygons: minimum mapping units, then a clean, simplified partition.

A segmentation model labels pixels; OCS GE maps patches no smaller than its minimum mapping units (IGN's legend,
"UMI"): 200 m² for buildings (CS1.1.1.1), 500 m² for anything else inside a *zone construite*, 2 500 m² elsewhere.

1. Patches are the 4-connected pixels of one code, as polygonisation with connectivity 4 will draw them.
2. The zone construite is not in the raster, so it is approximated: pixels within ``built_up_reach_m`` of a building
   patch that meets its own unit, measured in a square window (Chebyshev distance: up to √2 further along the
   diagonals; doubling ORs compute it without scipy). A patch is inside when at least half of its pixels are. IGN
   derives its ZONE_CONSTRUITE layer from buildings, but with parameters our references do not give: the 20 m default
   is our choice, wide enough to take in the gardens and streets between houses, narrow enough that a field beside a
   lone farm stays in open country. Roads and car parks alone do not make a zone construite.
3. A patch under its unit merges into the neighbour it shares the longest boundary with, smallest patch first (in
   rounds of patches that no smaller small patch touches), and touching patches of one code then fuse, so that a
   patch may grow past its unit. rasterio's ``sieve`` is not used: it has one size for every class and cannot say
   which neighbour absorbs a patch. Nodata is never a neighbour: a small patch enclosed in nodata stays.
4. Polygons are traced in pixel coordinates, where every vertex is an exact integer, given a vertex at every pixel
   corner so that shared edges match vertex for vertex (GDAL leaves out the T-junctions a coverage needs), and
   simplified together with ``shapely.coverage_simplify`` (GEOS ≥ 3.12), which moves shared edges once for both
   sides. The outer boundary of the classified area stays on pixel edges, so the polygons cover exactly the classified
   pixels, with no gap and no overlap; the result is checked with ``shapely.coverage_is_valid``.

The whole raster is worked on in memory, about 30 bytes per pixel at the peak (labels, runs, masks), so
``MAX_PIXELS`` bounds it: 5 000 × 5 000 px, 1 km² at 0.2 m, took 5 s and 0.7 GB on one core with a noisy
classification. A larger raster must be cut into windows (``read_class_raster(window=...)``), whose polygons are cut
at the window edges and whose units are judged within each window.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import rasterio
import rasterio.features
import shapely
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import RasterioIOError
from rasterio.windows import Window
from shapely.geometry import shape

from ..artificialisation.components import connected_components
from ..errors import InvalidInputError, OcsgeError
from ..nomenclature import MIN_AREA_BUILDING_M2, MIN_AREA_BUILT_UP_M2, MIN_AREA_M2, couverture

#: Couverture code of buildings, the only class with its own unit.
BUILDING = "CS1.1.1.1"
#: Most pixels vectorised at once (see the module docstring for the memory it takes).
MAX_PIXELS = 25_000_000
#: Internal code index of pixels without a class.
NONE = 255
#: Relative slack on area comparisons, so that a patch of exactly its unit is kept despite float rounding.
_SLACK = 1e-9
#: Simplification tolerance (px) that removes collinear vertices only.
COLLINEAR_PX = 1e-6


@dataclass(frozen=True)
class MinimumUnits:
    """OCS GE minimum mapping units (m²), and how far around buildings the zone construite reaches (m)."""

    building_m2: float = MIN_AREA_BUILDING_M2
    built_up_m2: float = MIN_AREA_BUILT_UP_M2
    open_m2: float = MIN_AREA_M2
    built_up_reach_m: float = 20.0

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if not value >= 0:
                raise InvalidInputError(f"minimum unit {name} must be a number ≥ 0; got {value}")


@dataclass(frozen=True)
class ClassRaster:
    """Band 1 of a class raster with its grid; ``classes`` is the CS legend the file carries, if any."""

    pixels: np.ndarray
    transform: Affine
    crs: CRS | None
    nodata: int | None
    classes: tuple[str | None, ...] | None


def read_class_raster(path: str | Path, window: Window | None = None, *, max_pixels: int = MAX_PIXELS) -> ClassRaster:
    """Band 1 of the GeoTIFF ``path``, whole or one ``window``, refused before reading if over ``max_pixels``.

    ``classes`` comes from the ``OCSGE_VALUES`` tag of the engine's ``cs`` rasters (value → CS code), so that they
    vectorise without restating their legend.
    """
    try:
        dataset = rasterio.open(path)
    except RasterioIOError as exc:
        raise InvalidInputError(f"{path} is not a readable raster: {exc}") from None
    with dataset:
        window = window or Window(0, 0, dataset.width, dataset.height)
        _check_size(int(window.height), int(window.width), max_pixels)
        pixels = dataset.read(1, window=window)
        tags = dataset.tags()
        classes = None
        if tags.get("OCSGE_OUTPUT") == "cs" and "OCSGE_VALUES" in tags:
            values = {int(value): code for value, code in json.loads(tags["OCSGE_VALUES"]).items()}
            classes = tuple(values.get(value) for value in range(max(values) + 1))
        nodata = None if dataset.nodata is None else int(dataset.nodata)
        return ClassRaster(pixels, dataset.window_transform(window), dataset.crs, nodata, classes)


def vectorise_file(
    path: str | Path,
    classes: Sequence[str | None] | None = None,
    *,
    window: Window | None = None,
    units: MinimumUnits = MinimumUnits(),
    tolerance_m: float | None = None,
    max_pixels: int = MAX_PIXELS,
) -> gpd.GeoDataFrame:
    """:func:`vectorise` of band 1 of ``path`` (or a ``window``), with the file's nodata and, by default, its legend."""
    raster = read_class_raster(path, window, max_pixels=max_pixels)
    classes = classes if classes is not None else raster.classes
    if classes is None:
        raise InvalidInputError(
            f"{path} carries no CS legend (OCSGE_VALUES tag of a 'cs' raster): give the CS code of each pixel value"
        )
    return vectorise(
        raster.pixels,
        raster.transform,
        raster.crs,
        classes,
        nodata=raster.nodata,
        units=units,
        tolerance_m=tolerance_m,
        max_pixels=max_pixels,
    )


def vectorise(
    pixels: np.ndarray,
    transform: Affine,
    crs: CRS | pyproj.CRS | str | None,
    classes: Sequence[str | None],
    *,
    nodata: int | None = 255,
    units: MinimumUnits = MinimumUnits(),
    tolerance_m: float | None = None,
    max_pixels: int = MAX_PIXELS,
) -> gpd.GeoDataFrame:
    """OCS GE polygons (``code_cs``, ``surface_m2``) partitioning the classified pixels of ``pixels``.

    ``pixels`` is a uint8 array whose value *v* has the couverture leaf ``classes[v]``; ``nodata`` and values whose
    entry is None are not classified and get no polygon. ``crs`` must be projected in metres, as units are areas.
    ``tolerance_m`` is the simplification tolerance, one pixel side by default; 0 keeps the pixel edges.
    """
    _check_pixels(pixels, nodata, max_pixels)
    codes, code_raster = index_codes(pixels, classes, nodata)
    crs = projected_crs(crs)
    pixel_area = abs(transform.determinant)
    if pixel_area == 0:
        raise InvalidInputError(f"the transform {tuple(transform)[:6]} is degenerate (pixels of zero area)")
    tolerance_px = 1.0 if tolerance_m is None else tolerance_m / np.sqrt(pixel_area)
    if not tolerance_px >= 0:
        raise InvalidInputError(f"tolerance_m must be ≥ 0; got {tolerance_m}")
    building = codes.index(BUILDING) if BUILDING in codes else -1
    merged = apply_units(code_raster, transform, building, units)
    geometries, values = _trace(merged, transform, tolerance_px)
    return gpd.GeoDataFrame(
        {"code_cs": np.array(codes, dtype=object)[values], "surface_m2": shapely.area(geometries)},
        geometry=geometries,
        crs=crs,
    )


def _check_size(height: int, width: int, max_pixels: int) -> None:
    if height * width > max_pixels:
        raise InvalidInputError(
            f"class raster of {width} × {height} px is over the {max_pixels} px that are "
            f"vectorised at once; vectorise it by windows"
        )


def _check_pixels(pixels: np.ndarray, nodata: int | None, max_pixels: int) -> None:
    if not isinstance(pixels, np.ndarray) or pixels.ndim != 2:
        raise InvalidInputError(f"a class raster is a 2-D array (rows, columns); got shape {np.shape(pixels)}")
    if pixels.dtype != np.uint8:
        raise InvalidInputError(f"a class raster holds uint8 class values; got {pixels.dtype}")
    if not pixels.size:
        raise InvalidInputError(f"the class raster is empty ({pixels.shape[1]} × {pixels.shape[0]} px)")
    if nodata is not None and not 0 <= nodata <= 255:
        raise InvalidInputError(f"nodata of a uint8 class raster must be 0 to 255 or None; got {nodata}")
    height, width = pixels.shape
    _check_size(height, width, max_pixels)


def index_codes(pixels: np.ndarray, classes: Sequence[str | None], nodata: int | None) -> tuple[list[str], np.ndarray]:
    """The distinct CS codes, and each pixel's index among them (``NONE`` where unclassified)."""
    if not 0 < len(classes) <= 256:
        raise InvalidInputError(f"classes must name 1 to 256 pixel values; got {len(classes)}")
    codes: list[str] = []
    lookup = np.full(256, NONE, dtype=np.uint8)
    for value, code in enumerate(classes):
        if code is None or value == nodata:
            continue
        if not couverture().get(code).leaf:
            raise InvalidInputError(
                f"class {value} is {code}, not a couverture leaf (OCS GE polygons carry leaves: "
                f"{', '.join(couverture().leaves())})"
            )
        if code not in codes:
            codes.append(code)
        lookup[value] = codes.index(code)
    unknown = np.arange(256) >= len(classes)
    if nodata is not None:
        unknown[nodata] = False
    beyond = []
    # The maximum first (one pass over bytes); counting every value would convert the pixels to intp.
    if unknown[int(pixels.max())] or (nodata is not None and nodata >= len(classes) and np.take(unknown, pixels).any()):
        beyond = [int(value) for value in np.unique(pixels[np.take(unknown, pixels)])]
    if beyond:
        raise InvalidInputError(
            f"pixel values {beyond} have no class: {len(classes)} classes were given (values 0 to "
            f"{len(classes) - 1}) and nodata is {nodata}"
        )
    return codes, np.take(lookup, pixels)


def projected_crs(crs: object) -> pyproj.CRS:
    """The class raster's CRS, refused unless projected in metres: minimum units are areas in m²."""
    if crs is None:
        raise InvalidInputError(
            "the class raster has no CRS; minimum units are areas in m², so a projected CRS is "
            "needed (EPSG:2154 in métropole)"
        )
    try:
        parsed = pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError as exc:
        raise InvalidInputError(f"unreadable CRS {crs!r}: {exc}") from None
    if not parsed.is_projected or any(axis.unit_name != "metre" for axis in parsed.axis_info):
        raise InvalidInputError(
            f"minimum units are areas in m²: the class raster must be in a projected CRS in "
            f"metres (EPSG:2154 in métropole), not {parsed.name}"
        )
    return parsed


def apply_units(
    codes: np.ndarray, transform: Affine, building: int, units: MinimumUnits, cut: np.ndarray | None = None
) -> np.ndarray:
    """``codes`` with every patch under its minimum unit merged into a neighbour.

    ``cut`` marks pixels where the raster is a window of a larger one (its edges inside the mosaic): a patch there
    goes on outside, its whole area is unknown, so it is taken to meet every unit (it is kept and may absorb).
    """
    classified = codes != NONE
    labels = label_patches(codes, classified)
    count = int(labels.max()) + 1
    patch_code = np.empty(count, dtype=np.uint8)
    patch_code[labels] = codes
    pixel_area = abs(transform.determinant)
    # Side by side, two pixels share a side one row step long; one above the other, one column step long.
    column_side, row_side = np.hypot(transform.a, transform.d), np.hypot(transform.b, transform.e)
    first, second, length = _adjacency(labels, classified, row_side, column_side, count)
    pixels = np.bincount(labels.ravel(), minlength=count).astype(np.float64)
    if cut is not None:
        pixels[labels[cut & classified]] = np.inf
    big_building = (patch_code == building) & (pixels * pixel_area >= units.building_m2 * (1 - _SLACK))
    reach = _dilate(
        big_building[labels], round(units.built_up_reach_m / row_side), round(units.built_up_reach_m / column_side)
    )
    inside = np.bincount(labels[reach], minlength=count).astype(np.float64)
    owner = _merge_small(patch_code, pixels * pixel_area, inside * pixel_area, first, second, length, building, units)
    merged: np.ndarray = patch_code[owner][labels]
    return merged


def label_patches(codes: np.ndarray, classified: np.ndarray) -> np.ndarray:
    """Label of each pixel: 4-connected pixels of one code share one (unclassified pixels are never joined down).

    Runs of one code along a row are labelled first; two runs of consecutive rows overlap from a column where one
    of them starts, so only those columns are linked, which keeps the graph to a few edges per run.
    """
    height, width = codes.shape
    starts = np.ones(codes.shape, dtype=bool)
    starts[:, 1:] = codes[:, 1:] != codes[:, :-1]
    runs = np.cumsum(starts.ravel(), dtype=np.int64 if codes.size >= 2**31 else np.int32) - 1
    linked = np.flatnonzero((starts[:-1] | starts[1:]) & (codes[:-1] == codes[1:]) & classified[:-1])
    labels: np.ndarray = connected_components(int(runs[-1]) + 1, runs[linked], runs[linked + width])[runs]
    return labels.reshape(height, width)


def _adjacency(
    labels: np.ndarray, classified: np.ndarray, row_side: float, column_side: float, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pairs of touching patches (first < second) and the length of boundary they share, in metres."""
    pairs, lengths = [], []
    for a, b, ok, side in (
        (labels[:, :-1], labels[:, 1:], classified[:, :-1] & classified[:, 1:], row_side),
        (labels[:-1], labels[1:], classified[:-1] & classified[1:], column_side),
    ):
        touch = ok & (a != b)
        pairs.append((a[touch], b[touch]))
        lengths.append(np.full(int(touch.sum()), side))
    return _sum_edges(
        np.concatenate([p[0] for p in pairs]), np.concatenate([p[1] for p in pairs]), np.concatenate(lengths), count
    )


def _sum_edges(
    first: np.ndarray, second: np.ndarray, length: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One edge (first < second) per pair of distinct nodes, with the lengths of its duplicates summed."""
    low, high = np.minimum(first, second).astype(np.int64), np.maximum(first, second).astype(np.int64)
    keep = low != high
    keys, inverse = np.unique(low[keep] * count + high[keep], return_inverse=True)
    return keys // count, keys % count, np.bincount(inverse, weights=length[keep], minlength=len(keys))


def _dilate(mask: np.ndarray, rows: int, columns: int) -> np.ndarray:
    """Pixels with a true pixel at most ``rows`` rows and ``columns`` columns away (a square-window dilation)."""
    return _window_any(_window_any(mask, rows, axis=0), columns, axis=1)


def _window_any(mask: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """Pixels with a true pixel at most ``radius`` away along ``axis``: ORs of spans doubling in length (log₂ of
    the window in passes over bytes, ten times faster than the cumulative sums of int32 it replaced)."""
    along = np.ascontiguousarray(np.moveaxis(mask, axis, 0))
    size, length = along.shape[0], 2 * radius + 1
    spans = along.copy()  # spans[i]: any of along[i : i + width] (fewer past the end)
    width = 1
    while 2 * width <= length:
        if width < size:
            spans[: size - width] |= spans[width:]
        width *= 2
    ahead = spans.copy()  # ahead[i]: any of along[i : i + length]
    if width < length < size + width:
        ahead[: size - (length - width)] |= spans[length - width :]
    near = np.empty_like(along)
    near[radius:] = ahead[: max(size - radius, 0)]
    head = np.logical_or.accumulate(along[: min(2 * radius, size)], axis=0)  # head[k]: any of along[: k + 1]
    near[:radius] = head[np.minimum(np.arange(min(radius, size)) + radius, len(head) - 1)]
    moved: np.ndarray = np.moveaxis(near, 0, axis)
    return moved


def _merge_small(
    code: np.ndarray,
    area: np.ndarray,
    inside: np.ndarray,
    first: np.ndarray,
    second: np.ndarray,
    length: np.ndarray,
    building: int,
    units: MinimumUnits,
) -> np.ndarray:
    """The patch each patch ends up in once every patch under its unit that has a neighbour has been merged.

    Each round merges the small patches that no smaller small patch touches (two of them never touch, and none
    absorbs another), each into its longest-boundary neighbour; then patches of one code that now touch fuse.
    """
    count = len(code)
    owner = np.arange(count)
    order = np.arange(count)
    while True:
        unit = np.where(
            code == building, units.building_m2, np.where(2 * inside >= area, units.built_up_m2, units.open_m2)
        )
        source, target = np.concatenate([first, second]), np.concatenate([second, first])
        small = area < unit * (1 - _SLACK)
        rank = np.empty(count, dtype=np.int64)
        rank[np.lexsort((order, area))] = order
        smallest_small = np.full(count, count, dtype=np.int64)
        towards_small = small[target]
        np.minimum.at(smallest_small, source[towards_small], rank[target[towards_small]])
        chosen = small & (rank < smallest_small)
        leaving = chosen[source]
        if not leaving.any():
            return owner
        source, target, shared = source[leaving], target[leaving], np.concatenate([length, length])[leaving]
        # Ties in length go to the lower code: the same choice whatever the patches' numbering (tiles, see stitch).
        best = np.lexsort((code[target], -shared, source))
        heads = best[np.unique(source[best], return_index=True)[1]]
        into = order.copy()
        into[source[heads]] = target[heads]
        fused = _fuse(code, into[first], into[second])
        into = fused[into]
        owner = into[owner]
        area = np.bincount(into, weights=area, minlength=count)
        inside = np.bincount(into, weights=inside, minlength=count)
        first, second, length = _sum_edges(into[first], into[second], length, count)


def _fuse(code: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Each node's representative (the smallest node) among nodes of one code joined by edges."""
    same = (first != second) & (code[first] == code[second])
    component = connected_components(len(code), first[same], second[same])
    smallest = np.full(int(component.max()) + 1, len(code), dtype=np.int64)
    np.minimum.at(smallest, component, np.arange(len(code)))
    representative: np.ndarray = smallest[component]
    return representative


def _trace(codes: np.ndarray, transform: Affine, tolerance_px: float) -> tuple[np.ndarray, np.ndarray]:
    """Polygons of the classified pixels of ``codes`` as a simplified coverage in world coordinates, and their codes."""
    shapes = list(rasterio.features.shapes(codes, mask=codes != NONE, connectivity=4))
    values = np.array([int(value) for _, value in shapes], dtype=np.int64)
    polygons = np.array([shape(geometry) for geometry, _ in shapes], dtype=object)
    if not len(polygons):
        return polygons, values
    # A vertex at every pixel corner (segmentize's fractions rounded back to the integers they are) matches the
    # shared edges; a first pass drops the collinear vertices again, keeping the junctions of three patches.
    polygons = shapely.transform(shapely.segmentize(polygons, 1.0), np.round)
    order = canonical_order(polygons)
    polygons, values = polygons[order], values[order]
    polygons = shapely.coverage_simplify(polygons, COLLINEAR_PX)
    if tolerance_px > COLLINEAR_PX:
        polygons = shapely.coverage_simplify(polygons, tolerance_px, simplify_boundary=False)
    polygons = shapely.transform(polygons, lambda xy: to_world(transform, xy))
    if not (shapely.is_valid(polygons).all() and shapely.coverage_is_valid(polygons)):
        raise OcsgeError(
            "vectorisation produced polygons that do not form a valid coverage; please report the raster that caused it"
        )
    return polygons, values


def canonical_order(polygons: np.ndarray) -> np.ndarray:
    """Polygons ``normalize``d in place, and the order that sorts them by their top-left corner.

    GEOS's coverage simplification depends on the order of the polygons and on where their rings start (ties of
    vertex areas on pixel staircases are many); in this order, which a shift of the raster does not change, a
    window of the raster simplifies as the whole one does (``stitch``).
    """
    polygons[:] = shapely.normalize(polygons)
    bounds = shapely.bounds(polygons)
    order: np.ndarray = np.lexsort((bounds[:, 0], bounds[:, 1]))
    return order


def to_world(transform: Affine, xy: np.ndarray) -> np.ndarray:
    """Pixel (column, row) coordinates to world ones, ``transform`` applied to whole arrays at once."""
    world = transform @ (xy[:, 0], xy[:, 1])  # type: ignore[operator]  # affine takes arrays; its overloads say floats
    return np.column_stack(world)
