"""``workflows.run_impermeabilisation`` on a class GeoTIFF written here (generated, with the legend tags a run
writes): reading a zone strip by strip counts what one read of the whole raster counts, and the answer carries the
notice and the model's caveat."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely.geometry import Polygon

from ocsge_processes.artificialisation.run_sealing import zone_sealing
from ocsge_processes.layers import AI_COUVERTURE_NOTICE
from ocsge_processes.segmentation.registry import get_model
from ocsge_processes.workflows import run_impermeabilisation
from ocsge_processes.workflows.run_impermeabilisation import Zone, impermeabilisation

VALUES = {1: "CS1.1.1.1", 2: "CS1.1.1.2", 3: "CS2.1.1.1", 4: "CS2.2.1", 5: "CS1.2.2"}
TRANSFORM = Affine(0.2, 0, 770_000, 0, -0.2, 6_280_000)


def _raster(path: Path) -> np.ndarray:
    classes = np.random.default_rng(7).integers(0, 6, size=(53, 41), dtype=np.uint8)  # 0: nodata
    profile = {"driver": "GTiff", "width": 41, "height": 53, "count": 1, "dtype": "uint8", "nodata": 0}
    with rasterio.open(path, "w", crs="EPSG:2154", transform=TRANSFORM, **profile) as dataset:
        dataset.write(classes, 1)
        dataset.update_tags(OCSGE_MODEL="default", OCSGE_OUTPUT="cs", OCSGE_VALUES=json.dumps(VALUES))
    return classes


def test_strips_count_what_one_read_counts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    classes = _raster(tmp_path / "classes.tif")
    # A triangle across the raster, whose edges cut pixels in every strip.
    triangle = Polygon([(770_000.5, 6_279_990), (770_007.9, 6_279_999.5), (770_006, 6_279_989.7)])
    (whole,) = zone_sealing(classes, TRANSFORM, VALUES, [("t", triangle)])
    monkeypatch.setattr(run_impermeabilisation, "STRIP_ROWS", 7)  # 53 rows: 8 strips, the last one short
    answer = impermeabilisation(tmp_path / "classes.tif", "r1", [Zone("t", "triangle", triangle, 2154)])
    (zone,) = answer["zones"]
    assert whole.sealed_pixels > 0
    assert zone["surface_impermeable_m2"] == pytest.approx(round(whole.sealed_m2, 2))
    assert zone["surface_couverte_m2"] == pytest.approx(round(whole.surface_m2, 2))
    assert zone["pixels_non_classes"] == whole.nodata_pixels
    assert answer["avertissement"] == AI_COUVERTURE_NOTICE
    assert answer["avertissement_modele"] == get_model("default").sealing_caveat
