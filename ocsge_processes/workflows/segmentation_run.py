"""A segmentation run over BD ORTHO dalles: a plan of blocks, each a unit of work whose output is checksummed, so
that a run killed or cancelled resumes without recomputing a finished block.

The run folder holds ``plan.json`` (what the run is: dalles, territory, model, tiling, blocks; a folder holding
another run is refused, never mixed), ``blocks/<id>.tif`` (the block's class COG on its own grid) and
``blocks/<id>.confidence.tif`` (its top class probability × 255, which the change between two runs weighs) and
``blocks/<id>.json`` (its record: SHA-256 of both COGs, pixel counts per value, seconds). A block is finished when its
record exists and the COG's checksum matches it; the COG is renamed into place before the record is written, so a
crash leaves at worst a COG without a record, computed again. A block that fails (an unreadable dalle) is reported
with its reason and computed again by the next run; the others go on.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, TypedDict

import numpy as np
import pyproj
import rasterio
import shapely
import shapely.errors
import shapely.geometry
from affine import Affine
from rasterio.crs import CRS
from rasterio.errors import RasterioError
from rasterio.windows import Window
from shapely.geometry import box
from shapely.geometry.base import BaseGeometry

from ..errors import InvalidInputError, OcsgeError
from ..segmentation.assembly import write_blocks_vrt
from ..segmentation.bands import BandStack
from ..segmentation.blocks import Block, plan_blocks
from ..segmentation.dalles import describe, list_files, pair, product_of
from ..segmentation.legend import legend
from ..segmentation.mosaic import Mosaic, Territory, build
from ..segmentation.registry import ModelSpec, get_model
from ..segmentation.windows import Tiling, TilingChoice
from ..stores import FeatureStore, open_store
from .cost import CPU_PIXELS_PER_S, GPU_PIXELS_PER_S, SPEEDUP, Cost
from .images import ImagePolicy, server_path
from .run_impermeabilisation import Impermeabilisation, of_run
from .segmentation_assembly import CONFIDENCE_VRT, MOSAIC_COG, Assembled, Publisher, finish
from .segmentation_wms import territory_pixels, wms_mosaic, wms_source
from .territories import resolve

if TYPE_CHECKING:
    import torch

#: ``progress(blocks done, blocks in all, km² done, km² in all)``, after each block (finished or reused).
RunProgress = Callable[[int, int, float, float], None]
#: How a run's blocks are computed: ``(mosaic, run folder, options, progress, cancelled)`` → the summary;
#: ``run_blocks`` here, or a fan-out to workers (``server.processes.segmentation_fanout``).
Dispatch = Callable[[Mosaic, Path, "RunOptions", RunProgress, Callable[[], bool]], "RunSummary"]
#: The VRT of the finished blocks' class COGs, in the run folder.
CLASSIFICATION = "classification.vrt"
#: Version of the run folder's layout, in ``plan.json``.
LAYOUT = 1
#: The cache of WMS cells, in the folder of the runs (a run folder is named by 24 hex digits).
WMS_CACHE = "wms-cache"


@dataclass(frozen=True)
class RunOptions:
    """What a run computes with: the registry model, its weights, the device, the tiling, the block side."""

    model: str = "default"
    checkpoint: Path | None = None
    device: str = "auto"
    tiling: TilingChoice = dataclasses.field(default_factory=TilingChoice)
    block_side: int | None = None


class RunCancelled(OcsgeError):
    """A run's ``cancelled`` said yes in the middle of a block: the block is dropped, the run stops there."""


class BlockFailure(TypedDict):
    block: str
    reason: str


class RunSummary(TypedDict):
    """What a run did: blocks (finished now, reused from before, failed), area, speed, and areas per class."""

    model: str
    device: str
    tiling: list[int]
    blocks: int
    computed: int
    reused: int
    failed: list[BlockFailure]
    cancelled: bool
    km2: float
    seconds: float
    mpx_per_s: float
    surfaces_m2: dict[str, float]
    nodata_m2: float
    missing: list[str]
    #: The finished blocks as one raster on the mosaic's grid: a VRT in the run folder (its name there).
    classification: str
    #: Once every block is finished: the class COG, the stitched polygons, where they were published.
    assembled: Assembled | None
    #: Once assembled, with a store of communes: the sealed area per commune of the run's area (or why not).
    impermeabilisation: NotRequired[Impermeabilisation | str]


