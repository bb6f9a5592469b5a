"""Browser tests of the /map pages: Debian's Chromium (headless, software WebGL) driven by Playwright against a live
gunicorn on the demo data (the `server` fixture, GeoPackage store). Screenshots go to build/test-artifacts/screenshots
for CI to keep."""

from __future__ import annotations

import json
import shutil
import subprocess
import urllib.parse
import urllib.request
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from rasterio.errors import NotGeoreferencedWarning
from rasterio.io import MemoryFile

from ocsge_processes import nomenclature

from .. import services
from ..conftest import ROOT, SHARED

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "build" / "test-artifacts" / "screenshots"
#: Software WebGL for MapLibre with no GPU, and none of Chromium's own connections (the network is closed).
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--use-angle=swiftshader",
    "--enable-unsafe-swiftshader",
    "--ignore-gpu-blocklist",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
STATIC = ROOT / "ocsge_processes" / "webapp" / "static"
ORTHO = SHARED / "montpellier-ortho-lidar" / "ortho"


@pytest.fixture(scope="session")
def web_bundle() -> Path:
    """The pages bundled from web/ by `make web` (rebuilt only when web/ changed), as `make test` does first."""
    if not shutil.which("npm") or not shutil.which("node"):
        pytest.fail("the /map pages are bundled from web/ with Node.js and npm, which are not installed")
    result = subprocess.run(["make", "--no-print-directory", "web"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, f"make web failed:\n{result.stdout}\n{result.stderr}"
    assert (STATIC / "map.js").is_file()
    return STATIC


@pytest.fixture(scope="session")
def browser(web_bundle: Path):
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} not found: apt-get install chromium")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


#: The window sizes every /map page is laid out for: a laptop screen, and a phone as Playwright's "iPhone 13"
#: descriptor emulates it (mobile viewport meta honoured, touch, 3 device pixels per CSS pixel).
SIZES: dict[str, dict] = {
    "desktop": {"viewport": {"width": 1400, "height": 900}},
    "phone": {
        "viewport": {"width": 390, "height": 844},
        "device_scale_factor": 3,
        "is_mobile": True,
        "has_touch": True,
    },
}


def _page(browser, request: pytest.FixtureRequest, **options) -> Iterator:
    """A fresh French page in a context of ``options``; JavaScript errors fail the test, a screenshot is kept."""
    context = browser.new_context(locale="fr-FR", accept_downloads=True, **options)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=SCREENSHOTS / f"{request.node.name.replace('/', '_')}-end.png")
    context.close()
    assert not errors, f"JavaScript errors on the page: {errors}"


@pytest.fixture
def page(browser, request: pytest.FixtureRequest) -> Iterator:
    """A fresh page (French, 1280 × 800); JavaScript errors fail the test, a screenshot is kept at the end."""
    yield from _page(browser, request, viewport={"width": 1280, "height": 800})


@pytest.fixture(params=list(SIZES))
def size(request: pytest.FixtureRequest) -> str:
    """Each window size of SIZES in turn."""
    return request.param


@pytest.fixture
def sized_page(browser, size: str, request: pytest.FixtureRequest) -> Iterator:
    """A fresh page at the window ``size`` (French); JavaScript errors fail the test."""
    yield from _page(browser, request, **SIZES[size])


@pytest.fixture(scope="session")
def wms() -> Iterator[str]:
    """Debian's MapServer serving the real Montpellier ortho (RVB and IRC) under the Géoplateforme's layer names."""
    with services.mapserver(
        {
            "ORTHOIMAGERY.ORTHOPHOTOS": ORTHO / "test_data_rgb.tif",
            "ORTHOIMAGERY.ORTHOPHOTOS.IRC": ORTHO / "test_data_irc.tif",
        }
    ) as url:
        yield url


def screenshot(page, name: str, full_page: bool = False) -> Path:
    """Save a screenshot (of the window, or of the whole scrolled page) under build/test-artifacts/screenshots and
    return its path."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=path, full_page=full_page)
    return path


def features(server: str, collection: str, first: int | None = None, **params: str | int) -> list[dict]:
    """The features of ``collection`` matching ``params`` through OGC API Features: the ``first`` ones, or all of
    them, following `next` links."""
    found: list[dict] = []
    url: str | None = f"{server}/collections/{collection}/items?" + urllib.parse.urlencode(
        {"f": "json", "limit": first or 10000, **params}
    )
    while url:
        with urllib.request.urlopen(url, timeout=60) as response:
            page = json.load(response)
        found += page["features"]
        url = (
            next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
            if page["features"] and not first
            else None
        )
    return found


def palette_pixels(png: bytes) -> dict[str, int]:
    """Pixels of the screenshot painted exactly in a couverture colour, by code."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NotGeoreferencedWarning)  # a screenshot has no georeferencing
        with MemoryFile(png) as memory, memory.open() as image:
            rgb = image.read([1, 2, 3]).reshape(3, -1).T.astype(np.int32)
    packed = (rgb[:, 0] << 16) | (rgb[:, 1] << 8) | rgb[:, 2]
    values, counts = np.unique(packed, return_counts=True)
    found = dict(zip(values.tolist(), counts.tolist(), strict=True))
    cs = nomenclature.couverture()
    return {
        code: found[int(cs.get(code).color[1:], 16)] for code in cs.leaves() if int(cs.get(code).color[1:], 16) in found
    }
