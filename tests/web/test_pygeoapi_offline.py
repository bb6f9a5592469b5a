"""pygeoapi's own HTML pages work on a closed network: in Chromium, every request a page makes (scripts, styles,
images, basemap tiles, Swagger UI's $ref lookups) stays on the server, none fails, and the pages are styled and
their maps drawn. And the rewrite table of server/offline.py covers every URL pygeoapi's templates load."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pygeoapi
import pytest
import requests

from ocsge_processes.server import offline

from .conftest import screenshot

TEMPLATES = Path(pygeoapi.__file__).parent / "templates"
#: pygeoapi templates our server never renders, each with why (a new template not listed here is checked).
NOT_RENDERED = {
    "stac": "no STAC catalogue is configured",
    "asyncapi.html": "no pub/sub (AsyncAPI) is configured",
    "collections/edr": "no EDR collection",
    "collections/coverage": "no coverage collection",
}
#: URLs in pygeoapi's templates that a browser never fetches: links to follow and identifiers.
NOT_FETCHED = {
    "https://pygeoapi.io",
    "https://schema.org/",
    "https://schema.org/WebAPI",
    "http://www.opengis.net/def/rel/ogc/1.0/ogc-catalog",
    "http://www.opengis.net/def/rel/ogc/1.0/map",
}
LOOPBACK = {"127.0.0.1", "localhost", "[::1]", "::1"}
DESKTOP, PHONE = {"width": 1400, "height": 900}, {"width": 390, "height": 844}

#: Page → what shows it rendered: "bootstrap" (pygeoapi's base page styled), "map" (a Leaflet map with its
#: basemap tiles drawn), "swagger" (Swagger UI listing the operations).
PAGES = {
    "/": "bootstrap",
    "/collections": "bootstrap",
    "/collections/ocsge-occupation-sol": "map",
    "/collections/communes/items": "map",
    "/collections/communes/items/33009": "map",
    "/collections/ocsge-occupation-sol/tiles": "map",
    "/processes": "bootstrap",
    "/processes/artificialisation": "bootstrap",
    "/jobs": "bootstrap",
    "/conformance": "bootstrap",
    "/TileMatrixSets": "bootstrap",
    "/TileMatrixSets/WebMercatorQuad": "bootstrap",
    "/openapi": "swagger",
    "/openapi?ui=redoc": "bootstrap",
}


def _rendered_templates() -> list[Path]:
    return [
        path
        for path in TEMPLATES.rglob("*.html")
        if not any(str(path.relative_to(TEMPLATES)).startswith(skip) for skip in NOT_RENDERED)
    ]


def test_every_url_the_templates_load_is_in_the_table() -> None:
    found = {
        url: path.relative_to(TEMPLATES)
        for path in _rendered_templates()
        for url in re.findall(r"https?://[^\"'\s)<>]+", path.read_text(encoding="utf-8"))
        if "{" not in url
    }
    assert len(found) > 10, "pygeoapi's templates moved: the scan found almost nothing"
    unknown = {url: str(path) for url, path in found.items() if url not in offline.CDN and url not in NOT_FETCHED}
    assert not unknown, f"pygeoapi's templates load URLs that offline.CDN neither replaces nor drops: {unknown}"


def test_rewrite_replaces_and_drops() -> None:
    html = (
        '<link rel="stylesheet" href="https://unpkg.com/bootstrap@5.1.3/dist/css/bootstrap.min.css">'
        '<!--[if lt IE 9]><script src="https://cdnjs.cloudflare.com/ajax/libs/html5shiv/3.7.3/html5shiv.js">'
        "</script><![endif]-->"
    )
    out = offline.rewrite(html, "http://127.0.0.1:5000")
    assert 'href="http://127.0.0.1:5000/vendor/bootstrap/dist/css/bootstrap.min.css"' in out
    assert "html5shiv" not in out and "<script" not in out


def test_basemap_is_ours_unless_one_is_set() -> None:
    def configs(url: str) -> tuple[dict, dict]:
        server = {"url": "http://127.0.0.1:5000/", "map": {"url": url, "attribution": "OCS GE © IGN"}}
        return {"server": server}, {"server": {**server, "map": dict(server["map"])}}

    config, tpl_config = configs("")
    offline.use_our_templates(config, tpl_config)
    assert tpl_config["server"]["map"]["url"] == "http://127.0.0.1:5000/basemap.svg"
    assert config["server"]["templates"]["path"] == str(offline.TEMPLATES) == tpl_config["server"]["templates"]["path"]
    plan_ign = (
        "https://data.geopf.fr/wmts?LAYER=GEOGRAPHICALGRIDSYSTEMS.PLANIGNV2&TILEMATRIX={z}&TILEROW={y}&TILECOL={x}"
    )
    config, tpl_config = configs(plan_ign)
    offline.use_our_templates(config, tpl_config)
    assert tpl_config["server"]["map"]["url"] == plan_ign


def test_vendored_files_exist(web_bundle: Path) -> None:
    missing = [path for path in offline.CDN.values() if path and not (offline.VENDOR / path).is_file()]
    assert not missing, f"web/build.mjs did not vendor {missing}"


#: The tests that need the live server, on the GeoPackage demo store.
LIVE = pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)


@LIVE
def test_vendor_and_basemap_are_served(server: str) -> None:
    response = requests.get(f"{server}/vendor/leaflet/dist/leaflet.js", timeout=30)
    assert response.status_code == 200 and "max-age" in response.headers["Cache-Control"]
    assert "ETag" in response.headers
    assert requests.get(f"{server}/vendor/../offline.py", timeout=30).status_code == 404
    assert requests.get(f"{server}/vendor/%2e%2e/offline.py", timeout=30).status_code == 404
    basemap = requests.get(f"{server}/basemap.svg", timeout=30)
    assert basemap.status_code == 200 and basemap.headers["Content-Type"].startswith("image/svg+xml")


@LIVE
def test_home_page_links_the_map_pages_in_both_languages(server: str) -> None:
    french = requests.get(server, params={"f": "html"}, timeout=30).text
    english = requests.get(server, params={"f": "html", "lang": "en"}, timeout=30).text
    for path in ("/map/", "/map/dashboard", "/map/segmentation", "/map/jobs"):
        assert f'href="{server}{path}"' in french and f'href="{server}{path}"' in english
    assert "Tableau de bord" in french and "Dashboard" in english
    assert "example.org" not in french and "n/a" not in french


@LIVE
def test_unset_contact_email_is_left_out(server: str) -> None:
    info = requests.get(f"{server}/openapi", params={"f": "json"}, timeout=60).json()["info"]
    assert info["contact"]["name"].startswith("IGN") and info["contact"]["url"] == "https://www.ign.fr/"
    assert "emails" not in info["contact"]["x-ogc-serviceContact"], "no OCSGE_CONTACT_EMAIL, so no address"


def _styled(page, kind: str) -> None:
    if kind == "swagger":
        page.wait_for_selector(".opblock", timeout=60_000)
        # swagger-ui.css draws each operation in a bordered box; unstyled, a div has no border
        assert page.eval_on_selector(".opblock", "e => getComputedStyle(e).borderStyle") == "solid"
        return
    # Bootstrap's .sticky-top keeps pygeoapi's header at the top; the browser's default position is static
    assert page.eval_on_selector(".sticky-top", "e => getComputedStyle(e).position") == "sticky"
    if kind == "map":
        # the basemap is our neutral tile (no OCSGE_BASEMAP), drawn
        page.wait_for_selector(".leaflet-container img.leaflet-tile-loaded[src$='/basemap.svg']", timeout=60_000)
        # leaflet.css positions the panes absolutely; unstyled, the tiles would fall into the page's flow
        assert page.eval_on_selector(".leaflet-pane", "e => getComputedStyle(e).position") == "absolute"


@LIVE
@pytest.mark.parametrize("path", PAGES)
def test_page_stays_on_the_loopback_and_is_styled(browser, server: str, path: str) -> None:
    context = browser.new_context(viewport=DESKTOP, locale="fr-FR")
    page = context.new_page()
    outside: list[str] = []
    failed: list[str] = []
    errors: list[str] = []

    def route(route) -> None:  # every request passes here: those leaving the loopback are recorded and refused
        if urlsplit(route.request.url).hostname in LOOPBACK or route.request.url.startswith("data:"):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    page.route("**/*", route)
    page.on("response", lambda r: failed.append(f"{r.status} {r.url}") if r.status >= 400 else None)
    page.on("requestfailed", lambda r: failed.append(f"{r.failure} {r.url}"))
    page.on("pageerror", lambda error: errors.append(str(error)))
    try:
        url = f"{server}{path}{'&' if '?' in path else '?'}f=html"
        page.goto(url, wait_until="networkidle")
        _styled(page, PAGES[path])
        page.evaluate("window.scrollTo(0, 0)")
        name = "-".join(["pygeoapi", *re.findall(r"[a-zA-Z0-9]+", path)])
        screenshot(page, f"{name}-1400x900")
        page.set_viewport_size(PHONE)
        page.wait_for_load_state("networkidle")
        screenshot(page, f"{name}-390x844")
        if PAGES[path] == "swagger":  # Swagger UI looks $refs up when an operation opens: open them all
            for summary in page.locator(".opblock-summary-control").all():
                summary.click()
            page.wait_for_load_state("networkidle")
        assert not outside, f"{path} asked for {outside}"
        assert not failed, f"{path}: requests failed: {failed}"
        assert not errors, f"{path}: JavaScript errors: {errors}"
    finally:
        context.close()
