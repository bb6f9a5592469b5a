"""The true shape of a query rectangle in the storage CRS: within 0.1 mm of the transformed edges, clipped to where
the storage CRS holds data, and never more vertices than the shape needs."""

from __future__ import annotations

import numpy as np
import pyproj
import pytest
import shapely

from ocsge_processes.errors import InvalidInputError
from ocsge_processes.stores import queryshape
from ocsge_processes.stores.queryshape import MAX_DEVIATION, covers_storage_region, to_storage

CRS84 = pyproj.CRS.from_user_input("OGC:CRS84")
LAMBERT93 = pyproj.CRS.from_epsg(2154)


def _true_edges(box: tuple[float, float, float, float], source: pyproj.CRS, target: pyproj.CRS) -> np.ndarray:
    """Points along the box's edges in ``source`` (every 1/4000 of an edge), each transformed to ``target``: they
    lie on the true curves."""
    x0, y0, x1, y1 = box
    t = np.linspace(0, 1, 4_001)
    xs = np.concatenate([x0 + t * (x1 - x0), np.full_like(t, x1), x1 - t * (x1 - x0), np.full_like(t, x0)])
    ys = np.concatenate([np.full_like(t, y0), y0 + t * (y1 - y0), np.full_like(t, y1), y1 - t * (y1 - y0)])
    x, y = pyproj.Transformer.from_crs(source, target).transform(xs, ys)
    return np.column_stack([x, y])


@pytest.mark.parametrize(
    ("box", "source", "target"),
    [
        ((-1.20, 44.62, -1.13, 44.68), CRS84, LAMBERT93),
        ((44.62, -1.20, 44.68, -1.13), pyproj.CRS.from_epsg(4326), LAMBERT93),  # latitude first
        ((-133_000.0, 5_560_000.0, -125_000.0, 5_570_000.0), pyproj.CRS.from_epsg(3857), LAMBERT93),
        pytest.param((-5.0, 42.0, 8.3, 51.1), CRS84, LAMBERT93, marks=pytest.mark.slow),  # all of France: 10 s
        ((55.2, -21.4, 55.9, -20.8), CRS84, pyproj.CRS.from_epsg(2975)),  # Réunion, UTM 40S
        ((-61.9, 15.8, -61.0, 16.6), CRS84, pyproj.CRS.from_epsg(5490)),  # Guadeloupe, UTM 20N
    ],
)
def test_the_shape_follows_the_true_edges_within_a_tenth_of_a_millimetre(box, source, target) -> None:
    shape = to_storage(shapely.box(*box), source, target)
    truth = _true_edges(box, source, target)
    assert shapely.distance(shapely.points(truth), shape.exterior).max() <= MAX_DEVIATION


def test_the_same_crs_keeps_the_box_and_the_corners_alone_are_not_the_shape() -> None:
    box = shapely.box(361_000, 6_399_000, 363_500, 6_401_500)
    assert to_storage(box, LAMBERT93, LAMBERT93) is box
    shape = to_storage(shapely.box(-1.20, 44.62, -1.13, 44.68), CRS84, LAMBERT93)
    # The rectangle through the two projected corners (what the server did) is off by hundreds of metres: the
    # meridians turn by 3 degrees there and the parallels bend.
    to_l93 = pyproj.Transformer.from_crs(CRS84, LAMBERT93)
    corners = shapely.box(*to_l93.transform(-1.20, 44.62), *to_l93.transform(-1.13, 44.68))
    assert shapely.hausdorff_distance(shape, corners) > 100


def test_shapes_are_clipped_to_where_the_storage_crs_holds_data() -> None:
    assert to_storage(shapely.box(-74, 40, -73, 41), CRS84, LAMBERT93).is_empty  # New York
    assert covers_storage_region(shapely.box(-180, -90, 180, 90), CRS84, LAMBERT93)
    assert not covers_storage_region(shapely.box(-5.0, 42.0, 8.3, 51.1), CRS84, LAMBERT93)
    huge = shapely.box(-1e9, -1e9, 1e9, 1e9)  # Web Mercator far beyond the world: finite once clipped
    assert np.isfinite(shapely.get_coordinates(to_storage(huge, pyproj.CRS.from_epsg(3857), LAMBERT93))).all()


def test_a_shape_needing_too_many_vertices_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(queryshape, "MAX_VERTICES", 1_000)  # a small budget instead of a huge filter geometry
    with pytest.raises(InvalidInputError, match="1000 added vertices"):
        to_storage(shapely.box(-5.0, 42.0, 8.3, 51.1), CRS84, LAMBERT93)
