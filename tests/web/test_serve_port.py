"""`make serve PORT=…` as the README offers it: the real Makefile target (runtime config, OpenAPI validation,
gunicorn) on a free port that is not 5000, over a copy of the demo store. Every link the server writes (next pages,
tile templates, style sources, HTML navigation) must point at that port, and /map must draw its tiles from it."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path

import pytest
import requests
import yaml

from deploy.services import LOOPBACK_ONLY, free_port, wait_for_server

from ..conftest import ROOT
from .conftest import palette_pixels, screenshot

pytestmark = pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)

#: Where `make serve` would point links without being told the port: no response may name it.
DEFAULT_PORT = 5000
LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def stop_group(proc: subprocess.Popen, grace_s: float = 45) -> None:
    """SIGTERM to make and the gunicorn it runs (their own process group), SIGKILL whatever outlives ``grace_s``."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace_s
    while time.monotonic() < deadline:
        proc.poll()
        try:
            os.killpg(proc.pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(10)


def venv_for_make(folder: Path) -> Path:
    """A virtualenv folder for the Makefile's VENV: its bin/ is the one running the tests and its stamp is fresh, so
    make installs nothing."""
    venv = folder / "venv"
    venv.mkdir()
    (venv / "bin").symlink_to(Path(sys.executable).parent)
    (venv / ".installed").touch()
    return venv


@pytest.fixture(scope="module")
def make_serve(store_url: str, tmp_path_factory: pytest.TempPathFactory, web_bundle: Path) -> Iterator[str]:
    """`make serve PORT=<free port>` in the checkout; yields the URL it should answer at, and stops it.

    The Makefile's own prerequisites are taken as done: the virtualenv is the one running the tests, the pages are
    bundled (``web_bundle``), and ``-o data/demo/.done`` keeps make from regenerating the demo delivery for a store
    that already exists. The runtime config and the jobs go to a temporary folder, not the checkout's build/."""
    folder = tmp_path_factory.mktemp("make-serve")
    venv = venv_for_make(folder)
    store = folder / "ocsge.gpkg"
    with closing(sqlite3.connect(store_url)) as source, closing(sqlite3.connect(store)) as copy:
        source.backup(copy)
    port = free_port()
    assert port != DEFAULT_PORT
    env = {key: value for key, value in os.environ.items() if key != "OCSGE_URL"}  # what the Makefile derives
    env |= {"OCSGE_JOBS": str(folder / "jobs.sqlite"), "OCSGE_OUTPUTS": str(folder / "outputs"), **LOOPBACK_ONLY}
    command = [
        "make",
        "--no-print-directory",
        "-o",
        "data/demo/.done",
        "serve",
        f"PORT={port}",
        f"VENV={venv}",
        f"STORE={store}",
        "WORKERS=1",
        f"PYGEOAPI_CONFIG={folder / 'pygeoapi-config.yml'}",
        f"PYGEOAPI_OPENAPI={folder / 'openapi.yml'}",
    ]
    log_path = folder / "make-serve.log"
    with log_path.open("w") as log:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=log, stderr=log, start_new_session=True)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for_server(url, proc, log_path, timeout_s=300)
            yield url
        finally:
            stop_group(proc)


def loopback_urls(value: object) -> Iterator[str]:
    """Every string in a JSON document that is an http(s) URL on this machine (links, templates, style sources)."""
    if isinstance(value, dict):
        for item in value.values():
            yield from loopback_urls(item)
    elif isinstance(value, list):
        for item in value:
            yield from loopback_urls(item)
    elif isinstance(value, str) and urllib.parse.urlsplit(value).hostname in LOOPBACK:
        yield value


def get(url: str, **params: str) -> requests.Response:
    response = requests.get(url, params=params, timeout=60)
    assert response.status_code == 200, (url, response.status_code, response.text[:300])
    assert f":{DEFAULT_PORT}" not in response.text, f"{response.url} names port {DEFAULT_PORT}"
    return response


def assert_on(base: str, urls: list[str], what: str) -> None:
    assert urls, f"no {what} found"
    origin = urllib.parse.urlsplit(base)[:2]
    wrong = [url for url in urls if urllib.parse.urlsplit(url)[:2] != origin]
    assert not wrong, f"{what} not on {base}: {wrong[:5]}"


