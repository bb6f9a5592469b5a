"""The WMS as the source of a run over dalles, against a loopback MapServer serving the real Montpellier patch under
the Géoplateforme's layer names: cells on the 0.2 m grid hold the patch's own pixels (RVB and IRC), are fetched once
and read from the cache afterwards (with the WMS stopped), and only through the outbound policy; over live HTTP the
process segments a territory from the WMS and ``ocsge segment --wms`` finds the same classes; a WMS run without a
territory, or at a host that is not allowed, is refused saying why."""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np
import pytest
import rasterio
import requests
from rasterio.windows import from_bounds
from shapely.geometry import box

from deploy.services import web_server
from ocsge_processes.errors import InvalidInputError
from ocsge_processes.segmentation.mosaic import Territory
from ocsge_processes.workflows.images import ImagePolicy
from ocsge_processes.workflows.segmentation_wms import WmsSource, wms_mosaic
from tests import services
from tests.conftest import BIN, SHARED, ocsge

pytestmark = pytest.mark.slow  # MapServer, a live server and the default model on the CPU

ORTHO = SHARED / "montpellier-ortho-lidar" / "ortho"
RGB, IRC = ORTHO / "test_data_rgb.tif", ORTHO / "test_data_irc.tif"
HERAULT = SHARED / "communes-admin-express-2018" / "34-herault" / "communes-34-herault.geojson"
#: Inside the patch (770 549.8 – 770 600.2, 6 277 549.8 – 6 277 600.2), on whole pixels.
TERRITORY = [770550.0, 6277550.0, 770600.0, 6277600.0]
LOCAL = ImagePolicy(trusted_hosts=frozenset({"localhost"}))
LOOPBACK = {"OCSGE_OUTBOUND_LOOPBACK_ONLY": "1"}


@pytest.fixture(scope="module")
def wms() -> Iterator[str]:
    with services.mapserver({"ORTHOIMAGERY.ORTHOPHOTOS": RGB, "ORTHOIMAGERY.ORTHOPHOTOS.IRC": IRC}) as url:
        yield url


@pytest.fixture(autouse=True)
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """This process may call loopback addresses only, as the tests' servers."""
    monkeypatch.setenv("OCSGE_OUTBOUND_LOOPBACK_ONLY", "1")


def _territory() -> Territory:
    return Territory(box(*TERRITORY), "EPSG:2154", "bbox")


def test_cells_on_the_grid_hold_the_patch_pixels_and_come_from_the_cache_afterwards(tmp_path: Path) -> None:
    bands = ("R", "G", "B", "NIR")
    # 200 px cells (40 m): the territory overlaps four of them, their corners at multiples of 40 m.
    with services.mapserver({"ORTHOIMAGERY.ORTHOPHOTOS": RGB, "ORTHOIMAGERY.ORTHOPHOTOS.IRC": IRC}) as url:
        seen: list[tuple[int, int]] = []
        source = WmsSource(url)
        mosaic = wms_mosaic(
            source, _territory(), bands, LOCAL, tmp_path / "cache", tmp_path / "w1", lambda *p: seen.append(p), 200
        )
    assert seen == [(1, 4), (2, 4), (3, 4), (4, 4)]
    assert len(mosaic.pairs) == 4 and all(p.irc is not None for p in mosaic.pairs) and mosaic.missing == ()
    assert {p.rvb.bounds[0] % 40 for p in mosaic.pairs} == {0.0}
    for product, original in (("RVB", RGB), ("IRC", IRC)):
        cells = sorted((tmp_path / "cache" / source.key / product).glob("*.tif"))
        assert len(cells) == 4
        with rasterio.open(original) as patch:
            for cell in cells:
                with rasterio.open(cell) as fetched:
                    assert (fetched.res, fetched.count, fetched.dtypes[0]) == ((0.2, 0.2), 3, "uint8")
                    left, bottom, right, top = fetched.bounds
                    inside = (max(left, patch.bounds.left), max(bottom, patch.bounds.bottom))
                    inside += (min(right, patch.bounds.right), min(top, patch.bounds.top))
                    # Nearest-neighbour resampling on one grid: the WMS gives back the file's own pixels.
                    ours = fetched.read(window=from_bounds(*inside, fetched.transform).round_offsets().round_lengths())
                    theirs = patch.read(window=from_bounds(*inside, patch.transform).round_offsets().round_lengths())
                    np.testing.assert_array_equal(ours, theirs)
    modified = {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.tif")}

    # The WMS is gone: the same territory is read from the cache alone.
    again = wms_mosaic(source, _territory(), bands, LOCAL, tmp_path / "cache", tmp_path / "w2", None, 200)
    assert again.stack.width == mosaic.stack.width and again.stack.height == mosaic.stack.height
    assert {p: p.stat().st_mtime_ns for p in (tmp_path / "cache").rglob("*.tif")} == modified


def test_a_wms_host_outside_the_policy_is_refused_before_any_request(wms: str, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="private or local address"):
        wms_mosaic(WmsSource(wms), _territory(), ("R", "G", "B"), ImagePolicy(), tmp_path / "c", tmp_path / "w")
    with pytest.raises(InvalidInputError, match="not a loopback address"):
        public = WmsSource("http://93.184.215.14/wms")  # a public address: refused here before any connection
        wms_mosaic(public, _territory(), ("R", "G", "B"), LOCAL, tmp_path / "c", tmp_path / "w")
    assert not list((tmp_path / "c").rglob("*.tif"))


class _Redirect(BaseHTTPRequestHandler):
    """A WMS on loopback that sends every GetMap elsewhere (a public address)."""

    def do_GET(self) -> None:
        self.send_response(302)
        self.send_header("Location", "http://93.184.215.14/wms" + self.path[self.path.index("?") :])
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        """Quiet."""


def test_a_wms_redirecting_elsewhere_is_refused_not_followed(tmp_path: Path) -> None:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Redirect)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        source = WmsSource(f"http://localhost:{server.server_address[1]}/wms")
        with pytest.raises(InvalidInputError, match="redirects to http://93.184.215.14/wms"):
            wms_mosaic(source, _territory(), ("R", "G", "B"), LOCAL, tmp_path / "c", tmp_path / "w")
    finally:
        server.shutdown()
        thread.join()
    assert not list((tmp_path / "c").rglob("*.tif")), "nothing cached from a refused answer"


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("wms-server")
    ocsge("ingest", "--store", str(folder / "communes.gpkg"), str(HERAULT))
    env = {"OCSGE_SEGMENTATION_RUNS": str(folder / "runs"), "OCSGE_TRUSTED_HOSTS": "localhost", "HF_HUB_OFFLINE": "1"}
    with web_server(str(folder / "communes.gpkg"), folder / "server", BIN, **env) as url:
        yield url, folder / "runs"


