"""Client rasters over a live server: a VRT (inline, from a WMS, or a data-directory mosaic reaching outside) never
makes the server read another file or fetch a URL; images whose areas would mean nothing (no CRS, geographic,
no or null pixel size, rotated) and WMS answers of the wrong size are 400s; no message shows a server path.

The server has its own data directory (a copy of the Montpellier patch, mosaics written by the tests) and trusts
``localhost``, where a loopback listener plays the WMS and records every connection.
"""

from __future__ import annotations

import base64
import re
import shutil
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import rasterio
import requests
from affine import Affine

from deploy.listener import listener
from deploy.services import web_server

from ..conftest import BIN, SHARED
from ..server.test_process_segmentation import two_band_geotiff

ORTHO = SHARED / "montpellier-ortho-lidar" / "ortho"
RGB, IRC = ORTHO / "test_data_rgb.tif", ORTHO / "test_data_irc.tif"
BBOX = [770549.8, 6277549.8, 770600.2, 6277600.2]
#: A server path in a message: a slash starting a path under a usual root, not inside a URL.
SERVER_PATH = re.compile(r"(?<![\w:./])/(tmp|work|home|root|var|usr|etc|opt|srv)\b")


@pytest.fixture(scope="module")
def places(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The server's data directory (with the ortho patch and a VRT mosaic of it) and a secret file outside it."""
    root = tmp_path_factory.mktemp("raster-inputs")
    data = root / "data"
    (data / "ortho").mkdir(parents=True)
    shutil.copy(RGB, data / "ortho" / "rgb.tif")
    shutil.copy(IRC, data / "ortho" / "irc.tif")
    shutil.copy(RGB, root / "secret.tif")
    _vrt(data / "mosaic-rgb.vrt", "ortho/rgb.tif", relative=True)
    _vrt(data / "mosaic-irc.vrt", "ortho/irc.tif", relative=True)
    return {"root": root, "data": data, "secret": root / "secret.tif"}


@pytest.fixture(scope="module")
def live(places: dict[str, Path]) -> Iterator[str]:
    folder = places["root"] / "server"
    folder.mkdir()
    with web_server(
        str(folder / "empty.gpkg"), folder, BIN, OCSGE_DATA_DIR=str(places["data"]), OCSGE_TRUSTED_HOSTS="localhost"
    ) as url:
        yield url


def _vrt(path: Path, source: str, relative: bool = False) -> Path:
    """A 3-band VRT of the 252 × 252 Montpellier grid whose bands read ``source``, with the patch's declared
    nodata (the engine masks no-data pixels through GDAL's mask band: without it the VRT would classify them)."""
    with rasterio.open(RGB) as image:
        transform, width, height, nodata = image.transform, image.width, image.height, image.nodatavals
    bands = "".join(
        f'<VRTRasterBand dataType="Byte" band="{b}">'
        + (f"<NoDataValue>{nodata[b - 1]:g}</NoDataValue>" if nodata[b - 1] is not None else "")
        + "<SimpleSource><SourceFilename "
        f'relativeToVRT="{int(relative)}">{source}</SourceFilename><SourceBand>{b}</SourceBand>'
        f"</SimpleSource></VRTRasterBand>"
        for b in (1, 2, 3)
    )
    path.write_text(
        f'<VRTDataset rasterXSize="{width}" rasterYSize="{height}"><SRS>EPSG:2154</SRS><GeoTransform>'
        f"{', '.join(map(str, transform.to_gdal()))}</GeoTransform>{bands}</VRTDataset>"
    )
    return path


def _execute(server: str, inputs: dict, prefer_async: bool = False) -> requests.Response:
    headers = {"Prefer": "respond-async"} if prefer_async else {}
    return requests.post(
        f"{server}/processes/segmentation/execution", json={"inputs": inputs}, headers=headers, timeout=300
    )


def _refused(response: requests.Response, hint: str) -> str:
    """The description of a 400 that says ``hint`` and shows no server path."""
    assert response.status_code == 400, response.text[:400]
    description = response.json()["description"]
    assert hint.lower() in description.lower(), description
    assert not SERVER_PATH.search(description), description
    return description


def _b64(data: bytes) -> dict:
    return {"value": base64.b64encode(data).decode()}


def _geotiff(transform: Affine | None, crs: str | None, count: int = 3) -> bytes:
    """A small uint8 GeoTIFF in memory."""
    profile = {"driver": "GTiff", "width": 64, "height": 64, "count": count, "dtype": "uint8"}
    profile.update({"transform": transform} if transform is not None else {})
    profile.update({"crs": crs} if crs else {})
    with rasterio.MemoryFile() as memory:
        with memory.open(**profile) as dataset:
            dataset.write(np.full((count, 64, 64), 90, dtype="uint8"))
        return memory.read()


def test_a_mosaic_under_the_data_directory_still_works(live: str) -> None:
    """The control: VRTs are allowed for data-directory paths whose sources stay inside it (same pixels, same
    result as the files themselves)."""
    by_file = _execute(live, {"image": {"path": "ortho/rgb.tif"}, "irc": {"path": "ortho/irc.tif"}})
    by_vrt = _execute(live, {"image": {"path": "mosaic-rgb.vrt"}, "irc": {"path": "mosaic-irc.vrt"}})
    assert by_file.status_code == 200 and by_vrt.status_code == 200, by_vrt.text[:300]
    assert by_vrt.json()["surfaces_m2"] == by_file.json()["surfaces_m2"]


def test_an_inline_vrt_reading_a_file_outside_the_data_directory_is_refused(live: str, places: dict) -> None:
    vrt = _vrt(places["root"] / "inline.vrt", str(places["secret"]))
    _refused(_execute(live, {"image": _b64(vrt.read_bytes())}), "is a VRT")
    disguised = _vrt(places["root"] / "inline-relative.vrt", "secret.tif", relative=True)
    _refused(_execute(live, {"image": _b64(disguised.read_bytes())}), "only GTiff")


def test_an_inline_vrt_fetching_a_url_is_refused_and_fetches_nothing(live: str, places: dict) -> None:
    with listener({"/a.tif": ("image/tiff", RGB.read_bytes())}) as heard:
        vrt = _vrt(places["root"] / "inline-curl.vrt", f"/vsicurl/http://127.0.0.1:{heard.port}/a.tif")
        _refused(_execute(live, {"image": _b64(vrt.read_bytes())}), "is a VRT")
        assert heard.received_nothing(), heard


@pytest.mark.parametrize(
    ("source", "relative", "hint"),
    [
        ("{secret}", False, "outside the server's data directory"),
        ("../secret.tif", True, "outside the server's data directory"),
        ("/vsicurl/http://127.0.0.1:{port}/a.tif", False, "not a plain file"),
        ("/vsizip/{secret}.zip/secret.tif", False, "not a plain file"),
        ("vrt://{secret}?bands=1", False, "not a plain file"),
        ("GTIFF_DIR:1:{secret}", False, "not a plain file"),
    ],
    ids=["absolute", "relative", "vsicurl", "vsizip", "vrt-connection", "driver-prefix"],
)
def test_a_data_directory_mosaic_reaching_outside_is_refused(
    live: str, places: dict, source: str, relative: bool, hint: str
) -> None:
    with listener({"/a.tif": ("image/tiff", RGB.read_bytes())}) as heard:
        name = f"escape-{abs(hash(source))}.vrt"
        _vrt(places["data"] / name, source.format(secret=places["secret"], port=heard.port), relative)
        _refused(_execute(live, {"image": {"path": name}}), hint)
        # One level down: a mosaic of that mosaic, inside the data directory.
        _vrt(places["data"] / f"outer-{name}", name, relative=True)
        _refused(_execute(live, {"image": {"path": f"outer-{name}"}}), hint)
        assert heard.received_nothing(), heard


BAD_GEOREFERENCING = [
    (Affine(0.2, 0, 770549.8, 0, -0.2, 6277600.2), None, "has no CRS"),
    (Affine(2e-6, 0, 3.87, 0, -2e-6, 43.6), "EPSG:4326", "geographic CRS"),
    (None, "EPSG:2154", "no geotransform"),
    (Affine(0.0, 0, 770549.8, 0, -0.2, 6277600.2), "EPSG:2154", "no CRS"),  # GDAL reads a null pixel as no georef
    (Affine(float("nan"), 0, 770549.8, 0, -0.2, 6277600.2), "EPSG:2154", "non-finite pixel size"),
    (Affine(0.2, 0.05, 770549.8, 0.05, -0.2, 6277600.2), "EPSG:2154", "rotated"),
    (Affine(0.5, 0, 6_000_000, 0, -0.5, 2_000_000), "EPSG:2229", "measured in"),  # US survey feet
]


@pytest.mark.parametrize(
    ("transform", "crs", "hint"),
    BAD_GEOREFERENCING,
    ids=["no-crs", "geographic", "no-geotransform", "null-pixel", "nan-pixel", "rotated", "feet"],
)
def test_images_whose_areas_would_mean_nothing_are_refused(
    live: str, transform: Affine | None, crs: str | None, hint: str
) -> None:
    _refused(_execute(live, {"image": _b64(_geotiff(transform, crs))}), hint)


def _png(width: int, height: int, count: int = 3) -> bytes:
    with rasterio.MemoryFile() as memory:
        with memory.open(driver="PNG", width=width, height=height, count=count, dtype="uint8") as dataset:
            dataset.write(np.full((count, height, width), 120, dtype="uint8"))
        return memory.read()


@pytest.mark.parametrize(
    ("answer", "hint"),
    [
        (("image/png", _png(10, 10)), "the WMS answered a 10×10 px"),
        (("image/png", _png(252, 252, 1)), "1-band"),
    ],
    ids=["wrong-size", "one-band"],
)
def test_a_wms_answer_not_as_asked_is_refused(live: str, answer: tuple[str, bytes], hint: str) -> None:
    with listener({"/wms": answer}) as heard:
        wms = {"url": f"http://localhost:{heard.port}/wms", "bbox": BBOX, "resolution": 0.2}
        _refused(_execute(live, {"image": {"wms": wms}}), hint)
        assert len(heard.requests) == 1 and "WIDTH=252" in heard.requests[0][0]


def test_a_wms_answering_a_vrt_is_refused_and_nothing_else_is_fetched(live: str, places: dict) -> None:
    with listener() as heard:
        vrt = _vrt(places["root"] / "wms.vrt", f"/vsicurl/http://127.0.0.1:{heard.port}/a.tif")
        heard.bodies["/wms"] = ("image/png", vrt.read_bytes())
        wms = {"url": f"http://localhost:{heard.port}/wms", "bbox": BBOX, "resolution": 0.2}
        _refused(_execute(live, {"image": {"wms": wms}}), "is a VRT")
        assert [path.partition("?")[0] for path, _, _ in heard.requests] == ["/wms"]
        assert len(heard.connections) == 1


def test_messages_show_no_server_path(live: str) -> None:
    assert "image has 2 band(s)" in _refused(_execute(live, {"image": _b64(two_band_geotiff())}), "2 band")
    truncated = RGB.read_bytes()[: RGB.stat().st_size // 2]  # a valid header whose tiles are cut off
    _refused(_execute(live, {"image": _b64(truncated), "irc": _b64(IRC.read_bytes())}), "image")
    _refused(_execute(live, {"image": _b64(b"II*\x00 not really a tiff")}), "not a raster image")


def test_a_failed_job_records_no_server_path(live: str) -> None:
    response = _execute(
        live, {"image": _b64(_geotiff(Affine(0.2, 0, 770549.8, 0, -0.2, 6277600.2), None))}, prefer_async=True
    )
    assert response.status_code == 201, response.text[:300]
    status_url = response.headers["Location"]
    deadline = time.monotonic() + 120
    while (status := requests.get(status_url, params={"f": "json"}, timeout=30).json())["status"] in (
        "accepted",
        "running",
    ) and time.monotonic() < deadline:
        time.sleep(0.5)
    assert status["status"] == "failed" and "no CRS" in status["message"], status
    assert not SERVER_PATH.search(status["message"]), status["message"]


def test_a_wms_layer_name_never_becomes_a_path(live: str, tmp_path: Path) -> None:
    """The raw answer was saved under a name built from ``layers``: a layer name with slashes was a path (a 500, no
    such folder). Now the answer is checked like any other, and nothing lands outside the job folder."""
    target = tmp_path / "escaped"
    with listener({"/wms": ("image/png", _png(10, 10))}) as heard:
        wms = {
            "url": f"http://localhost:{heard.port}/wms",
            "bbox": BBOX,
            "resolution": 0.2,
            "layers": "../" * 16 + str(target).lstrip("/"),
        }
        _refused(_execute(live, {"image": {"wms": wms}}), "the WMS answered a 10×10 px")
        assert len(heard.requests) == 1
    assert not list(tmp_path.iterdir())


def test_gdal_network_access_is_closed_while_a_raster_is_opened() -> None:
    """Even a name GDAL would fetch itself gets nothing through: the settings of ``open_raster`` close /vsicurl/."""
    from ocsge_processes.errors import InvalidInputError
    from ocsge_processes.segmentation.rasters import SERVER_DRIVERS, open_raster

    with listener() as heard:
        url = f"http://127.0.0.1:{heard.port}/a.tif"
        with pytest.raises(rasterio.errors.RasterioIOError):  # the control: plain GDAL does call the listener
            rasterio.open(f"/vsicurl/{url}").close()
        fetched = len(heard.connections)
        assert fetched > 0
        with (
            pytest.raises(InvalidInputError, match="not a raster image"),
            open_raster(Path(f"/vsicurl/{url}"), "image", SERVER_DRIVERS, root=Path("/")),
        ):
            pass
        assert len(heard.connections) == fetched, "no connection once the settings are closed"