def test_json_links_tiles_and_styles_point_at_the_port(make_serve: str) -> None:
    base = make_serve
    collections = get(f"{base}/collections", f="json").json()
    assert_on(base, list(loopback_urls(collections)), "links in /collections")
    links = {c["id"]: c["links"] for c in collections["collections"]}

    page = get(f"{base}/collections/communes/items", f="json", limit="2").json()
    next_links = [link["href"] for link in page["links"] if link["rel"] == "next"]
    assert_on(base, next_links, "next link")
    assert get(next_links[0]).json()["features"], "the next page answers from the port it names"

    tilesets = get(f"{base}/collections/ocsge-occupation-sol/tiles", f="json").json()
    tileset_urls = list(loopback_urls(tilesets))
    assert_on(base, tileset_urls, "tileset links")
    tileset = get(f"{base}/collections/ocsge-occupation-sol/tiles/WebMercatorQuad", f="json").json()
    templates = [url for url in loopback_urls(tileset) if "{tileMatrix}" in url or "{z}" in url]
    assert_on(base, templates, "tile URL templates")

    stylesheets = [link["href"] for link in links["ocsge-occupation-sol"] if link["rel"] == "stylesheet"]
    assert_on(base, stylesheets, "stylesheet links")
    style = get(stylesheets[0]).json()
    sources = [url for source in style["sources"].values() for url in source.get("tiles", [])]
    assert_on(base, sources, "style tile sources")
    z, x, y = 14, 8139, 5916  # Arcachon, where the demo store has polygons
    tile = requests.get(sources[0].replace("{z}", str(z)).replace("{x}", str(x)).replace("{y}", str(y)), timeout=60)
    assert tile.status_code in (200, 204), (tile.url, tile.status_code, tile.text[:300])


@pytest.mark.parametrize("path", ["/", "/collections", "/collections/communes/items", "/map"])
def test_html_navigation_points_at_the_port(make_serve: str, path: str) -> None:
    response = get(make_serve + path, f="html")
    targets = [
        urllib.parse.urljoin(response.url, target)
        for target in re.findall(r"""(?:href|src)=["']([^"']+)["']""", response.text)
    ]
    local = [url for url in targets if urllib.parse.urlsplit(url).hostname in LOOPBACK]
    assert_on(make_serve, local, f"links of {path}")
    if path != "/map":  # pygeoapi writes absolute links from the configured URL; the /map pages relative ones
        absolute = re.findall(rf"""(?:href|src)=["']{re.escape(make_serve)}/""", response.text)
        assert absolute, f"{path}: no absolute link to {make_serve}"


def test_map_draws_its_tiles_from_the_port(page, make_serve: str) -> None:
    requested: list[str] = []
    failed: list[str] = []
    tiles: dict[str, int] = {}
    page.on("request", lambda request: requested.append(request.url))
    page.on("requestfailed", lambda request: failed.append(f"{request.url}: {request.failure}"))
    page.on(
        "response",
        lambda response: (
            tiles.__setitem__(response.url, response.status) if "/tiles/WebMercatorQuad/" in response.url else None
        ),
    )
    page.goto(f"{make_serve}/map#13/44.655/-1.17")
    page.wait_for_selector("#map[data-ready=true]", timeout=60_000)
    page.wait_for_function("() => window.ocsgeMap.loaded() && window.ocsgeMap.areTilesLoaded()", timeout=60_000)
    shot = screenshot(page, "make-serve-port-map")
    assert page.locator("#map").get_attribute("data-mode") == "tiles", f"{shot}: the map fell back to features"
    assert not failed, failed
    elsewhere = [
        url for url in requested if not url.startswith(make_serve + "/") and not url.startswith(("data:", "blob:"))
    ]
    assert not elsewhere, f"requests off {make_serve}: {elsewhere[:5]}"
    assert tiles, "no vector tile requested"
    assert set(tiles.values()) <= {200, 204, 304}, tiles
    png = page.screenshot(clip=page.locator("#map").bounding_box())
    painted = {code: n for code, n in palette_pixels(png).items() if n >= 50}
    assert len(painted) >= 2, f"{shot}: fewer than two couverture colours drawn: {painted}"


@pytest.mark.parametrize(
    ("settings", "env", "expected"),
    [
        ({"HOST": "0.0.0.0", "PORT": "8123"}, {}, "http://127.0.0.1:8123"),
        (
            {"HOST": "127.0.0.1", "PORT": "8124"},
            {"OCSGE_URL": "https://ocsge.example.org"},
            "https://ocsge.example.org",
        ),
    ],
    ids=["wildcard-host", "url-from-environment"],
)
def test_make_config_writes_the_url_links_need(
    store_url: str, tmp_path: Path, settings: dict[str, str], env: dict[str, str], expected: str
) -> None:
    """A wildcard bind is no address to link to (links name the loopback); a URL the user gives (a proxy's) wins."""
    config = tmp_path / "pygeoapi-config.yml"
    done = subprocess.run(
        [
            "make",
            "--no-print-directory",
            "config",
            f"VENV={venv_for_make(tmp_path)}",
            f"STORE={store_url}",
            f"PYGEOAPI_CONFIG={config}",
            f"PYGEOAPI_OPENAPI={tmp_path / 'openapi.yml'}",
            *(f"{key}={value}" for key, value in settings.items()),
        ],
        cwd=ROOT,
        env={**{k: v for k, v in os.environ.items() if k != "OCSGE_URL"}, **env},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert yaml.safe_load(config.read_text(encoding="utf-8"))["server"]["url"] == expected