def _segment(run_dir: Path, *arguments: str) -> subprocess.CompletedProcess:
    command = [str(BIN / "ocsge"), "segment", "--out", str(run_dir), "--device", "cpu", *arguments]
    command += ["--window", "256", "--margin", "64", "--block-side", "128"]
    return subprocess.run(command, capture_output=True, text=True, timeout=600, env={**os.environ, **LOOPBACK})


def _execute(server: str, inputs: dict) -> requests.Response:
    return requests.post(f"{server}/processes/segmentation/execution", json={"inputs": inputs}, timeout=600)


def test_the_process_and_the_command_segment_a_territory_from_the_wms(
    live: tuple[str, Path], wms: str, tmp_path: Path
) -> None:
    server, runs = live
    inputs = {
        "dalles": {"wms": wms},
        "territoire": {"bbox": TERRITORY},
        "tiling": {"window": 256, "margin": 64, "block_side": 128},
        "device": "cpu",
    }
    response = _execute(server, inputs)
    assert response.status_code == 200, response.text[:500]
    summary = response.json()
    assert summary["blocks"] > 1 and summary["computed"] == summary["blocks"] and summary["failed"] == []
    assert summary["missing"] == [], "the IRC cells came from the WMS's IRC layer"
    # Every pixel of the blocks over the territory has a class or is counted without data; km2 is rounded to 1 m².
    assert sum(summary["surfaces_m2"].values()) + summary["nodata_m2"] == pytest.approx(summary["km2"] * 1e6, abs=1)
    cached = sorted(p.parent.name for p in (runs / "wms-cache").rglob("*.tif"))
    assert cached == ["IRC", "RVB"], "one 800 m cell per product covers the territory"

    # The command reads the same cells from the WMS into its own run folder, and finds the same classes.
    territory = ",".join(map(str, TERRITORY))
    done = _segment(tmp_path / "run", "--wms", wms, "--territoire", territory)
    assert done.returncode == 0, done.stderr[-2000:]
    by_command = json.loads(done.stdout[done.stdout.index("{") :])
    assert (by_command["blocks"], by_command["surfaces_m2"]) == (summary["blocks"], summary["surfaces_m2"])
    assert sorted(p.parent.name for p in (tmp_path / "run" / "wms-cache").rglob("*.tif")) == ["IRC", "RVB"]


@pytest.mark.parametrize(
    ("arguments", "hint"),
    [(["--wms", "WMS"], "--wms needs --territoire"), (["--wms", "WMS", str(RGB)], "give IMAGE or --wms")],
)
def test_the_command_wants_a_territory_and_one_source(tmp_path: Path, wms: str, arguments: list, hint: str) -> None:
    done = _segment(tmp_path / "run", *[wms if argument == "WMS" else argument for argument in arguments])
    assert done.returncode == 2 and hint in done.stderr, done.stderr[-2000:]


@pytest.mark.parametrize(
    ("inputs", "hint"),
    [
        ({"dalles": {"wms": "WMS"}}, "needs a territoire"),
        # 100 km × 100 km: refused for a synchronous execution from its area alone, before any request to the WMS.
        ({"dalles": {"wms": "WMS"}, "territoire": {"bbox": [700000, 6200000, 800000, 6300000]}}, "from the WMS on"),
        ({"dalles": {"wms": "http://93.184.215.14/wms"}, "territoire": {"bbox": TERRITORY}}, "not a loopback address"),
        ({"dalles": {"wms": "WMS", "path": "x"}, "territoire": {"bbox": TERRITORY}}, "dalles: "),
        ({"dalles": {"path": "x", "layers": "ORTHOIMAGERY.ORTHOPHOTOS"}}, "give wms or neither"),
    ],
)
def test_bad_wms_inputs_get_a_400_that_says_why(live: tuple[str, Path], wms: str, inputs: dict, hint: str) -> None:
    if inputs["dalles"].get("wms") == "WMS":
        inputs = {**inputs, "dalles": {**inputs["dalles"], "wms": wms}}
    response = _execute(live[0], inputs)
    assert response.status_code == 400, response.text[:300]
    assert hint in response.json()["description"]
