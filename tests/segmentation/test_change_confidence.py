"""The confidence of a change between two published runs over dalles: each run keeps its top class probability per
block (checksummed like its classes), publishes it as one COG beside ``classes.tif``, and ``compare_runs`` weighs
every change polygon with the lower of the two runs' probabilities. Dalles are made from the real patch (generated
data); the second campaign has a block of roofs pasted over the north-west of its first dalle."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import geopandas as gpd
import numpy as np
import pytest
import rasterio
import rasterio.features

from ocsge_processes.layers import AI_COUVERTURE_NOTICE, SEGMENTATION_CHANGE
from ocsge_processes.results import open_results
from ocsge_processes.segmentation import get_model
from ocsge_processes.segmentation.windows import TilingChoice
from ocsge_processes.stores import open_store
from ocsge_processes.workflows.segmentation_assembly import CONFIDENCE_COG, MOSAIC_COG, POLYGONS, finish, publisher
from ocsge_processes.workflows.segmentation_change import compare_runs
from ocsge_processes.workflows.segmentation_publish import CONFIDENCE_NAME, RunMetadata, publish_run
from ocsge_processes.workflows.segmentation_run import RunOptions, finished, plan_run, prepare, run_blocks

from ..conftest import ocsge
from .ign_dalles import write_dalles

pytestmark = pytest.mark.slow  # the default model over two small runs on the CPU

OPTIONS = RunOptions("default", device="cpu", tiling=TilingChoice(256, 64, 1), block_side=256)
#: The edit of the second campaign, in the first dalle's pixels (4 m): 60 × 60 px of the south-east pasted north-west.
SOURCE = (slice(170, 230), slice(170, 230))
TARGET = (slice(10, 70), slice(10, 70))


def _campaign(folder: Path, name: str, store: Path, jobs: Path, edit: bool) -> dict:
    dalles = write_dalles(folder / name / "d", 2, 1, side=250, driver="GTiff")
    if edit:
        for product in ("RVB", "IRC"):
            path = dalles[(product, 0, 0)]
            with rasterio.open(path, "r+") as dataset:
                pixels = dataset.read()
                pixels[(slice(None), *TARGET)] = pixels[(slice(None), *SOURCE)]
                dataset.write(pixels)
    source = folder / name / "d"
    mosaic = prepare(source, source, folder / name / "w", get_model("default").bands, None)
    run_dir = folder / name / "run"
    summary = run_blocks(mosaic, run_dir, OPTIONS)
    summary = finish(run_dir, mosaic, summary, name, publisher(str(store), str(jobs), "http://h"))
    return {"summary": summary, "run_dir": run_dir, "mosaic": mosaic}


@pytest.fixture(scope="module")
def campaigns(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("confidence")
    store, jobs = folder / "store.gpkg", folder / "jobs.sqlite"
    runs = {name: _campaign(folder, name, store, jobs, name == "campagne-b") for name in ("campagne-a", "campagne-b")}
    return {"runs": runs, "store": store, "jobs": jobs, "folder": folder}


def _published_confidence(jobs: Path, run: str, folder: Path) -> tuple[np.ndarray, rasterio.Affine]:
    """The run's confidence COG read back from the result store, as GDAL reads it."""
    results = open_results(str(jobs))
    path = folder / f"{run}-read-back.tif"
    path.write_bytes(b"".join(results.read(results.info(run, CONFIDENCE_NAME))))
    with rasterio.open(path) as dataset:
        return dataset.read(1), dataset.transform


def test_a_run_publishes_its_confidence_beside_its_classes(campaigns: dict) -> None:
    run = campaigns["runs"]["campagne-a"]
    assembled = run["summary"]["assembled"]
    assert assembled["published_confidence"] == f"http://h/results/campagne-a/{CONFIDENCE_NAME}"
    gdalinfo = ["gdalinfo", "-json", str(run["run_dir"] / CONFIDENCE_COG)]
    info = json.loads(subprocess.run(gdalinfo, capture_output=True, check=True).stdout)
    assert info["metadata"]["IMAGE_STRUCTURE"]["LAYOUT"] == "COG" and info["bands"][0]["noDataValue"] == 0
    top, _ = _published_confidence(campaigns["jobs"], "campagne-a", campaigns["folder"])
    with rasterio.open(run["run_dir"] / "classification.tif") as classes:
        values = classes.read(1)
    assert top.shape == values.shape
    # Every classified pixel has a top probability, and no unclassified one: 0 is nodata in both.
    assert ((top > 0) == (values > 0)).all() and values.any()


