"""What the `segmentation` process does, without HTTP: fetch the images by policy, run the engine, and measure the
area of each OCS GE couverture class; the polygons on request. Messages never show a server path: the files of the
job's folder are named by their input, the data directory's by their relative path.

The engine (torch, segmentation-models-pytorch) is imported by ``run`` only: importing this module, as the server
does to describe the process, costs no torch."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
import rasterio
from rasterio.errors import RasterioError

from ..errors import InvalidInputError, OcsgeError
from ..segmentation.registry import get_model
from ..segmentation.vectorise import vectorise_file
from .images import IRC_LAYER, ImagePolicy, fetch_image, fetch_wms

DEVICES = ("auto", "cuda", "cpu")
DEFAULT_MODEL = "default"


class Grid(TypedDict):
    """The classification's raster grid and the area (m²) of each couverture code on it."""

    width: int
    height: int
    crs: str | None
    transform: list[float]
    surfaces_m2: dict[str, float]


class Summary(Grid):
    """The ``surfaces`` output: which model ran where, for how long, and the grid's figures."""

    model: str
    device: str
    windows: int
    seconds: float
    #: Area without data in an input (GDAL's mask band): left unclassified (nodata) and out of every polygon.
    nodata_m2: float


@dataclass(frozen=True)
class Segmented:
    """The classification COG and the figures the process returns."""

    classification: Path
    summary: Summary


# Any: the execution request's inputs are free-form JSON (checked against the process description before).
def run(
    inputs: dict[str, Any], policy: ImagePolicy, workdir: Path, progress: Callable[[int, str], None] | None = None
) -> Segmented:
    """Segment ``inputs["image"]`` (and ``irc``) with ``model`` on ``device``; ``progress(percent, message)``."""
    with _no_server_paths(workdir, policy.data_dir):
        return _run(inputs, policy, workdir, progress or (lambda _percent, _message: None))


def _run(inputs: dict[str, Any], policy: ImagePolicy, workdir: Path, report: Callable[[int, str], None]) -> Segmented:
    from ..segmentation.engine import segment_files  # torch and smp: imported when a segmentation runs, not before

    spec = get_model(str(inputs.get("model", DEFAULT_MODEL)))
    device = inputs.get("device", "auto")
    if device not in DEVICES:
        raise InvalidInputError(f"unknown device {device!r}; expected one of {', '.join(DEVICES)}")
    if "image" not in inputs:
        raise InvalidInputError("missing input 'image'")
    image = fetch_image(inputs["image"], "image", policy, workdir)
    irc = _irc(inputs, spec.bands, policy, workdir)
    report(5, "images ready")
    out = workdir / "classification.tif"
    result = segment_files(
        image,
        out,
        model=spec,
        irc=irc,
        device=device,
        progress=lambda done, total: report(5 + 90 * done // max(total, 1), f"{done}/{total} windows"),
    )
    grid = _surfaces(out)
    summary = Summary(
        model=spec.name,
        device=result.device,
        windows=result.windows,
        seconds=round(result.seconds, 3),
        **grid,
        nodata_m2=round(result.nodata_pixels * _pixel_m2(grid), 2),
    )
    report(100, "done")
    return Segmented(out, summary)


# Any: a GeoJSON FeatureCollection (free-form JSON).
def polygons_geojson(classification: Path) -> dict[str, Any]:
    """The classification as OCS GE polygons (minimum mapping units, clean partition), GeoJSON in CRS84."""
    frame = vectorise_file(classification).to_crs("OGC:CRS84")
    collection: dict[str, Any] = json.loads(frame.to_json(drop_id=True))
    return collection


def _irc(inputs: dict[str, Any], bands: tuple[str, ...], policy: ImagePolicy, workdir: Path) -> Path | None:
    """The IRC image: given, or from the same WMS (Géoplateforme IRC layer) when the model reads NIR."""
    if "irc" in inputs:
        return fetch_image(inputs["irc"], "irc", policy, workdir)
    image = inputs["image"]
    if "NIR" in bands and isinstance(image, dict) and isinstance(image.get("wms"), dict):
        return fetch_wms(image["wms"], "irc", policy, workdir, layer=str(image["wms"].get("irc_layers", IRC_LAYER)))
    return None


#: An absolute path in a message: a slash not preceded by a word character, a colon, a dot or another slash (so
#: the path part of a URL is left alone).
_ABSOLUTE_PATH = re.compile(r"(?<![\w:./])/[^\s'\"(),;]+")


@contextmanager
def _no_server_paths(workdir: Path, data_dir: Path | None) -> Iterator[None]:
    """Re-raise our errors (and GDAL's read errors, as bad input) with server paths replaced: a file of ``workdir``
    by its name without suffix (the input it holds: image, irc…), one under ``data_dir`` by its relative path, any
    other by ``<server file>``."""
    try:
        yield
    except OcsgeError as err:
        raise type(err)(without_server_paths(str(err), workdir, data_dir)) from None
    except RasterioError as err:  # a file that opened but fails to read (truncated, corrupt tiles)
        reason = without_server_paths(str(err.__cause__ or err), workdir, data_dir)
        raise InvalidInputError(f"an image could not be read ({reason})") from None


def without_server_paths(message: str, workdir: Path, data_dir: Path | None) -> str:
    """``message`` with every absolute path replaced as :func:`_no_server_paths` says."""
    roots = [(workdir.resolve(), True), (workdir, True)]
    if data_dir is not None:
        roots += [(data_dir.resolve(), False), (data_dir.absolute(), False)]

    def replace(match: re.Match[str]) -> str:
        path = Path(match.group(0).rstrip(".:'\""))
        tail = match.group(0)[len(str(path)) :]
        for root, is_workdir in roots:
            if path.is_relative_to(root):
                relative = path.relative_to(root)
                return (relative.name.split(".")[0].split("-")[0] or "image" if is_workdir else str(relative)) + tail
        return "<server file>" + tail

    return _ABSOLUTE_PATH.sub(replace, message)


def _pixel_m2(grid: Grid) -> float:
    a, _, _, _, e, _ = grid["transform"]
    return abs(a * e)


def _surfaces(classification: Path) -> Grid:
    """Area (m²) of each couverture code, read back from the COG and its own legend."""
    with rasterio.open(classification) as dataset:
        values = {int(k): str(v) for k, v in json.loads(dataset.tags()["OCSGE_VALUES"]).items()}
        pixel_m2 = abs(dataset.transform.a * dataset.transform.e)
        counts = np.bincount(dataset.read(1).ravel(), minlength=256)
        width, height = int(dataset.width), int(dataset.height)
        crs = dataset.crs.to_string() if dataset.crs else None
        transform = [float(c) for c in list(dataset.transform)[:6]]
    present: list[int] = np.flatnonzero(counts).tolist()
    surfaces = {values[v]: round(float(counts[v] * pixel_m2), 2) for v in present if v in values}
    return Grid(width=width, height=height, crs=crs, transform=transform, surfaces_m2=dict(sorted(surfaces.items())))
