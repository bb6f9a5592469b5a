"""Open a raster so that it reads that file and nothing else: the one rule for every image a request brings.

GDAL opens whatever a file says it is. A VRT (or another format that names files or URLs) sent inline or by URL
would make the server read its own files or fetch from its own network, with no address check. So a raster is
opened only by the drivers its origin allows (client files: GeoTIFF; WMS answers: GeoTIFF, PNG, JPEG, JPEG 2000;
server-side mosaics under the data directory: also VRT), under GDAL settings that close its own network access,
sidecar discovery and VRT code, and every file the opened dataset uses must be the file itself (client files) or
lie under the data directory (server-side paths). A VRT's sources are checked from its XML before GDAL opens it.
"""

from __future__ import annotations

import contextlib
import math
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TypedDict

import rasterio
from rasterio.errors import RasterioError

from ..errors import InvalidInputError

#: Drivers for files a client sends (inline value or href download): GeoTIFF, COGs included.
CLIENT_DRIVERS = ("GTiff",)
#: Drivers for a WMS GetMap answer.
WMS_DRIVERS = ("GTiff", "PNG", "JPEG", "JP2OpenJPEG")
#: Drivers for files on the server (``path`` inputs, the command line): mosaics (VRT) allowed too.
SERVER_DRIVERS = ("GTiff", "VRT", "PNG", "JPEG", "JP2OpenJPEG")


class GdalSettings(TypedDict):
    """The GDAL configuration options set while a raster is open (typed, so that they pass as ``Env`` keywords)."""

    CPL_VSIL_CURL_ALLOWED_FILENAME: str
    CPL_VSIL_CURL_ALLOWED_EXTENSIONS: str
    GDAL_DISABLE_READDIR_ON_OPEN: str
    GDAL_VRT_ENABLE_PYTHON: str
    GDAL_VRT_ENABLE_RAWRASTERBAND: str


#: GDAL settings while such a raster is open: no network (no /vsicurl/ name is allowed), no sidecar files
#: discovered by listing the folder, no Python or raw-file VRT bands.
CLOSED_GDAL: GdalSettings = {
    "CPL_VSIL_CURL_ALLOWED_FILENAME": "/vsicurl/ocsge-network-access-is-closed",
    "CPL_VSIL_CURL_ALLOWED_EXTENSIONS": ".ocsge-network-access-is-closed",
    "GDAL_DISABLE_READDIR_ON_OPEN": "EMPTY_DIR",
    "GDAL_VRT_ENABLE_PYTHON": "NO",
    "GDAL_VRT_ENABLE_RAWRASTERBAND": "NO",
}
#: How the refusal of a file no accepted driver reads starts (callers that explain it further look for it).
NOT_A_RASTER = "is not a raster image GDAL can read"
#: ``root`` for files the caller has already checked or a local user named (the engine, the command line): any
#: folder, still with the drivers, the closed settings and no virtual or network VRT source.
ANYWHERE = Path("/")
#: Deepest VRT-in-VRT nesting followed.
MAX_VRT_DEPTH = 8
#: A GDAL connection prefix (``GTIFF_DIR:``, ``vrt://``, ``HDF5:``…) rather than a plain file name.
_PREFIXED = re.compile(r"^[A-Za-z][A-Za-z0-9_+.-]*:")


@contextlib.contextmanager
def open_raster(
    path: Path, name: str, drivers: Sequence[str] = SERVER_DRIVERS, root: Path | None = None
) -> Iterator[rasterio.io.DatasetReader]:
    """``path`` opened by one of ``drivers`` under :data:`CLOSED_GDAL`, for reading inside this context. Without
    ``root`` the dataset may use no file but ``path``; with it, every file (VRT sources included) must lie under
    ``root``. ``name`` (the process input) names the image in errors, which never show a server path."""
    path = Path(path)
    with rasterio.Env(**CLOSED_GDAL):
        if _is_vrt(path):
            if "VRT" not in drivers or root is None:
                raise InvalidInputError(f"{name} is a VRT; only {', '.join(drivers)} images are accepted here")
            _check_vrt_sources(path, name, root.resolve(), 0)
        dataset = _open_with(path, name, drivers)
        with dataset:
            _check_files(dataset, path, name, root)
            yield dataset