def test_a_block_whose_confidence_changed_is_computed_again(campaigns: dict) -> None:
    run = campaigns["runs"]["campagne-a"]
    block = plan_run(run["mosaic"], run["run_dir"], OPTIONS, "cpu")[1][0]
    assert finished(run["run_dir"], block) is not None
    sure = run["run_dir"] / "blocks" / f"{block.id}.confidence.tif"
    saved = sure.read_bytes()
    sure.write_bytes(saved[:-1] + bytes([saved[-1] ^ 1]))
    try:
        assert finished(run["run_dir"], block) is None
    finally:
        sure.write_bytes(saved)


def test_the_change_of_two_published_runs_carries_their_confidence(campaigns: dict) -> None:
    store = open_store(str(campaigns["store"]))
    published = compare_runs(store, open_results(str(campaigns["jobs"])), "campagne-a", "campagne-b", "34")
    assert published.confidence and published.features > 0
    assert published.summary()["confiance"].startswith("mean of the lower")
    polygons = store.read_frame(SEGMENTATION_CHANGE, 2154, equals={"run_avant": "campagne-a"})
    assert len(polygons) == published.features
    before, transform = _published_confidence(campaigns["jobs"], "campagne-a", campaigns["folder"])
    after, _ = _published_confidence(campaigns["jobs"], "campagne-b", campaigns["folder"])
    lower = np.minimum(before, after).astype(np.float64) / 255
    for geometry, confiance in zip(polygons.geometry, polygons["confiance"], strict=True):
        # The polygons follow pixel edges: the pixels whose centres they hold are theirs.
        pixels = rasterio.features.rasterize([geometry], out_shape=lower.shape, transform=transform).astype(bool)
        assert pixels.any() and 0 < confiance <= 1
        # Both sides read the same uint8 (1/255 steps); ``confiance`` is rounded to 4 decimals, hence 1e-4.
        assert confiance == pytest.approx(lower[pixels].mean(), abs=1e-4)


def test_a_run_published_again_without_confidence_has_none(campaigns: dict) -> None:
    """A confidence left by an earlier publication of a run is not weighed against classes published since."""
    run_dir = campaigns["runs"]["campagne-b"]["run_dir"]
    store, results = open_store(str(campaigns["store"])), open_results(str(campaigns["jobs"]))
    polygons = gpd.read_file(run_dir / POLYGONS)
    metadata = RunMetadata("campagne-c", "default", "34")
    cog = run_dir / MOSAIC_COG
    first = publish_run(
        store, results, polygons, cog, metadata, base_url="http://h", confidence_cog=cog.with_name(CONFIDENCE_COG)
    )
    assert first.confidence == f"http://h/results/campagne-c/{CONFIDENCE_NAME}"
    assert compare_runs(store, results, "campagne-a", "campagne-c", "34").confidence
    again = publish_run(store, results, polygons, cog, metadata, base_url="http://h")
    assert again.confidence is None
    published = compare_runs(store, results, "campagne-a", "campagne-c", "34")
    assert not published.confidence and published.features > 0
    rows = store.read_frame(SEGMENTATION_CHANGE, 2154, equals={"run_apres": "campagne-c"})
    assert rows["confiance"].isna().all()


def test_ocsge_segment_says_its_couverture_is_not_ocs_ge(tmp_path: Path) -> None:
    write_dalles(tmp_path / "d", 1, 1, side=125, driver="GTiff")
    tiling = ["--window", "256", "--margin", "64", "--block-side", "128"]
    done = ocsge("segment", str(tmp_path / "d"), "--out", str(tmp_path / "run"), "--device", "cpu", *tiling)
    summary = json.loads(done.stdout[done.stdout.index("{") :])
    assert summary["avertissement"] == AI_COUVERTURE_NOTICE and "not OCS GE" in AI_COUVERTURE_NOTICE
    assert summary["assembled"]["confidence"] == CONFIDENCE_COG
