"""The /map/jobs page over GET /jobs and DELETE /jobs/{id}: jobs listed with status, progress, duration and result
links, and a running segmentation job cancelled from the page."""

from __future__ import annotations

import pytest
import requests

from .. import services
from .conftest import screenshot

pytestmark = pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)


def start(server: str, process: str, inputs: dict, outputs: dict) -> str:
    """An asynchronous execution; returns its job id."""
    response = requests.post(f"{server}/processes/{process}/execution", json={"inputs": inputs, "outputs": outputs},
                             headers={"Prefer": "respond-async"}, timeout=60)
    assert response.status_code == 201, response.text[:300]
    return response.json()["jobID"]


def test_jobs_are_listed_and_one_is_cancelled(page, server: str, wms: str) -> None:
    done = start(server, "artificialisation", {"territoire": {"communes": ["33009"]}, "millesimes": [2021, 2024]},
                 {"artificialisation": {}})
    assert services.wait_for_job(server, done)["status"] == "successful"
    # 600 m × 600 m of ortho at 0.2 m (9 Mpx, mostly blank beyond the patch): tens of seconds on a CPU, time to cancel
    long = start(server, "segmentation", {"image": {"wms": {"url": wms, "bbox": [770300, 6277300, 770900, 6277900],
                                                            "crs": "EPSG:2154", "resolution": 0.2}}},
                 {"surfaces": {}})

    page.goto(f"{server}/map/jobs")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    finished = page.locator(f"tr[data-job='{done}']")
    assert finished.get_attribute("data-status") == "successful"
    assert "artificialisation" in finished.inner_text() and "100 %" in finished.inner_text()
    assert finished.locator("td").nth(6).inner_text().endswith(" s"), "a duration is shown"
    results = finished.locator("a", has_text="Résultats").get_attribute("href")
    answer = requests.get(requests.compat.urljoin(f"{server}/map/jobs", results), timeout=30)
    assert answer.status_code == 200 and answer.json()["territoires"][0]["code"] == "33009"

    running = page.locator(f"tr[data-job='{long}']")
    assert running.get_attribute("data-status") in ("accepted", "running")
    screenshot(page, "jobs-before-cancel")
    running.locator("button[data-cancel]").click()
    page.wait_for_selector(f"tr[data-job='{long}'][data-status=dismissed]", timeout=30_000)
    screenshot(page, "jobs-after-cancel")
    assert page.locator(f"tr[data-job='{long}'] button[data-cancel]").count() == 0
    status = requests.get(f"{server}/jobs/{long}", params={"f": "json"}, timeout=30).json()
    assert status["status"] == "dismissed", status
    # the runner stops at its next progress report: the job never ends as a success
    assert services.wait_for_job(server, long, timeout_s=60)["status"] == "dismissed"