def check_georeferencing(dataset: rasterio.io.DatasetReader, name: str) -> None:
    """Refuse an image whose areas would mean nothing: no CRS, a CRS not in metres, no geotransform, a null or
    non-finite pixel, a rotated grid."""
    crs = dataset.crs
    if crs is None:
        raise InvalidInputError(
            f"{name} has no CRS; give a georeferenced image in a projected CRS (metres), e.g. Lambert-93 (EPSG:2154)"
        )
    if not crs.is_projected:
        raise InvalidInputError(
            f"{name} is in a geographic CRS ({crs.to_string()}); areas need a projected CRS in "
            "metres, e.g. Lambert-93 (EPSG:2154)"
        )
    units = (crs.linear_units or "").lower()
    if units not in ("metre", "meter", "m", "metres", "meters"):
        raise InvalidInputError(f"{name} is in a CRS measured in {units or 'unknown units'}; a CRS in metres is needed")
    if dataset.transform.is_identity:  # what GDAL reports for an image without a geotransform
        raise InvalidInputError(f"{name} has no geotransform (origin and pixel size); give a georeferenced image")
    a, b, _, d, e, _ = tuple(dataset.transform)[:6]
    if not all(math.isfinite(v) for v in tuple(dataset.transform)[:6]) or a == 0 or e == 0:
        raise InvalidInputError(f"{name} has a null or non-finite pixel size ({a}, {e}); give a georeferenced image")
    if b != 0 or d != 0:
        raise InvalidInputError(f"{name} has a rotated or sheared grid; give a north-up image")


def _open_with(path: Path, name: str, drivers: Sequence[str]) -> rasterio.io.DatasetReader:
    """The dataset opened by the first of ``drivers`` that accepts it (rasterio allows one driver per open)."""
    for driver in drivers:
        try:
            return rasterio.open(path, driver=driver)
        except RasterioError:
            continue
    raise InvalidInputError(f"{name} {NOT_A_RASTER} with the drivers accepted here ({', '.join(drivers)})")


def _check_files(dataset: rasterio.io.DatasetReader, path: Path, name: str, root: Path | None) -> None:
    """Every file the dataset uses is ``path`` itself, or lies under ``root``."""
    for used in dataset.files:
        if used.startswith("/vsi") or _PREFIXED.match(used):
            raise InvalidInputError(f"{name} uses a virtual or network file; only plain files are read")
        resolved = Path(used).resolve()
        if root is None and resolved != path.resolve():
            raise InvalidInputError(f"{name} refers to other files; send a self-contained image")
        if root is not None and not resolved.is_relative_to(root.resolve()):
            raise InvalidInputError(f"{name} refers to a file outside the server's data directory")


def _is_vrt(path: Path) -> bool:
    """As GDAL's VRT driver identifies one: ``<VRTDataset`` in the first kilobyte."""
    try:
        with path.open("rb") as file:
            return b"<VRTDataset" in file.read(1024)
    except OSError:
        return False


def _check_vrt_sources(vrt: Path, name: str, root: Path, depth: int) -> None:
    """Every source a VRT names (any depth) is a plain file under ``root``; checked before GDAL opens anything."""
    if depth > MAX_VRT_DEPTH:
        raise InvalidInputError(f"{name}: VRTs nested deeper than {MAX_VRT_DEPTH} levels")
    try:
        tree = ElementTree.parse(vrt)
    except (ElementTree.ParseError, OSError):
        raise InvalidInputError(f"{name} is not a valid VRT") from None
    for element in tree.iter():
        if element.tag not in ("SourceFilename", "SourceDataset"):
            continue
        source = (element.text or "").strip()
        if not source or source.startswith(("/vsi", "<")) or _PREFIXED.match(source):
            raise InvalidInputError(
                f"{name}: a VRT source is not a plain file (virtual, network and driver-prefixed sources are refused)"
            )
        relative = element.get("relativeToVRT", "0") == "1"
        target = ((vrt.parent / source) if relative else Path(source)).resolve()
        if not target.is_relative_to(root):
            raise InvalidInputError(f"{name}: a VRT source lies outside the server's data directory")
        if not target.is_file():
            raise InvalidInputError(f"{name}: a VRT source does not exist in the server's data directory")
        if _is_vrt(target):
            _check_vrt_sources(target, name, root, depth + 1)
