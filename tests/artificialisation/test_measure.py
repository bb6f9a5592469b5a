"""``measure.overlay`` against the plain definition: every polygon cut by every territory, areas > 0 kept.

The overlay only cuts the polygons whose box meets a border and places the others by one point of their box, so
the territories here have slanted borders, a hole holding an enclave, a part in two pieces, and the polygons
straddle, touch and skirt those borders.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import geopandas as gpd
import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon, box

from ocsge_processes.artificialisation import (
    DECREE,
    Territory,
    TerritoryPart,
    combine,
    compute_all_stocks,
    with_decree_status,
)
from ocsge_processes.artificialisation.measure import overlay, overlay_layers

#: The plain definition cuts every polygon, the overlay only those across a border: a polygon counted whole
#: against its own intersection differs by float rounding of coordinates near 1 000 m (far below 1e-6 m²).
ROUNDING_M2 = 1e-6

ENCLAVE = Polygon([(250, 300), (400, 290), (420, 480), (260, 470)])
WEST = Polygon([(0, 0), (430, 0), (610, 1000), (0, 1000)], holes=[ENCLAVE.exterior.coords])
EAST = MultiPolygon([Polygon([(430, 0), (1000, 0), (1000, 1000), (610, 1000)]), box(1100, 0, 1300, 200)])


def commune(code: str, geometry: Polygon | MultiPolygon) -> Territory:
    return Territory(code, code, "commune", (TerritoryPart(2154, geometry),))


def polygons(count: int, seed: int) -> list[Polygon]:
    """Random triangles and quadrilaterals from 1 to 80 m across over the communes and beyond, plus the cases
    that sit exactly on a border: sharing its edge from either side, touching it at one vertex."""
    rng = np.random.default_rng(seed)
    shapes: list[Polygon] = []
    for _ in range(count):
        centre = rng.uniform([-50, -50], [1350, 1050])
        corners = rng.integers(3, 5)
        angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
        radius = rng.uniform(0.5, 40)
        shape = Polygon(centre + radius * np.c_[np.cos(angles), np.sin(angles)])
        if shape.is_valid and shape.area > 0:
            shapes.append(shape)
    return [
        *shapes,
        Polygon([(430, 0), (475, 250), (380, 250)]),  # along WEST's slanted border, inside it
        Polygon([(430, 0), (475, 250), (560, 0)]),  # along the same border, inside EAST
        Polygon([(250, 300), (200, 250), (250, 250)]),  # touches the enclave at one vertex, in WEST
        box(1000, 0, 1100, 200),  # between EAST's two pieces, touching both
        box(1120, 20, 1130, 30),  # inside EAST's second piece
        Polygon([(330, 380), (370, 390), (350, 420)]),  # inside the enclave, in WEST's hole
    ]


def plain(frame: gpd.GeoDataFrame, territories: list[Territory]) -> dict[tuple[int, int], float]:
    """(row, territory) → area of the polygon inside the territory, cut one pair at a time."""
    areas: dict[tuple[int, int], float] = {}
    for position, territory in enumerate(territories):
        for part in territory.parts:
            for row, geometry in enumerate(frame.geometry):
                area = shapely.intersection(geometry, part.geometry).area
                if area > 0:
                    areas[row, position] = areas.get((row, position), 0.0) + area
    return areas


def pieces(frame: gpd.GeoDataFrame, territories: list[Territory]) -> dict[tuple[int, int], float]:
    found = overlay(frame, territories, 2154)
    areas: dict[tuple[int, int], float] = {}
    for row, territory, area in zip(found.row, found.territory, found.area_m2, strict=True):
        areas[int(row), int(territory)] = areas.get((int(row), int(territory)), 0.0) + float(area)
    return areas


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_overlay_equals_cutting_every_polygon(seed: int) -> None:
    frame = gpd.GeoDataFrame(geometry=polygons(1500, seed), crs=2154)
    territories = [commune("W", WEST), commune("E", EAST), commune("X", ENCLAVE)]
    expected, found = plain(frame, territories), pieces(frame, territories)
    assert found.keys() == expected.keys()
    assert all(found[key] == pytest.approx(area, abs=ROUNDING_M2) for key, area in expected.items())
    # the cases on the borders: shared edges and a vertex count only on their own side
    rows = len(frame) - 6
    assert {key for key in found if key[0] >= rows} == {
        (rows, 0),
        (rows + 1, 1),
        (rows + 2, 0),
        (rows + 4, 1),
        (rows + 5, 2),
    }


def test_a_territory_sharing_its_communes_geometries() -> None:
    """A union built by ``combine`` holds its communes' own geometry objects: measured in one call with them, each
    object is prepared by one thread only, and the union's pieces are the communes' pieces."""
    west, east = commune("W", WEST), commune("E", EAST)
    territories = [combine("U", "union", "epci", [west, east]), west, east]
    frame = gpd.GeoDataFrame(geometry=polygons(12_000, 3), crs=2154)
    found = overlay(frame, territories, 2154)
    totals = np.bincount(found.territory, weights=found.area_m2, minlength=3)
    assert totals[0] == pytest.approx(totals[1] + totals[2], abs=ROUNDING_M2)
    union = {(int(r), float(a)) for r, t, a in zip(found.row, found.territory, found.area_m2, strict=True) if t == 0}
    parts = {(int(r), float(a)) for r, t, a in zip(found.row, found.territory, found.area_m2, strict=True) if t > 0}
    assert union == parts


def test_overlays_in_two_threads_with_the_same_territories() -> None:
    """Two millésimes are measured at once with the same territories: each overlay prepares copies of its own, so
    neither touches the territories' objects, and each gives the pieces it gives alone."""
    territories = [commune("W", WEST), commune("E", EAST), commune("X", ENCLAVE)]
    frames = [gpd.GeoDataFrame(geometry=polygons(20_000, seed), crs=2154) for seed in (4, 5)]
    alone = [pieces(frame, territories) for frame in frames]
    with ThreadPoolExecutor(2) as pool:
        together = list(pool.map(pieces, frames, [territories] * 2))
    assert together == alone
    assert not any(shapely.is_prepared(part.geometry) for t in territories for part in t.parts)


def test_stocks_from_pieces_cut_before_the_status() -> None:
    """The workflow cuts the polygons while the decree decides their status, then gives the pieces with the decided
    layer (same rows): the stocks are those cut from the decided layer itself."""
    territories = [commune("W", WEST), commune("E", EAST)]
    shapes = polygons(3000, 6)
    rng = np.random.default_rng(6)
    frame = gpd.GeoDataFrame(
        {
            "code_cs": rng.choice(["CS1.1.1.1", "CS2.1.1.1", "CS2.2.1"], len(shapes)),
            "code_us": rng.choice(["US1.1", "US2", "US235"], len(shapes)),
        },
        geometry=shapes,
        crs=2154,
    )
    precut = overlay_layers(frame, territories)
    decided = with_decree_status(frame)
    assert compute_all_stocks(decided, territories, DECREE, precut) == compute_all_stocks(decided, territories, DECREE)
