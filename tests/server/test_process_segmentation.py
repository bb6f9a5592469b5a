"""The `segmentation` process over live HTTP: the real Montpellier patch by path, inline and from a local MapServer
WMS (Géoplateforme layer names), sync and async with progress, outputs read back with rasterio and OWSLib, bad input.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator

import pyproj
import pytest
import rasterio
import requests
import shapely
from owslib.ogcapi.processes import Processes

from tests import services
from tests.conftest import SHARED

ORTHO = SHARED / "montpellier-ortho-lidar" / "ortho"
RGB, IRC = ORTHO / "test_data_rgb.tif", ORTHO / "test_data_irc.tif"
BBOX = [770549.8, 6277549.8, 770600.2, 6277600.2]
PATH_INPUTS = {
    "image": {"path": "montpellier-ortho-lidar/ortho/test_data_rgb.tif"},
    "irc": {"path": "montpellier-ortho-lidar/ortho/test_data_irc.tif"},
}


@pytest.fixture(scope="module")
def wms() -> Iterator[str]:
    with services.mapserver({"ORTHOIMAGERY.ORTHOPHOTOS": RGB, "ORTHOIMAGERY.ORTHOPHOTOS.IRC": IRC}) as url:
        yield url


def _execute(server: str, inputs: dict, output: str | None = None) -> requests.Response:
    body = {"inputs": inputs, **({"outputs": {output: {}}} if output else {})}
    return requests.post(f"{server}/processes/segmentation/execution", json=body, timeout=300)


def test_classification_keeps_the_input_grid_exactly(server: str) -> None:
    response = _execute(server, PATH_INPUTS, "classification")
    assert response.status_code == 200, response.text[:300]
    with rasterio.open(io.BytesIO(response.content)) as result, rasterio.open(RGB) as source:
        assert result.transform == source.transform
        assert result.crs == source.crs
        assert (result.width, result.height) == (source.width, source.height)
        assert result.tags()["OCSGE_MODEL"] == "default"
        assert len(set(result.read(1).ravel())) > 1, "more than one class on an urban patch"


def test_surfaces_add_up_to_the_image_area(server: str) -> None:
    summary = Processes(server).execute("segmentation", inputs=PATH_INPUTS, response="raw")
    assert summary["model"] == "default" and summary["device"] in ("cpu", "cuda")
    # The patch's mask band leaves 4 pixels without data (255 in every band): counted apart, never classified.
    assert summary["nodata_m2"] == pytest.approx(4 * 0.04)
    assert sum(summary["surfaces_m2"].values()) + summary["nodata_m2"] == pytest.approx(252 * 252 * 0.04, rel=1e-6)
    assert set(summary["surfaces_m2"]) <= {"CS1.1.1.1", "CS1.1.1.2", "CS2.1.1.1", "CS2.2.1", "CS1.2.2"}


def test_inline_image_gives_the_same_result_as_by_path(server: str) -> None:
    inline = {
        "image": {"value": base64.b64encode(RGB.read_bytes()).decode()},
        "irc": {"value": base64.b64encode(IRC.read_bytes()).decode()},
    }
    assert _execute(server, inline).json()["surfaces_m2"] == _execute(server, PATH_INPUTS).json()["surfaces_m2"]


def test_wms_source_fetches_ortho_and_irc_layers(server: str, wms: str) -> None:
    inputs = {"image": {"wms": {"url": wms, "bbox": BBOX, "crs": "EPSG:2154", "resolution": 0.2}}}
    by_wms = _execute(server, inputs, "classification")
    assert by_wms.status_code == 200, by_wms.text[:300]
    by_path = _execute(server, PATH_INPUTS, "classification")
    with rasterio.open(io.BytesIO(by_wms.content)) as wms_classes, rasterio.open(io.BytesIO(by_path.content)) as path:
        from_wms, from_path = wms_classes.read(1), path.read(1)
    with rasterio.open(RGB) as source:
        has_data = source.dataset_mask() > 0
    # MapServer serves the file's own pixels, so the classes are the same, except where the file's mask band says
    # there is no data: a GetMap answer carries no mask, and those pixels are classified from the WMS.
    assert (from_wms[has_data] == from_path[has_data]).all()
    assert (from_path[~has_data] == 0).all() and (~has_data).sum() == 4


def test_polygons_cover_the_raster_without_gaps_or_overlaps(server: str) -> None:
    response = _execute(server, PATH_INPUTS, "polygones")
    assert response.status_code == 200, response.text[:300]
    features = response.json()["features"]
    assert features and all(f["properties"]["code_cs"].startswith("CS") for f in features)
    geoms = shapely.from_geojson([json.dumps(f["geometry"]) for f in features])
    lambert = shapely.transform(geoms, _to_lambert, interleaved=False)
    # Only float rounding of the round trip through CRS84 remains (measured: 4e-11 and 2e-16); the 4 pixels
    # without data (the patch's mask band) are left out.
    assert shapely.union_all(lambert).area == pytest.approx((252 * 252 - 4) * 0.04, rel=1e-9)
    assert sum(shapely.area(lambert)) == pytest.approx(shapely.union_all(lambert).area, rel=1e-9)


def _to_lambert(x: object, y: object) -> tuple:
    return pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:2154", always_xy=True).transform(x, y)


def test_async_job_reaches_100_with_progress(server: str) -> None:
    job = Processes(server).execute("segmentation", inputs=PATH_INPUTS, async_=True, response="raw")
    status = services.wait_for_job(server, job["jobID"])
    assert status["status"] == "successful", status
    assert status["progress"] == 100
    results = requests.get(f"{server}/jobs/{job['jobID']}/results", params={"f": "json"}, timeout=30).json()
    assert results["surfaces_m2"]


def two_band_geotiff() -> bytes:
    """The real RGB patch less its blue band: a GeoTIFF no model can read."""
    with rasterio.open(RGB) as source:
        profile = {**source.profile, "count": 2}
        pixels = source.read([1, 2])
    with rasterio.MemoryFile() as file:
        with file.open(**profile) as dataset:
            dataset.write(pixels)
        return file.read()


def _two_bands() -> dict:
    return {"value": base64.b64encode(two_band_geotiff()).decode()}


BAD_INPUTS = [
    ({"image": {"value": base64.b64encode(b"this is not an image").decode()}}, "not a raster"),
    ({"image": {"path": "../../etc/passwd"}}, "outside the server's data directory"),
    ({"image": {"href": "http://127.0.0.1:9/ortho.tif"}}, "private or local address"),
    ({"image": {"href": "file:///etc/passwd"}}, "not an absolute http(s) URL"),
    ({**PATH_INPUTS, "model": "FLAIR-99"}, "FLAIR-99"),
    ({**PATH_INPUTS, "device": "tpu"}, "device"),
    ({"image": {"wms": {"url": "http://localhost:1/wms", "bbox": BBOX, "resolution": 0.0001}}}, "over the limit"),
    ({"irc": PATH_INPUTS["irc"]}, "image"),
]


@pytest.mark.parametrize(("inputs", "hint"), BAD_INPUTS, ids=[hint for _, hint in BAD_INPUTS])
def test_bad_inputs_get_a_clear_400(server: str, inputs: dict, hint: str) -> None:
    response = _execute(server, inputs)
    assert response.status_code == 400, response.text[:300]
    assert hint.lower() in response.json()["description"].lower()


def test_two_band_image_is_refused(server: str) -> None:
    response = _execute(server, {"image": _two_bands()})
    assert response.status_code == 400 and "2 band" in response.json()["description"]


def test_inline_image_over_the_size_limit_is_refused(server: str) -> None:
    response = _execute(server, {"image": {"value": "A" * (24 * 2**20)}})  # 18 MiB once decoded
    assert response.status_code == 400 and "size limit" in response.json()["description"]
