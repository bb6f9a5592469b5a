"""pygeoapi's own HTML pages still work beside /map, under the project's name (French first, English on request) and
with the IGN attribution; the /map pages link back to them."""

from __future__ import annotations

import pytest
import requests

pytestmark = pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)

PAGES = ["/", "/collections", "/collections/ocsge-occupation-sol", "/collections/communes/items",
         "/collections/communes/items/33009", "/processes", "/processes/artificialisation", "/jobs"]


@pytest.mark.parametrize("path", PAGES)
def test_pygeoapi_page_has_the_project_name_and_ign(server: str, path: str) -> None:
    french = requests.get(server + path, params={"f": "html"}, timeout=60)
    assert french.status_code == 200 and french.headers["Content-Type"].startswith("text/html"), path
    assert "Serveur OGC API OCS GE" in french.text and "IGN" in french.text
    english = requests.get(server + path, params={"f": "html", "lang": "en"}, timeout=60)
    assert english.status_code == 200 and "OCS GE OGC API server" in english.text


def test_map_pages_link_to_the_api(page, server: str) -> None:
    page.goto(f"{server}/map/jobs")
    page.wait_for_selector("body[data-ready=true]", timeout=30_000)
    page.click("nav a[data-i18n='nav.api']")
    page.wait_for_url(f"{server}/")
    assert "Serveur OGC API OCS GE" in page.locator("body").inner_text()
