"""Change between two campaigns made from the real Montpellier patch: the second has a roof pasted over trees."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import rasterio.features

from ocsge_processes.artificialisation.impermeable import impermeable_codes
from ocsge_processes.errors import InvalidInputError
from ocsge_processes.segmentation.change import NOTICE, change, top_probability
from ocsge_processes.segmentation.engine import segment_files
from ocsge_processes.segmentation.vectorise import BUILDING, MinimumUnits, read_class_raster

ORTHO = Path(__file__).resolve().parents[3] / "shared" / "data" / "montpellier-ortho-lidar" / "ortho"
#: The known edit: 80 × 80 px = 256 m² at 0.2 m, over the 200 m² building unit, copied from the large roof in the
#: south (83 % building in campaign A) onto the trees of the north-east (90 % trees).
SOURCE = (slice(170, 250), slice(100, 180))
TARGET = (slice(20, 100), slice(160, 240))


def write_campaign_b(folder: Path) -> tuple[Path, Path]:
    """The real patch's RGB and IRC with the roof block pasted over the trees (generated data, not a real campaign)."""
    out = []
    for name in ("test_data_rgb.tif", "test_data_irc.tif"):
        with rasterio.open(ORTHO / name) as dataset:
            profile, pixels, mask = dataset.profile, dataset.read(), dataset.dataset_mask()
        pixels[(slice(None), *TARGET)] = pixels[(slice(None), *SOURCE)]
        path = folder / name
        with rasterio.open(path, "w", **profile) as dataset:
            dataset.write(pixels)
            dataset.write_mask(mask)
        out.append(path)
    return out[0], out[1]


def _run(folder: Path, rgb: Path, irc: Path) -> tuple[Path, np.ndarray]:
    classes, probabilities = folder / "classes.tif", folder / "probabilities.tif"
    segment_files(rgb, classes, model="default", irc=irc, device="cpu", probabilities=probabilities)
    with rasterio.open(probabilities) as dataset:
        return classes, top_probability(dataset.read())


@pytest.fixture(scope="module")
def campaigns(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[Path, np.ndarray]]:
    a, b = tmp_path_factory.mktemp("campaign_a"), tmp_path_factory.mktemp("campaign_b")
    return {
        "a": _run(a, ORTHO / "test_data_rgb.tif", ORTHO / "test_data_irc.tif"),
        "b": _run(b, *write_campaign_b(b)),
    }


def expected_change(
    before: np.ndarray, after: np.ndarray, legend: tuple[str | None, ...], pixel_area: float
) -> np.ndarray:
    """Independently: the 4-connected regions of differing classified pixels that reach their unit."""
    units = MinimumUnits()
    building = legend.index(BUILDING)
    changed = (before != after) & (before != 0) & (after != 0)
    kept = np.zeros_like(changed)
    for pixels in _regions(changed):
        unit = units.building_m2 if ((before[pixels] == building) | (after[pixels] == building)).any() else 500.0
        if pixels.sum() * pixel_area >= unit:
            kept |= pixels
    return kept


def _regions(mask: np.ndarray) -> list[np.ndarray]:
    """The 4-connected regions of ``mask``, by a plain flood fill (not the module's polygon tracing)."""
    seen = np.zeros_like(mask)
    regions = []
    for start in zip(*np.nonzero(mask), strict=True):
        if seen[start]:
            continue
        region, stack = np.zeros_like(mask), [start]
        seen[start] = True
        while stack:
            row, col = stack.pop()
            region[row, col] = True
            for r, c in ((row + 1, col), (row - 1, col), (row, col + 1), (row, col - 1)):
                if 0 <= r < mask.shape[0] and 0 <= c < mask.shape[1] and mask[r, c] and not seen[r, c]:
                    seen[r, c] = True
                    stack.append((r, c))
        regions.append(region)
    return regions


@pytest.mark.slow  # the default model twice over the real patch on the CPU
def test_the_change_is_the_pasted_roof_and_nothing_else(campaigns) -> None:
    before, after = read_class_raster(campaigns["a"][0]), read_class_raster(campaigns["b"][0])
    assert before.classes is not None
    result = change(before, after, confidence_before=campaigns["a"][1], confidence_after=campaigns["b"][1])
    pixel_area = abs(before.transform.determinant)
    expected = expected_change(before.pixels, after.pixels, before.classes, pixel_area)
    assert expected.any()
    # The edit is found, and nothing else: one region of change, on the pasted block (the model's labels of the
    # pixels beside the block change with it, so it reaches a little beyond).
    regions = _regions(expected)
    assert len(regions) == 1 and regions[0][TARGET].mean() > 0.5
    drawn = rasterio.features.rasterize(
        list(result.polygons.geometry), out_shape=expected.shape, transform=before.transform, dtype=np.uint8
    ).astype(bool)
    np.testing.assert_array_equal(drawn, expected)  # to the pixel, and nothing else
    assert result.polygons["surface_m2"].sum() == pytest.approx(expected.sum() * pixel_area, rel=1e-6)
    became = result.polygons.loc[result.polygons["code_cs_apres"] == BUILDING, "surface_m2"].sum()
    assert became >= MinimumUnits().building_m2  # the roof is there as a building
    confiance = result.polygons["confiance"]
    assert ((confiance > 0) & (confiance <= 1)).all()
    legend = np.array([code or "" for code in before.classes], dtype=object)
    sealed = np.isin(legend[before.pixels], list(impermeable_codes()))
    sealed_after = np.isin(legend[after.pixels], list(impermeable_codes()))
    gained = np.count_nonzero(expected & sealed_after & ~sealed) * pixel_area
    lost = np.count_nonzero(expected & sealed & ~sealed_after) * pixel_area
    assert result.flows.impermeabilisation_m2 == pytest.approx(gained) and gained > 200
    assert result.flows.desimpermeabilisation_m2 == pytest.approx(lost)
    assert result.flows.net_m2 == pytest.approx(gained - lost)
    assert "not OCS GE" in result.notice == NOTICE


@pytest.mark.slow  # the default model over the real patch on the CPU
def test_a_run_against_itself_has_no_change_and_no_confidence(campaigns) -> None:
    raster = read_class_raster(campaigns["a"][0])
    result = change(raster, raster)
    assert result.polygons.empty and result.flows.net_m2 == 0


def test_two_grids_are_refused(tmp_path: Path) -> None:
    raster = read_class_raster(ORTHO / "test_data_rgb.tif")
    shifted = type(raster)(raster.pixels[1:], raster.transform, raster.crs, raster.nodata, raster.classes)
    with pytest.raises(InvalidInputError, match="not on one grid"):
        change(raster, shifted)