def prepare(source: Path, root: Path, workdir: Path, bands: tuple[str, ...], territory: Territory | None) -> Mosaic:
    """The mosaic of the dalles ``source`` delivers (under ``root``), limited to ``territory``; refused with the
    reasons when dalles are of two grids or an IRC has no RVB."""
    files = list_files(source, root, workdir)
    dalles = [
        describe(path, root if path.is_relative_to(root) else workdir, product_of(path, source)) for path in files
    ]
    pairs, problems = pair(dalles)
    if problems:
        raise InvalidInputError("; ".join(problems))
    return build(pairs, bands, workdir, territory)


def plan_run(mosaic: Mosaic, run_dir: Path, options: RunOptions, device: str) -> tuple[Tiling, list[Block]]:
    """The tiling and blocks of the run (``device``: a torch device type), written into ``run_dir`` with the
    mosaic's stack (``stack.json``, what a worker segments), or checked against what is there."""
    stack = mosaic.stack
    tiling = options.tiling.resolve(stack.width, stack.height, device)
    blocks = plan_blocks(stack.width, stack.height, tiling, options.block_side, _keep(mosaic))
    _write_plan(run_dir, mosaic, options, tiling, blocks)
    _write_json(run_dir / "stack.json", stack_document(stack))
    return tiling, blocks


def segment_block(
    stack: BandStack,
    block: Block,
    run_dir: Path,
    network: torch.nn.Module,
    spec: ModelSpec,
    tiling: Tiling,
    device: str,
    stop: Callable[[], bool] | None = None,
) -> BlockRecord:
    """One block into ``blocks/<id>.tif`` and its record (the COG renamed into place first); raises on failure,
    leaving no file of the block. ``stop`` is asked after each batch of windows: true raises ``RunCancelled``
    there, so a cancel does not wait for the end of a block (minutes on a CPU)."""
    from ..segmentation.engine import segment  # torch: imported when a block runs, not before

    out = run_dir / "blocks" / f"{block.id}.tif"
    partial = out.with_name(f"{block.id}.partial.tif")
    sure, sure_partial = confidence_path(out), out.with_name(f"{block.id}.confidence.partial.tif")

    def batch_done(_done: int, _total: int) -> None:
        if stop is not None and stop():
            raise RunCancelled(f"block {block.id}: the run was cancelled")

    try:
        result = segment(
            stack,
            network,
            spec,
            partial,
            tiling=tiling,
            device=device,
            region=block.window,
            progress=batch_done,
            confidence=sure_partial,
        )
    except BaseException:
        partial.unlink(missing_ok=True)
        sure_partial.unlink(missing_ok=True)
        raise
    os.replace(sure_partial, sure)
    os.replace(partial, out)
    record = _record(block, out, result.seconds, result.nodata_pixels)
    _write_json(run_dir / "blocks" / f"{block.id}.json", record)
    return record


