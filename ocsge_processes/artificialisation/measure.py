"""Areas of OCS GE polygons inside a territory, each layer measured in its own projected CRS.

As the official tool does (sparte ``occupation_du_sol_commune.sql``): intersect the polygons with the territory,
take the planar area in the département's CRS. A polygon across two communes is split between them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InvalidInputError
from ..parallel import in_chunks, query_pairs, threaded
from .straight_cut import Line, area_left_of_all, rings_of
from .territory import Territory

Layers = gpd.GeoDataFrame | Sequence[gpd.GeoDataFrame]

M2_PER_HA = 10_000.0

#: The geometry types a half-plane clips (``straight_cut``); any other is cut by GEOS.
POLYGONAL = (shapely.GeometryType.POLYGON, shapely.GeometryType.MULTIPOLYGON)


def layers_by_epsg(layers: Layers, territories: Sequence[Territory]) -> dict[int, gpd.GeoDataFrame]:
    """The layers for each CRS of ``territories``, concatenated per CRS; a CRS with no layer fails."""
    frames = [layers] if isinstance(layers, gpd.GeoDataFrame) else list(layers)
    grouped: dict[int, list[gpd.GeoDataFrame]] = {}
    for frame in frames:
        epsg = frame.crs.to_epsg() if frame.crs is not None else None
        if epsg is None:
            raise InvalidInputError(
                f"an OCS GE layer has no EPSG CRS ({frame.crs}); areas need the département's projected CRS"
            )
        grouped.setdefault(epsg, []).append(frame)
    for territory in territories:
        missing = [epsg for epsg in territory.epsgs if epsg not in grouped]
        if missing:
            raise InvalidInputError(
                f"territory {territory.code} has parts in EPSG:{', EPSG:'.join(map(str, missing))} but no layer in "
                f"that CRS was given (layers in: {', '.join(f'EPSG:{e}' for e in grouped) or 'none'})"
            )
    wanted = {epsg for territory in territories for epsg in territory.epsgs}
    return {
        epsg: group[0] if len(group) == 1 else pd.concat(group, ignore_index=True)
        for epsg, group in sorted(grouped.items())
        if epsg in wanted
    }


@dataclass(frozen=True)
class Measured:
    """``measure``'s rows for the layers of every CRS (one per polygon piece in a territory, its position in the
    column ``territory``), the method that applied and how many territories there are."""

    method: str
    table: pd.DataFrame
    count: int

    def per_territory(self, values: np.ndarray) -> np.ndarray:
        """Σ ``values`` (one per row of ``table``) for each territory, in territory order."""
        return totals(self.table["territory"].to_numpy(), values, self.count)


def measured(
    layers: Layers,
    territories: Sequence[Territory],
    method: str | None,
    resolve: Callable[[list[gpd.GeoDataFrame], str | None], str],
    measure: Callable[[gpd.GeoDataFrame, Pieces, str], pd.DataFrame],
    overlaid: Mapping[int, Pieces] | None = None,
) -> Measured:
    """The method that applies (``resolve``), then ``measure``'s rows for the pieces of the layers of every CRS, in
    one table: the common first step of stocks and flows.

    ``overlaid``: the pieces :func:`overlay_layers` already cut from layers with these same rows (the polygons
    before the decree decided their status), so that the cutting need not wait for the status.
    """
    frames = layers_by_epsg(layers, territories)
    method = resolve(list(frames.values()), method)
    table = pd.concat(
        [
            measure(frame, overlaid[epsg] if overlaid is not None else overlay(frame, territories, epsg), method)
            for epsg, frame in frames.items()
        ],
        ignore_index=True,
    )
    return Measured(method, table, len(territories))


def overlay_layers(layers: Layers, territories: Sequence[Territory]) -> dict[int, Pieces]:
    """The pieces of the layers of every CRS (:func:`overlay`), as :func:`measured` would cut them."""
    return {epsg: overlay(frame, territories, epsg) for epsg, frame in layers_by_epsg(layers, territories).items()}


def totals(territory: np.ndarray, values: np.ndarray, count: int) -> np.ndarray:
    """Σ ``values`` per territory index (0 … count-1)."""
    return np.bincount(territory, weights=values, minlength=count)


def overlay(frame: gpd.GeoDataFrame, territories: Sequence[Territory], epsg: int) -> Pieces:
    """Every piece of a polygon of ``frame`` inside a territory's part in EPSG:``epsg``, with its area in m².

    Every polygon queries one STR-tree over the parts at once, so every commune of a département costs one pass
    over the layer, not one each. A polygon whose box meets no segment of any part's boundary lies wholly inside a
    part or wholly outside it, so one point of its box says which (a prepared point-in-polygon test); only the
    polygons near a border are tested whole by GEOS, and only those across it are cut: by half-planes where one
    segment of the border or two consecutive ones meet their box (``straight_cut``), else by GEOS.
    """
    owners = [
        (index, part.geometry) for index, territory in enumerate(territories) for part in territory.parts_in(epsg)
    ]
    if not owners or frame.empty:
        return Pieces(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    parts, part_of = _distinct([geometry for _, geometry in owners])
    geoms = np.asarray(frame.geometry.array, dtype=object)
    # small trees over the parts and their segments, queried by every polygon in threads: a tree over a million
    # polygons would take longer to build, and holds the GIL meanwhile
    row, part = query_pairs(shapely.STRtree(parts), geoms)  # box against box
    order = np.argsort(part, kind="stable")  # by part, then by polygon
    part, row = part[order], row[order]
    border = _border(parts)
    polygon, segment = query_pairs(shapely.STRtree(border.boxes()), geoms)
    meets = np.stack([segment, polygon])
    near = np.zeros(len(geoms), dtype=bool)
    near[polygon] = True
    corner = shapely.bounds(geoms)[:, :2]

    def inside(start: int, stop: int) -> np.ndarray:
        """(pair, covered) of the pairs of parts start:stop that meet; each thread prepares and tests its own parts."""
        shapely.prepare(parts[start:stop])
        pairs = np.arange(*np.searchsorted(part, [start, stop]))
        far, close = pairs[~near[row[pairs]]], pairs[near[row[pairs]]]
        far = far[shapely.contains_xy(parts[part[far]], corner[row[far], 0], corner[row[far], 1])]
        close = close[shapely.intersects(parts[part[close]], geoms[row[close]])]
        covered = shapely.covers(parts[part[close]], geoms[row[close]])
        return np.stack([np.concatenate([far, close]), np.concatenate([np.ones(len(far), bool), covered])])

    pair, covered = in_chunks(inside, len(parts), 1)
    order = np.argsort(pair)  # by part, then by polygon: sums over pieces add in one order whatever the threads
    part, row, covered = part[pair[order]], row[pair[order]], covered[order].astype(bool)
    area = shapely.area(geoms[row])
    crossing = ~covered
    area[crossing] = _cut(geoms, parts, row[crossing], part[crossing], border, meets)
    keep = area > 0
    part, row, area = part[keep], row[keep], area[keep]
    # each owner takes the pieces of its part (pieces are sorted by part); a shared part's go to each of its owners
    start, stop = np.searchsorted(part, part_of), np.searchsorted(part, part_of, side="right")
    piece = np.concatenate([np.arange(first, last) for first, last in zip(start, stop, strict=True)])
    territory = np.repeat(np.array([index for index, _ in owners], dtype=np.int64), stop - start)
    return Pieces(row[piece], territory, area[piece])


def _distinct(geometries: list[shapely.Geometry]) -> tuple[np.ndarray, np.ndarray]:
    """A copy of each geometry object, once (a territory made of others shares their parts' objects), and the
    position of each of ``geometries`` among them.

    A prepared geometry must belong to one thread only: a copy keeps this overlay's threads off the territories'
    own objects, which another overlay (another millésime's, in another thread) may be cutting with at the same
    time. The copy has the same coordinates, so the pieces are the same.
    """
    first: dict[int, int] = {}
    part_of = np.array([first.setdefault(id(geometry), len(first)) for geometry in geometries], dtype=np.int64)
    distinct = np.empty(len(first), dtype=object)
    distinct[part_of] = geometries
    return shapely.from_wkb(shapely.to_wkb(distinct)), part_of


@dataclass(frozen=True)
class _Border:
    """Every segment of the parts' boundaries (outer and inner rings), each turned to have its part on its left."""

    part: np.ndarray
    ring: np.ndarray
    start: np.ndarray
    end: np.ndarray

    def boxes(self) -> np.ndarray:
        """The box of each segment: together they hold the borders."""
        low, high = np.minimum(self.start, self.end), np.maximum(self.start, self.end)
        found: np.ndarray = shapely.box(low[:, 0], low[:, 1], high[:, 0], high[:, 1])
        return found

    def line(self, segment: np.ndarray) -> Line:
        return self.start[segment], self.end[segment]


def _border(parts: np.ndarray) -> _Border:
    rings = rings_of(parts)
    points, ring = rings.points, rings.ring
    segment = np.flatnonzero(ring[:-1] == ring[1:])
    # the part is left of an anticlockwise exterior and of a clockwise hole
    turned = (rings.exterior != shapely.is_ccw(rings.geometries))[ring[segment]]
    start = np.where(turned[:, None], points[segment + 1], points[segment])
    end = np.where(turned[:, None], points[segment], points[segment + 1])
    return _Border(rings.owner[ring[segment]], ring[segment], start, end)


def _cut(
    geoms: np.ndarray,
    parts: np.ndarray,
    row: np.ndarray,
    part: np.ndarray,
    border: _Border,
    meets: np.ndarray,
) -> np.ndarray:
    """The area of polygon ``row`` inside part ``part``, for pairs across the part's border.

    ``meets``: the (segment, polygon) pairs whose boxes meet, as rows. Where one segment of the part's border
    meets the polygon's box, the part is its half-plane within the box; where two consecutive ones do, the wedge
    between them. Both are clipped by ``straight_cut``; any other pair is cut by GEOS.
    """
    count, one, two = _meeting(row * len(parts) + part, border.part, meets, len(parts))
    # two segments in the border's order: the first ends where the second starts, on one ring
    swap = (count == 2) & np.all(border.end[two] == border.start[one], axis=1)
    one, two = np.where(swap, two, one), np.where(swap, one, two)
    joined = (border.ring[one] == border.ring[two]) & np.all(border.end[one] == border.start[two], axis=1)
    polygonal = np.isin(shapely.get_type_id(geoms[row]), POLYGONAL)
    straight = polygonal & (count == 1)
    wedge = polygonal & (count == 2) & joined
    d1, d2 = border.end[one] - border.start[one], border.end[two] - border.start[two]
    towards = d1[:, 0] * d2[:, 1] - d1[:, 1] * d2[:, 0] >= 0  # turning left, round the part: the wedge is convex
    area = np.empty(len(row))
    area[straight] = area_left_of_all(geoms[row[straight]], [border.line(one[straight])])
    both = wedge & towards
    area[both] = area_left_of_all(geoms[row[both]], [border.line(one[both]), border.line(two[both])])
    either = wedge & ~towards  # the union of the half-planes: each one's area, less the part in both
    lines = [border.line(one[either]), border.line(two[either])]
    polygons = geoms[row[either]]
    area[either] = (
        area_left_of_all(polygons, lines[:1])
        + area_left_of_all(polygons, lines[1:])
        - area_left_of_all(polygons, lines)
    )
    other = ~(straight | wedge)
    area[other] = shapely.area(threaded(shapely.intersection, geoms[row[other]], parts[part[other]]))
    return area


def _meeting(pair: np.ndarray, part_of: np.ndarray, meets: np.ndarray, parts: int) -> tuple[np.ndarray, ...]:
    """For each (polygon, part) ``pair`` key (``polygon * parts + part``): how many segments of the part's border
    meet the polygon's box, and the first two of them (-1 where there are fewer), from the (segment, polygon) pairs
    whose boxes meet (``meets``) and each segment's part (``part_of``)."""
    segment, polygon = meets
    key = polygon * parts + part_of[segment]
    order = np.argsort(key, kind="stable")
    keys, first, count = np.unique(key[order], return_index=True, return_counts=True)
    at = np.searchsorted(keys, pair)
    found = at < len(keys)
    found[found] = keys[at[found]] == pair[found]
    counted = np.zeros(len(pair), np.int64)
    counted[found] = count[at[found]]
    one, two = np.full(len(pair), -1), np.full(len(pair), -1)
    one[found] = segment[order[first[at[found]]]]
    two[counted >= 2] = segment[order[first[at[counted >= 2]] + 1]]
    return counted, one, two


@dataclass(frozen=True)
class Pieces:
    """Polygon ``row`` (position in its frame) lies over territory ``territory`` on ``area_m2``."""

    row: np.ndarray
    territory: np.ndarray
    area_m2: np.ndarray


def percent(part_ha: float, whole_ha: float) -> float:
    """``part_ha`` as a % of ``whole_ha`` (0 for an empty territory)."""
    return part_ha / whole_ha * 100 if whole_ha else 0.0
