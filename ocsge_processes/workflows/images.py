"""Where the `segmentation` process gets its images: a path under the configured data directory, an http(s) href,
inline base64, or a WMS in the Géoplateforme style. Each is checked (address, place, size) before it is read, so a
request cannot make the server read its own files or call into its private network: URLs go through the outbound
policy (``ocsge_processes.outbound``), and every image is opened by ``segmentation.rasters`` (GeoTIFF only for
client files, the WMS formats for WMS answers, mosaics only under the data directory) and must be georeferenced
in a projected CRS before anything reads its pixels.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyproj
import rasterio
import requests
from rasterio.transform import from_bounds

from .. import outbound
from ..errors import InvalidInputError
from ..segmentation.rasters import (
    CLIENT_DRIVERS,
    NOT_A_RASTER,
    SERVER_DRIVERS,
    WMS_DRIVERS,
    check_georeferencing,
    open_raster,
)

#: Géoplateforme layer names of BD ORTHO in natural colours and in infrared colours.
ORTHO_LAYER, IRC_LAYER = "ORTHOIMAGERY.ORTHOPHOTOS", "ORTHOIMAGERY.ORTHOPHOTOS.IRC"
TIMEOUT_S = 60


@dataclass(frozen=True)
class ImagePolicy:
    """What the server accepts: the folder paths may name, sizes, and the hosts trusted despite private addresses."""

    data_dir: Path | None = None
    max_bytes: int = 512 * 2**20
    max_inline_bytes: int = 16 * 2**20
    max_pixels: int = 100_000_000
    trusted_hosts: frozenset[str] = field(default_factory=frozenset)


def fetch_image(spec: object, name: str, policy: ImagePolicy, workdir: Path) -> Path:
    """A local file for the process input ``name``: ``{"href": URL}``, ``{"path": P}``, ``{"value": base64}`` or
    ``{"wms": {...}}`` (see :func:`fetch_wms`)."""
    if not isinstance(spec, dict) or len(spec.keys() & {"href", "path", "value", "wms"}) != 1:
        raise InvalidInputError(
            f"{name} must be an object with one of href (http(s) URL of a GeoTIFF), path (under "
            "the server's data directory), value (base64 GeoTIFF) or wms (layers, bbox, "
            "resolution)"
        )
    if "path" in spec:
        path = _local(str(spec["path"]), name, policy)
        return _checked(path, name, policy, SERVER_DRIVERS, policy.data_dir)
    if "value" in spec:
        return _checked(_inline(spec["value"], name, policy, workdir), name, policy, CLIENT_DRIVERS)
    if "wms" in spec:
        return fetch_wms(spec["wms"], name, policy, workdir)
    path = _download(spec["href"], name, policy, workdir / f"{name}.tif")
    return _checked(path, name, policy, CLIENT_DRIVERS)


def fetch_wms(wms: object, name: str, policy: ImagePolicy, workdir: Path, layer: str | None = None) -> Path:
    """A GeoTIFF of a WMS GetMap (1.3.0) over ``bbox`` at ``resolution`` metres: ``url``, ``layers`` (default the
    Géoplateforme ortho), ``bbox`` [minx, miny, maxx, maxy] and ``crs`` (projected, default EPSG:2154)."""
    if not isinstance(wms, dict) or "url" not in wms or "bbox" not in wms:
        raise InvalidInputError(
            f"{name}.wms needs url and bbox ([minx, miny, maxx, maxy] in crs), and may give "
            "layers, crs, resolution (m) and format"
        )
    try:
        minx, miny, maxx, maxy = (float(v) for v in wms["bbox"])
        resolution = float(wms.get("resolution", 0.2))
        crs = pyproj.CRS.from_user_input(wms.get("crs", "EPSG:2154"))
    except (TypeError, ValueError, pyproj.exceptions.CRSError) as err:
        raise InvalidInputError(f"{name}.wms: bad bbox, resolution or crs ({err})") from None
    finite = all(math.isfinite(value) for value in (minx, miny, maxx, maxy, resolution))
    if not finite or not crs.is_projected or minx >= maxx or miny >= maxy or resolution <= 0:
        raise InvalidInputError(
            f"{name}.wms: the bbox must be finite and increasing, in a projected CRS (metres), with a positive "
            "resolution"
        )
    across, down = (maxx - minx) / resolution, (maxy - miny) / resolution
    if not across * down < 1e300:  # a huge bbox over a tiny resolution: past what a float (or round) can hold
        _check_pixels(math.inf, name, policy)
    width, height = round(across), round(down)
    _check_pixels(width * height, name, policy)
    layers = layer or str(wms.get("layers", ORTHO_LAYER))
    params: dict[str, str | int] = {
        "SERVICE": "WMS",
        "VERSION": "1.3.0",
        "REQUEST": "GetMap",
        "LAYERS": layers,
        "STYLES": "",
        "CRS": f"EPSG:{crs.to_epsg()}",
        "BBOX": f"{minx},{miny},{maxx},{maxy}",
        "WIDTH": width,
        "HEIGHT": height,
        "FORMAT": str(wms.get("format", "image/png")),
    }
    raw = workdir / f"{name}-{re.sub(r'[^A-Za-z0-9._-]', '_', layers)[:80]}.bin"  # no path from the client
    _download(wms["url"], name, policy, raw, params)
    try:
        with open_raster(raw, f"{name} (WMS answer)", WMS_DRIVERS) as image:
            if (
                (image.width, image.height) != (width, height)
                or image.count < 3
                or any(dtype != "uint8" for dtype in image.dtypes)
            ):
                raise InvalidInputError(
                    f"{name}: the WMS answered a {image.width}×{image.height} px, "
                    f"{image.count}-band {image.dtypes[0]} image for layer {layers}; "
                    f"{width}×{height} px, 3 bands of uint8 were asked"
                )
            pixels = image.read([1, 2, 3])
    except InvalidInputError as err:
        if NOT_A_RASTER not in str(err):
            raise
        text = raw.read_bytes()[:500].decode("utf-8", "replace")
        raise InvalidInputError(f"{name}: the WMS did not return an image for layer {layers}: {text}") from None
    out = raw.with_suffix(".tif")
    with rasterio.open(
        out,
        "w",
        driver="GTiff",
        width=width,
        height=height,
        count=3,
        dtype="uint8",
        crs=f"EPSG:{crs.to_epsg()}",
        transform=from_bounds(minx, miny, maxx, maxy, width, height),
        tiled=True,
    ) as dst:
        dst.write(pixels.astype(np.uint8))
    return out


def _local(path: str, name: str, policy: ImagePolicy) -> Path:
    target = server_path(path, name, policy.data_dir)
    if not target.is_file():
        raise InvalidInputError(f"{name}.path {path!r} does not exist in the server's data directory")
    _check_bytes(target.stat().st_size, name, policy.max_bytes)
    return target


def server_path(path: object, name: str, data_dir: Path | None) -> Path:
    """The file or folder ``path`` names under ``data_dir``, resolved (links followed) and refused outside it: the
    one rule for every server-side path a request gives."""
    if data_dir is None:
        raise InvalidInputError(f"{name}.path: this server has no data directory; give an href or a value")
    if not isinstance(path, str) or not path or any(ord(char) < 32 or ord(char) == 127 for char in path):
        raise InvalidInputError(f"{name}.path must be a non-empty relative path without control characters")
    root = data_dir.resolve()
    target = (root / path).resolve()
    if not target.is_relative_to(root):
        raise InvalidInputError(f"{name}.path {path!r} is outside the server's data directory")
    if not target.exists():
        raise InvalidInputError(f"{name}.path {path!r} does not exist in the server's data directory")
    return target


def _inline(value: object, name: str, policy: ImagePolicy, workdir: Path) -> Path:
    if not isinstance(value, str):
        raise InvalidInputError(f"{name}.value must be a base64 string")
    _check_bytes(len(value) * 3 // 4, name, policy.max_inline_bytes)
    try:
        data = base64.b64decode(value, validate=True)
    except binascii.Error:
        raise InvalidInputError(f"{name}.value is not valid base64") from None
    out = workdir / f"{name}.tif"
    out.write_bytes(data)
    return out


def _checked(path: Path, name: str, policy: ImagePolicy, drivers: tuple[str, ...], root: Path | None = None) -> Path:
    """``path`` once it opens with ``drivers`` only, reads nothing outside itself (or ``root``), is georeferenced in
    metres and within the pixel limit."""
    with open_raster(path, name, drivers, root) as dataset:
        check_georeferencing(dataset, name)
        _check_pixels(dataset.width * dataset.height, name, policy)
    return path


def _download(
    url: object, name: str, policy: ImagePolicy, out: Path, params: dict[str, str | int] | None = None
) -> Path:
    try:
        destination = outbound.check(url, policy.trusted_hosts)
    except InvalidInputError as err:
        raise InvalidInputError(f"{name}: {err}") from None
    try:
        with outbound.request("GET", destination, TIMEOUT_S, params=params, stream=True) as response:
            if response.is_redirect:
                raise InvalidInputError(
                    f"{name}: {url} redirects to {response.headers.get('Location')}; give the final address"
                )
            if response.status_code != 200:
                raise InvalidInputError(f"{name}: {url} answered HTTP {response.status_code}")
            size = 0
            with out.open("wb") as file:
                for chunk in response.iter_content(1 << 20):
                    size += len(chunk)
                    _check_bytes(size, name, policy.max_bytes)
                    file.write(chunk)
    except requests.RequestException as err:
        raise InvalidInputError(f"{name}: cannot fetch {url}: {err}") from None
    return out


def _check_bytes(size: int, name: str, limit: int) -> None:
    if size > limit:
        raise InvalidInputError(f"{name} is over the size limit of {limit // 2**20} MiB")


def _check_pixels(count: float, name: str, policy: ImagePolicy) -> None:
    if count > policy.max_pixels:
        shown = f"{count:.3g}" if count > 10**12 else f"{count:.0f}"
        raise InvalidInputError(
            f"{name}: {shown} pixels is over the limit of {policy.max_pixels} per request; split the area"
        )