def run_blocks(
    mosaic: Mosaic,
    run_dir: Path,
    options: RunOptions,
    progress: RunProgress | None = None,
    cancelled: Callable[[], bool] | None = None,
) -> RunSummary:
    """Segment every block of ``mosaic`` not finished in ``run_dir`` yet, here, one after the other; the summary
    of the whole run. ``cancelled`` is asked before each block and after each batch of windows: the block in
    progress is then dropped (no file of it stays) and the summary says ``cancelled``."""
    from ..segmentation.checkpoint import load_model  # torch: imported when a run starts, not before
    from ..segmentation.device import select_device

    spec = get_model(options.model)
    device = select_device(options.device)
    tiling, blocks = plan_run(mosaic, run_dir, options, device.type)
    network = load_model(spec, options.checkpoint)
    started, computed_px = time.perf_counter(), 0
    records: dict[str, BlockRecord] = {}
    failed: list[BlockFailure] = []
    reused = 0
    stopped = False
    total_km2 = sum(block.pixels for block in blocks) * mosaic.pixel_m2 / 1e6
    for block in blocks:
        if cancelled is not None and cancelled():
            stopped = True
            break
        record = finished(run_dir, block)
        if record is not None:
            reused += 1
        else:
            try:
                record = segment_block(mosaic.stack, block, run_dir, network, spec, tiling, options.device, cancelled)
            except RunCancelled:
                stopped = True
                break
            except (OcsgeError, RasterioError, OSError) as err:
                failed.append(BlockFailure(block=block.id, reason=_reason(err)))
                continue
            computed_px += block.pixels
        records[block.id] = record
        if progress is not None:
            done = len(records) + len(failed)
            progress(done, len(blocks), sum(r["pixels"] for r in records.values()) * mosaic.pixel_m2 / 1e6, total_km2)
    seconds = time.perf_counter() - started
    summary = summarise(run_dir, blocks, spec.name, mosaic, records)
    summary["device"] = device.type
    summary["tiling"] = [tiling.window, tiling.margin, tiling.batch_size]
    summary["computed"], summary["reused"] = len(records) - reused, reused
    summary["failed"], summary["cancelled"] = failed, stopped
    summary["seconds"] = round(seconds, 3)
    summary["mpx_per_s"] = round(computed_px / 1e6 / seconds, 4) if seconds > 0 else 0.0
    return summary


def summarise(
    run_dir: Path, blocks: list[Block], model: str, mosaic: Mosaic, records: dict[str, BlockRecord] | None = None
) -> RunSummary:
    """The figures of the blocks finished in ``run_dir`` (read from their records unless given), as if all were
    computed now; ``run_blocks`` and the fan-out's sender add what they did."""
    if records is None:
        records = {block.id: r for block in blocks if (r := finished(run_dir, block)) is not None}
    missing_blocks = [block.id for block in blocks if block.id not in records]
    finished_blocks = [(run_dir / "blocks" / f"{b.id}.tif", b.window) for b in blocks if b.id in records]
    write_blocks_vrt(run_dir / CLASSIFICATION, mosaic.stack, finished_blocks)
    sure_blocks = [(confidence_path(path), window) for path, window in finished_blocks]
    write_blocks_vrt(run_dir / CONFIDENCE_VRT, mosaic.stack, sure_blocks)
    return RunSummary(
        model=model,
        device="",
        tiling=[],
        blocks=len(blocks),
        computed=len(records),
        reused=0,
        failed=[BlockFailure(block=b, reason="not finished") for b in missing_blocks],
        cancelled=False,
        km2=round(sum(block.pixels for block in blocks) * mosaic.pixel_m2 / 1e6, 6),
        seconds=0.0,
        mpx_per_s=0.0,
        surfaces_m2=_surfaces(records, model, mosaic.pixel_m2),
        nodata_m2=round(sum(r["nodata_pixels"] for r in records.values()) * mosaic.pixel_m2, 2),
        missing=list(mosaic.missing),
        classification=CLASSIFICATION,
        assembled=None,
    )


def stack_document(stack: BandStack) -> dict[str, object]:
    """The stack as JSON: what a worker needs to read the mosaic."""
    return {
        "bands": list(stack.bands),
        "sources": [[str(path), index] for path, index in stack.sources],
        "width": stack.width,
        "height": stack.height,
        "transform": list(stack.transform)[:6],
        "crs": stack.crs.to_wkt() if stack.crs else None,
        "coverage": None if stack.coverage is None else [_window_values(w) for w in stack.coverage],
    }


def load_stack(run_dir: Path) -> BandStack:
    """The stack ``plan_run`` wrote."""
    document = json.loads((run_dir / "stack.json").read_text())
    coverage = document["coverage"]
    return BandStack(
        tuple(document["bands"]),
        tuple((Path(path), int(index)) for path, index in document["sources"]),
        int(document["width"]),
        int(document["height"]),
        Affine(*document["transform"]),
        CRS.from_wkt(document["crs"]) if document["crs"] else None,
        None if coverage is None else tuple(Window(*values) for values in coverage),
    )


