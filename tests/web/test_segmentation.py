"""The /map/segmentation page: an extent drawn on the map over the real Montpellier ortho, served by Debian's
MapServer, or the GeoTIFFs uploaded; the `segmentation` job started from the page is followed to 100 % and its
polygons are drawn in the couverture palette."""

from __future__ import annotations

import time

import pyproj
import pytest
import requests

from .conftest import ORTHO, palette_pixels, screenshot

pytestmark = pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)

#: Centre of the Montpellier patch (50 m × 50 m around Lambert-93 770575, 6277575), and an extent of about
#: 200 m × 200 m around it: several windows for the model, so that the job reports progress on its way.
CENTRE_L93 = (770575.0, 6277575.0)
HALF_SIDE_M = 100.0


def lonlat(x: float, y: float) -> tuple[float, float]:
    return pyproj.Transformer.from_crs(2154, 4326, always_xy=True).transform(x, y)


def open_page(page, server: str) -> None:
    lng, lat = lonlat(*CENTRE_L93)
    page.goto(f"{server}/map/segmentation#17/{lat:.6f}/{lng:.6f}")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    assert "IGN" in page.locator(".maplibregl-ctrl-attrib").inner_text()


def run_and_follow(page, timeout_s: float = 240) -> list[int]:
    """Click "run" and record every progress value the page shows until the job ends."""
    page.click("#run")
    seen: list[int] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        # status first: the page writes both at once, so the percent read after it is at least as recent
        status = page.locator("#job-status").get_attribute("data-status")
        value = page.locator("#job-percent").get_attribute("data-value")
        if value is not None and (not seen or seen[-1] != int(value)):
            seen.append(int(value))
        if status in ("successful", "failed", "dismissed"):
            break
        assert "error" not in page.inner_html("#job-message"), page.inner_text("#job-message")
        time.sleep(0.1)
    return seen


def check_result(page, server: str, name: str) -> dict:
    """The job ended successfully (as GET /jobs/{id} says), at 100 %, and its polygons are drawn on the map."""
    job_id = page.locator("#job").get_attribute("data-job")
    status = requests.get(f"{server}/jobs/{job_id}", params={"f": "json"}, timeout=30).json()
    assert status["status"] == "successful" and status["progress"] == 100, status
    page.wait_for_selector("#map[data-result]", timeout=30_000)
    result = requests.get(f"{server}/jobs/{job_id}/results", params={"f": "json"}, timeout=30).json()
    assert int(page.locator("#map").get_attribute("data-result")) == len(result["features"]) > 0
    # Opaque, the fill shows the couverture colours of the codes the job found, and no other.
    page.locator("#opacity").fill("1")
    page.wait_for_function("() => window.ocsgeMap.loaded()", timeout=30_000)
    png = page.screenshot(clip=page.locator("#map").bounding_box())
    screenshot(page, name)
    painted = {code for code, n in palette_pixels(png).items() if n >= 50}
    codes = {f["properties"]["code_cs"] for f in result["features"]}
    assert painted and painted <= codes, (painted, codes)
    return result


def test_extent_drawn_on_the_map_is_segmented_and_overlaid(page, server: str, wms: str) -> None:
    open_page(page, server)
    page.fill("#wms", wms)
    page.dispatch_event("#wms", "change")
    (x0, y0), (x1, y1) = (lonlat(CENTRE_L93[0] - HALF_SIDE_M, CENTRE_L93[1] - HALF_SIDE_M),
                          lonlat(CENTRE_L93[0] + HALF_SIDE_M, CENTRE_L93[1] + HALF_SIDE_M))
    corners = page.evaluate("corners => corners.map(c => window.ocsgeMap.project(c))", [[x0, y0], [x1, y1]])
    box = page.locator("#map canvas").bounding_box()
    page.click("#draw")
    for corner in corners:
        page.mouse.click(box["x"] + corner["x"], box["y"] + corner["y"])
    bbox = [float(v) for v in page.locator("#bbox-text").get_attribute("data-bbox").split(",")]
    # the page turned the clicks into Lambert-93 within a pixel of the corners (0.2 m ortho, ~1 m screen pixels)
    expected = [CENTRE_L93[0] - HALF_SIDE_M, CENTRE_L93[1] - HALF_SIDE_M,
                CENTRE_L93[0] + HALF_SIDE_M, CENTRE_L93[1] + HALF_SIDE_M]
    assert bbox == pytest.approx(expected, abs=3), bbox
    # the ortho of the WMS is drawn under the extent before the job runs
    page.wait_for_function("() => window.ocsgeMap.isSourceLoaded('ortho')", timeout=30_000)
    screenshot(page, "segmentation-extent")

    seen = run_and_follow(page)
    assert seen[-1] == 100 and seen == sorted(seen), seen
    assert any(0 < value < 100 for value in seen), f"no progress reported on the way: {seen}"
    check_result(page, server, "segmentation-wms-result")


def test_uploaded_geotiffs_are_segmented_and_overlaid(page, server: str) -> None:
    open_page(page, server)
    page.check("input[name=mode][value=upload]")
    page.set_input_files("#rgb", ORTHO / "test_data_rgb.tif")
    page.set_input_files("#irc", ORTHO / "test_data_irc.tif")
    seen = run_and_follow(page)
    assert seen and seen[-1] == 100, seen
    result = check_result(page, server, "segmentation-upload-result")
    # the same image by path gives the same polygons: the page sent the files as they are
    by_path = requests.post(f"{server}/processes/segmentation/execution", timeout=300, json={
        "inputs": {"image": {"path": "montpellier-ortho-lidar/ortho/test_data_rgb.tif"},
                   "irc": {"path": "montpellier-ortho-lidar/ortho/test_data_irc.tif"}},
        "outputs": {"polygones": {}}}).json()
    assert sorted(f["properties"]["code_cs"] for f in result["features"]) == \
        sorted(f["properties"]["code_cs"] for f in by_path["features"])
