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
from ..parallel import in_chunks, threaded
from .territory import Territory

Layers = gpd.GeoDataFrame | Sequence[gpd.GeoDataFrame]

M2_PER_HA = 10_000.0


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

    One STR-tree over the polygons answers all the parts at once, so every commune of a département costs one pass
    over the layer, not one each. A polygon whose box meets no segment of any part's boundary lies wholly inside a
    part or wholly outside it, so one point of its box says which (a prepared point-in-polygon test); only the
    polygons near a border are tested whole by GEOS, and only those across it are cut.
    """
    owners = [
        (index, part.geometry) for index, territory in enumerate(territories) for part in territory.parts_in(epsg)
    ]
    if not owners or frame.empty:
        return Pieces(np.empty(0, np.int64), np.empty(0, np.int64), np.empty(0))
    parts, part_of = _distinct([geometry for _, geometry in owners])
    geoms = np.asarray(frame.geometry.array, dtype=object)
    tree = shapely.STRtree(geoms)
    part, row = tree.query(parts)  # box against box, sorted by part
    near = np.zeros(len(geoms), dtype=bool)
    near[tree.query(_segment_boxes(parts))[1]] = True
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
    order = np.argsort(pair)  # the tree's order, so that sums over pieces add in the same order
    part, row, covered = part[pair[order]], row[pair[order]], covered[order].astype(bool)
    area = shapely.area(geoms[row])
    crossing = ~covered
    area[crossing] = shapely.area(threaded(shapely.intersection, geoms[row[crossing]], parts[part[crossing]]))
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


def _segment_boxes(parts: np.ndarray) -> np.ndarray:
    """The box of every segment of the parts' boundaries (outer and inner rings): together they hold the borders."""
    points, line = shapely.get_coordinates(shapely.get_parts(shapely.boundary(parts)), return_index=True)
    segment = np.flatnonzero(line[:-1] == line[1:])
    low = np.minimum(points[segment], points[segment + 1])
    high = np.maximum(points[segment], points[segment + 1])
    return shapely.box(low[:, 0], low[:, 1], high[:, 0], high[:, 1])


@dataclass(frozen=True)
class Pieces:
    """Polygon ``row`` (position in its frame) lies over territory ``territory`` on ``area_m2``."""

    row: np.ndarray
    territory: np.ndarray
    area_m2: np.ndarray


def percent(part_ha: float, whole_ha: float) -> float:
    """``part_ha`` as a % of ``whole_ha`` (0 for an empty territory)."""
    return part_ha / whole_ha * 100 if whole_ha else 0.0