class BlockRecord(TypedDict):
    """A finished block: where it is, the checksum of its COG, its pixel counts per output value."""

    block: str
    window: list[int]
    sha256: str
    #: SHA-256 of the block's confidence COG.
    confidence_sha256: str
    pixels: int
    nodata_pixels: int
    counts: dict[str, int]
    seconds: float


def finished(run_dir: Path, block: Block) -> BlockRecord | None:
    """The block's record when its COG is there with the checksum recorded; None otherwise (computed again)."""
    record_path, out = run_dir / "blocks" / f"{block.id}.json", run_dir / "blocks" / f"{block.id}.tif"
    try:
        record: BlockRecord = json.loads(record_path.read_text())
    except (OSError, ValueError):
        return None
    if not out.is_file() or _sha256(out) != record.get("sha256") or record.get("window") != _window_list(block):
        return None
    sure = confidence_path(out)
    if not sure.is_file() or _sha256(sure) != record.get("confidence_sha256"):
        return None  # a block of a run that kept no confidence (older) is computed again, with it
    return record


def confidence_path(block_cog: Path) -> Path:
    """Where a block's confidence COG lies, beside its class COG."""
    return block_cog.with_name(f"{block_cog.stem}.confidence.tif")


def territory_of(spec: dict[str, object], resolve_codes: Callable[[dict[str, object]], Territory]) -> Territory:
    """A ``bbox`` or ``geometry`` territory (with its optional ``crs``, Lambert-93 by default) directly; codes
    (communes, EPCI, département) through ``resolve_codes``, which knows the store of communes."""
    crs = str(spec.get("crs", "EPSG:2154"))
    try:
        pyproj.CRS.from_user_input(crs)
    except pyproj.exceptions.CRSError:
        raise InvalidInputError(f"territoire.crs {crs!r} is not a known CRS") from None
    if "bbox" in spec:
        bbox = spec["bbox"]
        if not isinstance(bbox, list | tuple) or len(bbox) != 4 or not all(isinstance(v, int | float) for v in bbox):
            raise InvalidInputError("territoire.bbox must be [minx, miny, maxx, maxy]")
        minx, miny, maxx, maxy = (float(v) for v in bbox)
        if minx >= maxx or miny >= maxy:
            raise InvalidInputError("territoire.bbox must have minx < maxx and miny < maxy")
        return Territory(box(minx, miny, maxx, maxy), crs, f"bbox {list(bbox)}")
    if "geometry" in spec:
        value = spec["geometry"]
        try:
            if not isinstance(value, dict):
                raise TypeError(value)
            geometry = shapely.geometry.shape(value)
        except (AttributeError, KeyError, TypeError, ValueError, shapely.errors.ShapelyError):
            raise InvalidInputError("territoire.geometry is not a GeoJSON geometry") from None
        return Territory(geometry, crs, "geometry")
    return resolve_codes(spec)


def territory_from_text(text: str, resolve_codes: Callable[[dict[str, object]], Territory]) -> Territory:
    """The command line's territory: ``minx,miny,maxx,maxy[,CRS]`` (Lambert-93 by default), or a code: 9 digits an
    EPCI, 5 characters a commune, else a département."""
    if "," in text:
        *numbers, crs = text.split(",") if len(text.split(",")) == 5 else [*text.split(","), "EPSG:2154"]
        try:
            bbox = [float(value) for value in numbers]
        except ValueError:
            raise InvalidInputError(f"territoire {text!r}: a bbox is minx,miny,maxx,maxy[,CRS]") from None
        return territory_of({"bbox": bbox, "crs": crs}, resolve_codes)
    code = text.strip()
    kind = "epci" if len(code) == 9 and code.isdigit() else "communes" if len(code) == 5 else "departement"
    return resolve_codes({kind: [code] if kind == "communes" else code})


