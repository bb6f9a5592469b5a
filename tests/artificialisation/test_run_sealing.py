"""Imperméabilisation from a run's class raster (``artificialisation.run_sealing``) on a hand-built raster and two
hand-drawn communes: every count is derived by hand from the pixels drawn."""

from __future__ import annotations

import numpy as np
import pytest
from affine import Affine
from shapely.geometry import box

from ocsge_processes.artificialisation.run_sealing import sealed_values, zone_sealing

#: The lidar class set's legend as a class raster carries it (value → CS; 0 is nodata).
VALUES = {1: "CS1.1.1.1", 2: "CS1.1.1.2", 3: "CS2.1.1.1", 4: "CS2.2.1", 5: "CS1.2.2"}
#: 0.5 m pixels (0.25 m²), origin at (1000, 2000): row r, column c covers x 1000+0.5c, y 2000-0.5r.
TRANSFORM = Affine(0.5, 0, 1000, 0, -0.5, 2000)


def _raster() -> np.ndarray:
    classes = np.full((8, 10), 4, dtype=np.uint8)  # herbaceous
    classes[0:2, 0:3] = 1  # 6 built pixels in the west
    classes[5:8, 1:2] = 2  # 3 sealed pixels in the west
    classes[0:4, 7:10] = 2  # 12 sealed pixels in the east
    classes[7, 9] = 0  # one unclassified pixel in the east
    classes[6, 6] = 1  # one built pixel in the east
    return classes


def test_sealed_pixels_are_built_and_sealed_couverture_only() -> None:
    assert sealed_values(VALUES) == [1, 2]


def test_each_commune_counts_its_sealed_pixels_times_the_pixel_area() -> None:
    west = box(1000, 1996, 1002.5, 2000)  # columns 0-4
    east = box(1002.5, 1996, 1005, 2000)  # columns 5-9
    result = {zone.code: zone for zone in zone_sealing(_raster(), TRANSFORM, VALUES, [("W", west), ("E", east)])}
    assert result["W"].pixels == result["E"].pixels == 40
    assert result["W"].sealed_pixels == 6 + 3
    assert result["E"].sealed_pixels == 12 + 1
    assert result["W"].sealed_m2 == pytest.approx(9 * 0.25)
    assert result["E"].sealed_m2 == pytest.approx(13 * 0.25)
    assert result["E"].nodata_pixels == 1 and result["W"].nodata_pixels == 0
    assert result["E"].rate == pytest.approx(13 / 39)
    assert result["W"].surface_m2 == pytest.approx(west.area)


def test_a_pixel_belongs_to_the_commune_holding_its_centre() -> None:
    # The boundary runs through column 2 (x 1001.0-1001.5) left of its centre at 1001.25: column 2 is the east's.
    west, east = box(1000, 1996, 1001.2, 2000), box(1001.2, 1996, 1005, 2000)
    result = zone_sealing(_raster(), TRANSFORM, VALUES, [("W", west), ("E", east)])
    assert [zone.pixels for zone in result] == [16, 64]
    assert [zone.sealed_pixels for zone in result] == [4 + 3, 2 + 12 + 1]


def test_a_commune_off_the_raster_has_no_pixel() -> None:
    (zone,) = zone_sealing(_raster(), TRANSFORM, VALUES, [("far", box(0, 0, 10, 10))])
    assert (zone.pixels, zone.sealed_pixels, zone.rate) == (0, 0, None)
