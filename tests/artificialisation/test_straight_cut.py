"""``straight_cut.area_left_of_all`` against GEOS: the area of polygons (concave, with holes, in several pieces,
turning either way) inside one half-plane or two, the lines crossing them anywhere or through their vertices."""

from __future__ import annotations

import numpy as np
import pytest
import shapely
from shapely.geometry import MultiPolygon, Polygon

from ocsge_processes.artificialisation.straight_cut import area_left_of_all

#: GEOS rounds each point where an edge crosses the line to the double nearest it; at Lambert-93 coordinates
#: (6.4e6 m) a double's step is 1e-9 m, so pieces of a few hundred m² differ by up to about 1e-8 m².
ROUNDING_M2 = 1e-7


def shapes(count: int, seed: int, at: float) -> list[Polygon | MultiPolygon]:
    """Star-shaped (mostly concave) polygons near (at, at), some holed, some reversed, some in two pieces."""
    rng = np.random.default_rng(seed)
    found: list[Polygon | MultiPolygon] = []
    while len(found) < count:
        centre = rng.uniform(0, 100, 2) + at
        angles = np.sort(rng.uniform(0, 2 * np.pi, rng.integers(3, 12)))
        radius = rng.uniform(2, 20, len(angles))
        shape: Polygon | MultiPolygon = Polygon(centre + np.c_[radius * np.cos(angles), radius * np.sin(angles)])
        if not shape.is_valid:
            continue
        if len(found) % 3 == 0:
            shape = shape.difference(shapely.Point(centre).buffer(1.0))
        if len(found) % 5 == 0:
            shape = shapely.reverse(shape)
        if len(found) % 7 == 0:
            shape = shape.union(shapely.box(*centre + 30, *centre + 40))
        if shape.is_valid and shape.geom_type in ("Polygon", "MultiPolygon"):
            found.append(shape)
    return found


def left_of(start: np.ndarray, end: np.ndarray) -> np.ndarray:
    """The half-plane left of each line, as a polygon far larger than the shapes."""
    along = (end - start) / np.hypot(*(end - start).T)[:, None] * 1e4
    normal = np.c_[-along[:, 1], along[:, 0]]
    corners = [start - along, start + along, start + along + normal, start - along + normal]
    return shapely.polygons(np.stack(corners, axis=1))


@pytest.mark.parametrize("at", [0.0, 6.4e6])
def test_one_half_plane(at: float) -> None:
    polygons = np.array(shapes(2000, 1, at), dtype=object)
    rng = np.random.default_rng(2)
    start, end = rng.uniform(-30, 130, (2, len(polygons), 2)) + at
    found = area_left_of_all(polygons, [(start, end)])
    expected = shapely.area(shapely.intersection(polygons, left_of(start, end)))
    assert np.abs(found - expected).max() < ROUNDING_M2
    assert (expected > 0).sum() > 500 and (expected < shapely.area(polygons)).sum() > 500  # the lines do cut


def test_two_half_planes() -> None:
    polygons = np.array(shapes(2000, 3, 0.0), dtype=object)
    rng = np.random.default_rng(4)
    lines = [tuple(rng.uniform(-30, 130, (2, len(polygons), 2))) for _ in range(2)]
    found = area_left_of_all(polygons, lines)
    both = shapely.intersection(left_of(*lines[0]), left_of(*lines[1]))
    expected = shapely.area(shapely.intersection(polygons, both))
    assert np.abs(found - expected).max() < ROUNDING_M2


def test_lines_through_vertices_and_along_edges() -> None:
    """A line through two vertices of the polygon, or along one of its edges: the vertices on it count as inside,
    and the edges along it add no area."""
    square = Polygon([(0, 0), (10, 0), (10, 10), (0, 10)])
    notch = Polygon([(0, 0), (10, 0), (10, 10), (5, 5), (0, 10)])
    polygons = np.array([square, square, notch, square], dtype=object)
    start = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 5.0], [0.0, 0.0]])
    end = np.array([[10.0, 10.0], [0.0, 0.0], [10.0, 5.0], [10.0, 0.0]])
    found = area_left_of_all(polygons, [(start, end)])
    assert found.tolist() == [50.0, 0.0, 25.0, 100.0]