def _keep(mosaic: Mosaic) -> Callable[[Window], bool]:
    """A block is worked on when it overlaps the territory and holds a dalle's pixels."""
    transform, coverage = mosaic.stack.transform, mosaic.stack.coverage or ()

    def keep(window: Window) -> bool:
        left, top = transform @ (window.col_off, window.row_off)
        right, bottom = transform @ (window.col_off + window.width, window.row_off + window.height)
        if mosaic.area.intersection(box(left, min(top, bottom), right, max(top, bottom))).area <= 0:
            return False
        return not coverage or any(_overlap(window, part) for part in coverage)

    return keep


def _overlap(one: Window, other: Window) -> bool:
    return (
        one.col_off < other.col_off + other.width
        and other.col_off < one.col_off + one.width
        and one.row_off < other.row_off + other.height
        and other.row_off < one.row_off + one.height
    )


def _write_plan(run_dir: Path, mosaic: Mosaic, options: RunOptions, tiling: Tiling, blocks: list[Block]) -> None:
    """``plan.json``, or the check that the one there is this run's."""
    stack = mosaic.stack
    plan = {
        "layout": LAYOUT,
        "model": options.model,
        "checkpoint": _sha256(options.checkpoint) if options.checkpoint else None,
        "tiling": dataclasses.astuple(tiling)[:2],  # the batch changes no class
        "grid": {"width": stack.width, "height": stack.height, "transform": list(stack.transform)[:6]},
        "crs": stack.crs.to_wkt() if stack.crs else None,
        # By name: a dalle fixed after a block failed on it (a corrupt file delivered again) resumes the run.
        "dalles": sorted([p.rvb.path.name, p.irc.path.name if p.irc else ""] for p in mosaic.pairs),
        "area": shapely.to_wkt(mosaic.area, rounding_precision=3),
        "blocks": [[block.id, *_window_list(block)] for block in blocks],
    }
    path = run_dir / "plan.json"
    if path.is_file():
        try:
            before = json.loads(path.read_text())
        except ValueError:
            before = None
        if before != json.loads(json.dumps(plan)):
            raise InvalidInputError(
                "the run folder holds another run (other dalles, territory, model or tiling); give a new folder"
            )
        return
    (run_dir / "blocks").mkdir(parents=True, exist_ok=True)
    _write_json(path, plan)


def _record(block: Block, out: Path, seconds: float, nodata_pixels: int) -> BlockRecord:
    with rasterio.open(out) as dataset:
        counts = np.bincount(dataset.read(1).ravel(), minlength=256)
    return BlockRecord(
        block=block.id,
        window=_window_list(block),
        sha256=_sha256(out),
        confidence_sha256=_sha256(confidence_path(out)),
        pixels=block.pixels,
        nodata_pixels=nodata_pixels,
        counts={str(value): int(counts[value]) for value in np.flatnonzero(counts)},
        seconds=round(seconds, 3),
    )


def _surfaces(records: dict[str, BlockRecord], model: str, pixel_m2: float) -> dict[str, float]:
    values = legend(get_model(model)).values
    totals: dict[str, float] = {}
    for record in records.values():
        for value, count in record["counts"].items():
            code = values.get(int(value))
            if code is not None:
                totals[code] = totals.get(code, 0.0) + count * pixel_m2
    return {code: round(area, 2) for code, area in sorted(totals.items())}


def _window_list(block: Block) -> list[int]:
    return _window_values(block.window)


