"""A finished segmentation run, published: its polygons as the run's slice of ``ocsge-segmentation`` and its class
COG in the result store, where every replica serves it with range requests (``/results/{run}/classes.tif``).

Both or neither: everything is checked before anything is written (codes, CRS, date, the COG); the polygons go in
first, in one transaction (``replace_slice`` keyed by ``run``: a rerun replaces, a failure leaves the slice as it
was), then the COG; if the COG cannot be stored, the run's previous polygons are put back (none on a first run).
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import rasterio
from rasterio.crs import CRS
from rasterio.errors import RasterioIOError

from ..errors import InvalidInputError
from ..ingest.geometries import polygonal
from ..layers import SEGMENTATION
from ..nomenclature import couverture
from ..results import ResultFile, ResultStore
from ..segmentation.crs import same_crs
from ..stores import FeatureStore, table_name
from ..territory import METROPOLE_EPSG, departement_epsg, normalise_departement

#: The name of a run's class raster in the result store.
CLASSES_NAME = "classes.tif"
#: The name of a run's confidence raster (top class probability × 255, nodata 0) in the result store.
CONFIDENCE_NAME = "confiance.tif"
#: Its media type: a GeoTIFF laid out as a COG (OGC 21-026).
COG_MEDIA_TYPE = "image/tiff; application=geotiff; profile=cloud-optimized"
#: How long the COG is served unless the caller says otherwise (the result store gives every file a lifetime): a
#: year, as a run's polygons stay published until a rerun replaces them and the raster is what they were drawn from.
PUBLISHED_LIFETIME_S = 365 * 86_400.0
#: What a run id may hold: it names a slice and a URL path segment (job ids are UUIDs, CLI runs short names).
_RUN_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")


@dataclass(frozen=True)
class RunMetadata:
    """What a run says about its polygons, copied to every one of them."""

    #: The job id (process) or the run's name (CLI): the slice key and the result id.
    run: str
    #: The registry model that classified the pixels.
    modele: str
    #: INSEE code of the département; it also picks the storage CRS (Lambert-93 in metropolitan France).
    departement: str
    #: ISO date the orthophoto was taken, when its metadata says it.
    date_prise_de_vue: str | None = None


@dataclass(frozen=True)
class Publication:
    """Where a run was published."""

    collection: str
    epsg: int
    #: Polygons in the run's slice.
    features: int
    #: URL of the class COG (GET with Range).
    classification: str
    #: Bytes of the COG.
    size: int
    #: URL of the confidence COG, when the run kept one.
    confidence: str | None = None


def publish_run(
    store: FeatureStore,
    results: ResultStore,
    polygons: gpd.GeoDataFrame | Iterable[gpd.GeoDataFrame],
    classes_cog: Path,
    metadata: RunMetadata,
    *,
    base_url: str,
    lifetime_s: float = PUBLISHED_LIFETIME_S,
    job_id: str | None = None,
    confidence_cog: Path | None = None,
) -> Publication:
    """Publish a finished run: ``polygons`` (a ``code_cs`` column and polygon geometries in a projected CRS, whole
    or in parts; an optional ``departement`` column overrides ``metadata.departement``) as the run's slice, and
    ``classes_cog`` (and ``confidence_cog``, the run's top class probability, when kept) in the result store for
    ``lifetime_s`` seconds, owned by ``job_id`` (the run by default)."""
    epsg = _check_metadata(metadata)
    _check_cog(classes_cog)
    if confidence_cog is not None:
        _check_cog(confidence_cog)
    frame = slice_frame(polygons, metadata, epsg)
    key = {"run": metadata.run}
    previous = store.read_frame(SEGMENTATION, epsg, equals=key) if _held(store, epsg) else None
    written = store.replace_slice(SEGMENTATION, epsg, frame, key)
    try:
        stored = _put_cog(results, metadata.run, classes_cog, lifetime_s, job_id or metadata.run)
        if confidence_cog is not None:
            owner = job_id or metadata.run
            results.put(metadata.run, CONFIDENCE_NAME, confidence_cog, COG_MEDIA_TYPE, lifetime_s, owner)
    except BaseException:
        restore = previous if previous is not None else frame.iloc[0:0]
        store.replace_slice(SEGMENTATION, epsg, restore, key)
        raise
    root = f"{base_url.rstrip('/')}/results/{metadata.run}"
    sure = None if confidence_cog is None else f"{root}/{CONFIDENCE_NAME}"
    return Publication(SEGMENTATION.collection_id, epsg, written, f"{root}/{CLASSES_NAME}", stored.size, sure)


def declare_collection(store: FeatureStore) -> bool:
    """Create the collection's table, empty, where the store has none (whether it did): a server publishes the
    collections its store holds when it starts, so a server started before any run still serves the runs published
    while it runs, without a restart."""
    if _held(store, METROPOLE_EPSG):
        return False
    empty = gpd.GeoDataFrame({name: [] for name in SEGMENTATION.fields}, geometry=[], crs=f"EPSG:{METROPOLE_EPSG}")
    store.replace_slice(SEGMENTATION, METROPOLE_EPSG, empty, {"run": ""})
    return True


def slice_frame(
    polygons: gpd.GeoDataFrame | Iterable[gpd.GeoDataFrame], metadata: RunMetadata, epsg: int
) -> gpd.GeoDataFrame:
    """The rows of a run's slice: every field of the layer, MultiPolygons in EPSG:``epsg``, empty parts dropped."""
    parts = [polygons] if isinstance(polygons, gpd.GeoDataFrame) else list(polygons)
    if not parts:
        raise InvalidInputError(f"run {metadata.run}: no polygons to publish")
    target = CRS.from_epsg(epsg)
    moved = [_in_crs(part, target, metadata.run) for part in parts]
    frame = gpd.GeoDataFrame(pd.concat(moved, ignore_index=True), geometry="geometry", crs=target.to_wkt())
    if "code_cs" not in frame.columns:
        raise InvalidInputError(f"run {metadata.run}: the polygons have no code_cs column")
    geometries = np.asarray(frame.geometry.values, dtype=object)
    geoms, _ = polygonal(geometries, pyproj.CRS.from_epsg(epsg), f"run {metadata.run}")
    keep = np.array([geometry is not None for geometry in geoms], dtype=bool)
    frame = frame.loc[keep].reset_index(drop=True)
    codes = couverture()
    labels = [codes.get(str(code)).label for code in frame["code_cs"]]  # an unknown code: UnknownCodeError, a 400
    if "departement" in frame.columns:
        departements = [normalise_departement(str(code)) for code in frame["departement"]]
    else:
        departements = [normalise_departement(metadata.departement)] * len(frame)
    columns = {
        "id": [f"{metadata.run}-{n}" for n in range(1, len(frame) + 1)],
        "code_cs": frame["code_cs"].astype(str).to_list(),
        "libelle_cs": labels,
        "modele": metadata.modele,
        "run": metadata.run,
        "date_prise_de_vue": metadata.date_prise_de_vue,
        "departement": departements,
    }
    return gpd.GeoDataFrame(columns, geometry=list(geoms[keep]), crs=f"EPSG:{epsg}")


def ortho_date(path: Path) -> str | None:
    """The date an orthophoto was taken, as ISO ``YYYY-MM-DD``, when its GDAL ``IMAGERY`` metadata says it
    (``ACQUISITIONDATETIME``); None otherwise. ``TIFFTAG_DATETIME`` is not read: it dates the file, not the photo."""
    with rasterio.open(path) as dataset:
        stamp = dataset.tags(ns="IMAGERY").get("ACQUISITIONDATETIME")
    if not stamp:
        return None
    try:
        return datetime.datetime.fromisoformat(stamp.strip().replace("Z", "+00:00")).date().isoformat()
    except ValueError:
        return None


def _check_metadata(metadata: RunMetadata) -> int:
    """The storage CRS of the run; a 400 naming what is wrong in its metadata."""
    if not _RUN_ID.match(metadata.run):
        raise InvalidInputError(f"run id {metadata.run!r}: letters, digits, '.', '_' and '-' only, 1 to 100 of them")
    if not metadata.modele:
        raise InvalidInputError(f"run {metadata.run}: the model name is empty")
    if metadata.date_prise_de_vue is not None:
        try:
            datetime.date.fromisoformat(metadata.date_prise_de_vue)
        except ValueError:
            raise InvalidInputError(
                f"run {metadata.run}: date_prise_de_vue {metadata.date_prise_de_vue!r} is not an ISO date (2021-06-14)"
            ) from None
    return departement_epsg(normalise_departement(metadata.departement))


def _check_cog(path: Path) -> None:
    """Refuse, before anything is written, a class raster that is not one readable GeoTIFF file."""
    try:
        with rasterio.open(path) as dataset:
            driver = dataset.driver
    except RasterioIOError as err:
        raise InvalidInputError(f"{path} is not a readable raster: {err}") from None
    if driver != "GTiff":
        raise InvalidInputError(f"{path} is a {driver} file; the published classification is one GeoTIFF (COG)")


def _in_crs(part: gpd.GeoDataFrame, target: CRS, run: str) -> gpd.GeoDataFrame:
    """``part`` in ``target``: as it is when its CRS defines the same coordinates (the real patch's unnamed
    Lambert-93), reprojected otherwise."""
    if part.crs is None:
        raise InvalidInputError(f"run {run}: polygons without a CRS cannot be placed")
    crs = CRS.from_wkt(part.crs.to_wkt())
    if not crs.is_projected:
        raise InvalidInputError(f"run {run}: the polygons' CRS is not projected ({part.crs.name})")
    moved = part if same_crs(crs, target) else part.to_crs(target.to_wkt())
    return moved.rename_geometry("geometry") if moved.geometry.name != "geometry" else moved


def _held(store: FeatureStore, epsg: int) -> bool:
    return table_name(SEGMENTATION, epsg) in store.tables()


def _put_cog(results: ResultStore, run: str, path: Path, lifetime_s: float, job_id: str) -> ResultFile:
    return results.put(run, CLASSES_NAME, path, COG_MEDIA_TYPE, lifetime_s, job_id)
