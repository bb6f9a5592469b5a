"""The end of a segmentation run over dalles: its blocks as one class COG with overviews, its polygons stitched
across blocks and clipped to the territory, both written into the run folder and published in one step.

It runs once every block of the plan is finished, whoever computed them (this process or the workers of a
fan-out). A run with a failed or unfinished block is not assembled and nothing of it is published (never a
half-covered run); the run that resumes it assembles it. The polygons do not depend on the block size
(``segmentation.stitch``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, TypedDict

import geopandas as gpd
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from ..results import open_results
from ..segmentation.mosaic import Mosaic
from ..segmentation.mosaic_cog import write_mosaic_cog
from ..segmentation.stitch import StitchTimings, stitch_file
from ..stores import open_store
from .segmentation_publish import Publication, RunMetadata, ortho_date, publish_run

if TYPE_CHECKING:
    from .segmentation_run import RunSummary

#: The run's class COG (one file, with overviews), in the run folder.
MOSAIC_COG = "classification.tif"
#: The blocks' confidence COGs seen as one raster (``summarise`` writes it beside the classes' VRT).
CONFIDENCE_VRT = "confidence.vrt"
#: The run's top class probability × 255 as one COG on the class COG's grid, beside it (a publisher finds it there).
CONFIDENCE_COG = "confidence.tif"
#: The run's stitched polygons, in the run folder.
POLYGONS = "polygons.gpkg"

#: Publishes a finished run: its polygons, its class COG, what the run says about them (``publish_run`` with the
#: store, the result store and the server's URL bound by the caller).
Publisher = Callable[[gpd.GeoDataFrame, Path, RunMetadata], Publication]


class Assembled(TypedDict):
    """What the end of a run wrote: file names in the run folder, the polygons, seconds per step, where published."""

    classification: str
    #: The confidence COG's file name, None when the blocks kept none.
    confidence: str | None
    polygons_file: str
    polygons: int
    seconds: dict[str, float]
    #: URL of the published COG (its polygons are the run's slice of ``ocsge-segmentation``); None when not published.
    published: str | None
    #: URL of the published confidence COG, when there is one.
    published_confidence: str | None
    #: Why the run was not published, when it was not.
    not_published: str | None


def assemble(
    run_dir: Path,
    vrt: Path,
    mosaic: Mosaic,
    model: str,
    nodata_pixels: int,
    run: str,
    publish: Publisher | None = None,
) -> Assembled:
    """The COG of ``vrt`` (the finished blocks) and its stitched polygons into ``run_dir``, then ``publish``ed as
    the run ``run`` (polygons and COG together, or neither)."""
    seconds: dict[str, float] = {}
    started = time.perf_counter()
    cog = write_mosaic_cog(vrt, run_dir / MOSAIC_COG, tags={"OCSGE_NODATA_PIXELS": str(nodata_pixels)})
    sure_vrt = vrt.with_name(CONFIDENCE_VRT)
    # Overviews of a probability are its mean (a viewer's coarse zoom), unlike classes' most frequent value.
    sure = write_mosaic_cog(sure_vrt, run_dir / CONFIDENCE_COG, resampling="AVERAGE") if sure_vrt.is_file() else None
    started = _lap(seconds, "cog", started)
    timings = StitchTimings()
    polygons = _collected(_clipped(stitch_file(cog, timings=timings), mosaic.area))
    seconds["vectorise"], seconds["stitch"] = round(timings.vectorise + timings.read, 3), round(timings.stitch, 3)
    started = time.perf_counter()
    _write_polygons(run_dir / POLYGONS, polygons)
    started = _lap(seconds, "write", started)
    assembled = Assembled(
        classification=MOSAIC_COG,
        confidence=None if sure is None else CONFIDENCE_COG,
        polygons_file=POLYGONS,
        polygons=len(polygons),
        seconds=seconds,
        published=None,
        published_confidence=None,
        not_published=None,
    )
    if publish is None:
        assembled["not_published"] = "no store to publish to"
        return assembled
    departements = {pair.rvb.name.departement for pair in mosaic.pairs if pair.rvb.name is not None}
    if len(departements) != 1:
        assembled["not_published"] = (
            f"the dalles name {len(departements)} départements ({', '.join(sorted(departements))}): one is needed"
        )
        return assembled
    metadata = RunMetadata(run, model, departements.pop(), ortho_date(mosaic.pairs[0].rvb.path))
    publication = publish(polygons, cog, metadata)
    assembled["published"], assembled["published_confidence"] = publication.classification, publication.confidence
    _lap(seconds, "publish", started)
    return assembled


def _lap(seconds: dict[str, float], name: str, since: float) -> float:
    now = time.perf_counter()
    seconds[name] = round(now - since, 3)
    return now


def _clipped(chunks: Iterator[gpd.GeoDataFrame], area: BaseGeometry) -> Iterator[gpd.GeoDataFrame]:
    """The polygons inside ``area`` (the territory; whole blocks were segmented), cut along its boundary."""
    shapely.prepare(area)
    for chunk in chunks:
        geometries = chunk.geometry.values
        inside = shapely.contains_properly(area, geometries)
        cut = shapely.intersection(geometries[~inside], area)
        kept = chunk.loc[inside].copy()
        crossing = chunk.loc[~inside].copy()
        crossing = crossing.set_geometry(shapely.make_valid(cut))
        crossing = crossing.loc[~crossing.geometry.is_empty & (crossing.geometry.area > 0)]
        crossing = crossing.explode(index_parts=False)
        crossing = crossing.loc[crossing.geometry.geom_type == "Polygon"]
        frame = gpd.GeoDataFrame(pd.concat([kept, crossing], ignore_index=True), crs=chunk.crs)
        frame["surface_m2"] = frame.geometry.area
        yield frame


def _collected(chunks: Iterator[gpd.GeoDataFrame]) -> gpd.GeoDataFrame:
    frames = list(chunks)
    if not frames:
        return gpd.GeoDataFrame({"code_cs": [], "surface_m2": []}, geometry=[])
    return gpd.GeoDataFrame(pd.concat(frames, ignore_index=True), crs=frames[0].crs)


def _write_polygons(path: Path, polygons: gpd.GeoDataFrame) -> None:
    """The GeoPackage ``path``, written beside it first and renamed into place (none for a run without classes)."""
    partial = path.with_name(path.name + ".partial.gpkg")
    partial.unlink(missing_ok=True)
    if len(polygons):
        polygons.to_file(partial, layer="polygones", driver="GPKG")
        os.replace(partial, path)


def finish(
    run_dir: Path, mosaic: Mosaic, summary: RunSummary, run: str, publish: Publisher | None = None
) -> RunSummary:
    """``summary`` with its ``assembled`` part: the run assembled and published when every block is finished; left
    None (nothing published) when a block failed, is unfinished or the run was cancelled."""
    if summary["failed"] or summary["cancelled"]:
        return summary
    nodata_pixels = round(summary["nodata_m2"] / mosaic.pixel_m2)
    vrt = run_dir / summary["classification"]
    summary["assembled"] = assemble(run_dir, vrt, mosaic, summary["model"], nodata_pixels, run, publish)
    return summary


def publisher(store_url: str, results: str, base_url: str, job_id: str | None = None) -> Publisher:
    """A :data:`Publisher` into the store ``store_url`` and the result store ``results`` (the job database), the COG
    served under ``base_url`` and owned by ``job_id`` (the run by default)."""

    def publish(polygons: gpd.GeoDataFrame, cog: Path, metadata: RunMetadata) -> Publication:
        sure = cog.with_name(CONFIDENCE_COG)
        return publish_run(
            open_store(store_url),
            open_results(results),
            polygons,
            cog,
            metadata,
            base_url=base_url,
            job_id=job_id,
            confidence_cog=sure if sure.is_file() else None,
        )

    return publish