def _window_values(window: Window) -> list[int]:
    return [int(window.col_off), int(window.row_off), int(window.width), int(window.height)]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for chunk in iter(lambda: file.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _write_json(path: Path, content: object) -> None:
    """Written whole or not at all (a crash mid-write leaves the old file or none)."""
    partial = path.with_name(path.name + ".partial")
    partial.write_text(json.dumps(content, indent=1))
    os.replace(partial, path)


def _reason(err: BaseException) -> str:
    """The reason a block failed, without server paths (file names only)."""
    text = str(err.__cause__ or err) if isinstance(err, RasterioError) else str(err)
    return " ".join(Path(word).name if word.startswith("/") else word for word in text.split())


def store_territory(store: FeatureStore, spec: dict[str, object]) -> Territory:
    """A territory named by codes, resolved against the communes of ``store``, as one geometry in the CRS of its
    first part (the parts of an overseas and a metropolitan commune are projected there)."""
    resolved = resolve(store, spec).territory
    first = resolved.parts[0].epsg
    geometries = [_projected(part.geometry, part.epsg, first) for part in resolved.parts]
    return Territory(shapely.union_all(geometries), f"EPSG:{first}", f"{resolved.code}")


def _projected(geometry: BaseGeometry, source: int, target: int) -> BaseGeometry:
    """``geometry`` from EPSG:``source`` to EPSG:``target``."""
    if source == target:
        return geometry
    transformer = pyproj.Transformer.from_crs(source, target, always_xy=True)

    def project(xy: np.ndarray) -> np.ndarray:
        return np.column_stack(transformer.transform(xy[:, 0], xy[:, 1]))

    moved: BaseGeometry = shapely.transform(geometry, project)
    return moved


def run_dalles(
    inputs: Mapping[str, object],
    policy: ImagePolicy,
    runs_dir: Path,
    store_url: str | None,
    report: Callable[[int, str], None],
    publish: Publisher | None = None,
    run_id: str | None = None,
    dispatch: Dispatch | None = None,
) -> RunSummary:
    """The ``segmentation`` process over dalles: ``dalles.path`` under the data directory, or ``dalles.wms`` (cells
    fetched into a cache beside the runs, ``segmentation_wms``) with a ``territoire``. Its run folder is named by the
    inputs, so that executing the same request again after a crash or a dismissal resumes it; ``report`` raising (a
    dismissed job) stops it after the batch of windows in progress. Once every block is finished the run is
    assembled (``segmentation_assembly``) and ``publish``ed as ``run_id`` (the job), or the run folder's name.
    ``dispatch`` computes the blocks (``run_blocks`` here by default)."""
    if "image" in inputs or "irc" in inputs:
        raise InvalidInputError("give either image (and irc) or dalles, not both")
    dalles = inputs["dalles"]
    wms = isinstance(dalles, dict) and "wms" in dalles
    if isinstance(dalles, dict) and not wms and dalles.keys() & {"layers", "irc_layers"}:
        raise InvalidInputError("dalles.layers and dalles.irc_layers name layers of dalles.wms; give wms or neither")
    data_dir = policy.data_dir
    if data_dir is None and not wms:
        raise InvalidInputError("dalles.path: this server has no data directory to read dalles from")
    source = None if wms else server_path(dalles.get("path") if isinstance(dalles, dict) else None, "dalles", data_dir)
    model = str(inputs.get("model", "default"))
    spec = get_model(model)

    def resolve_codes(spec_: dict[str, object]) -> Territory:
        if store_url is None:
            raise InvalidInputError("this server resolves no commune codes for segmentation; give a bbox or geometry")
        return store_territory(open_store(store_url), spec_)

    territoire = inputs.get("territoire")
    territory = territory_of(territoire, resolve_codes) if isinstance(territoire, dict) else None
    named = {} if source is None or data_dir is None else {"dalles": str(source.relative_to(data_dir.resolve()))}
    identity = {**inputs, **named, "model": model}
    key = hashlib.sha256(json.dumps(identity, sort_keys=True, default=str).encode()).hexdigest()[:24]
    run_dir = runs_dir / key
    if source is None or data_dir is None:  # dalles.wms
        if territory is None:
            raise InvalidInputError("dalles.wms needs a territoire: the WMS covers the whole country")

        def fetched(done: int, total: int) -> None:
            report(1, f"WMS: {done}/{total} cells")

        cells = wms_source(dalles if isinstance(dalles, dict) else {})
        mosaic = wms_mosaic(cells, territory, spec.bands, policy, runs_dir / WMS_CACHE, run_dir / "mosaic", fetched)
    else:
        mosaic = prepare(source, data_dir.resolve(), run_dir / "mosaic", spec.bands, territory)
    last = [(1, f"{len(mosaic.pairs)} dalles, {len(mosaic.missing)} missing")]
    report(*last[0])

    def progress(done: int, total: int, km2: float, total_km2: float) -> None:
        last[0] = (1 + 98 * done // max(total, 1), f"{done}/{total} blocks, {km2:.3f}/{total_km2:.3f} km²")
        report(*last[0])

    def dismissed() -> bool:
        """Asked after each batch of windows: the report reads the job's status and raises once it is dismissed
        (it writes at most once a second), so a dismissal stops the run inside its block."""
        report(*last[0])
        return False

    tiling = inputs.get("tiling")
    sizes = {k: v for k, v in tiling.items() if isinstance(v, int)} if isinstance(tiling, dict) else {}
    choice = TilingChoice(sizes.get("window"), sizes.get("margin"))
    options = RunOptions(
        model, device=str(inputs.get("device", "auto")), tiling=choice, block_side=sizes.get("block_side")
    )
    summary = (dispatch or run_blocks)(mosaic, run_dir, options, progress, dismissed)
    summary = finish(run_dir, mosaic, summary, run_id or key, publish)
    if summary["assembled"] is not None and store_url is not None:
        summary["impermeabilisation"] = of_run(open_store(store_url), run_dir / MOSAIC_COG, mosaic, run_id or key)
    return summary


def dalles_cost(inputs: Mapping[str, object], policy: ImagePolicy, workdir: Path) -> Cost | None:
    """A lower bound on a run over dalles, from the pixels of the dalles its territory touches (their headers),
    at the rates ``workflows.cost`` measured; None for an archive (its headers need an extraction) or bad input
    (the run's own refusal says why). From the WMS: the pixels of the territory at 0.2 m."""
    dalles = inputs.get("dalles")
    if isinstance(dalles, dict) and "wms" in dalles:
        return _wms_cost(inputs)
    if not isinstance(dalles, dict) or policy.data_dir is None:
        return None
    try:
        source = server_path(dalles.get("path"), "dalles", policy.data_dir)
        if source.suffix.lower() == ".7z":
            return None
        territoire = inputs.get("territoire")
        territory = None
        if isinstance(territoire, dict):
            if "bbox" not in territoire and "geometry" not in territoire:
                return None  # communes need the store: the whole mosaic would overstate a lower bound
            territory = territory_of(territoire, _codes_unknown)
        spec = get_model(str(inputs.get("model", "default")))
        mosaic = prepare(source, policy.data_dir.resolve(), workdir, spec.bands, territory)
    except OcsgeError:
        return None
    pixels = sum(int(window.width * window.height) for window in mosaic.stack.coverage or ())
    return _cost(inputs, pixels, f"{len(mosaic.pairs)} dalles, {pixels:,} pixels")


def _wms_cost(inputs: Mapping[str, object]) -> Cost | None:
    """The territory's pixels at 0.2 m (a bbox or geometry; None for codes, which need the store)."""
    territoire = inputs.get("territoire")
    if not isinstance(territoire, dict) or ("bbox" not in territoire and "geometry" not in territoire):
        return None
    try:
        pixels = territory_pixels(territory_of(territoire, _codes_unknown))
    except OcsgeError:
        return None
    return _cost(inputs, pixels, f"{pixels:,} pixels from the WMS")


def _cost(inputs: Mapping[str, object], pixels: int, what: str) -> Cost | None:
    """``pixels`` at the measured rate of the device the run would use."""
    from ..segmentation.device import select_device  # imports torch: only when a segmentation is asked for

    try:
        device = select_device(str(inputs.get("device", "auto"))).type
    except OcsgeError:
        return None
    rate = GPU_PIXELS_PER_S if device == "cuda" else CPU_PIXELS_PER_S
    return Cost(pixels / rate / SPEEDUP, f"{what} on the {device.upper()}")


def _codes_unknown(spec: dict[str, object]) -> Territory:
    raise InvalidInputError(f"no store here to resolve {spec}")
