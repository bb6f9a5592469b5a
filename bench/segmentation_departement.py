"""Segmentation at département scale, end to end (issue 15 item 6): BD ORTHO dalles in IGN's layout, a plan of
blocks, the model, one class COG, polygons stitched across blocks, written to both stores.

One command: ``.venv/bin/python bench/segmentation.py --departement [--mpx 400] [--second-mpx 100]
[--model-px 2304]`` (or this file directly, same options).

Input: dalles of 1 km at 0.2 m (5 000 px, 25 Mpx each: a fifth of an IGN dalle's side, IGN's naming and two product
folders, RVB and IRC), every one the REAL Montpellier patch (252 px) mirrored so that neighbours join without a seam
(generated data, in bench/.cache). They are tiled DEFLATE GeoTIFFs, not JPEG 2000: writing 800 Mpx of lossless JPEG
2000 takes longer than this machine can give the bench; the decoding of one JPEG 2000 dalle is timed apart
(``jp2_read``) and the read stage's figure is for GeoTIFF.

Stages, each in a child process of its own (its peak resident memory is its own):

- ``model``: the default model on the CPU over one block of the default plan (``--model-px`` square, the mosaic's
  corner) and over two blocks, through ``run_blocks`` (read, model and each block's COG overlapped), Mpx/s and
  peak RSS at both sizes. The model is too slow on this loaded CPU for 400 Mpx: its rate is measured here only.
- ``pipeline`` at ``--second-mpx`` and ``--mpx``: read (every window of the plan, as the engine's reader reads them:
  the stack's VRTs, mirror padding past the edge, GDAL's mask band), then the class raster of every block of the
  plan written as its block COG, its pixels the model's output of the ``model`` stage MIRRORED over the mosaic
  (generated; so the non-model stages run at full size on real model output); then the run's end as a run does it
  (``segmentation_assembly.assemble``): the class COG with overviews (``cog``), the polygons vectorised tile by tile
  (``vectorise``: reading and units) and stitched (``stitch``), written to the run's GeoPackage (``write``) and
  published into a GeoPackage store and the job database (``publish``), then into a PostGIS store (``publish_pg``).

Mpx/s per stage are mosaic pixels per second of that stage; per core divides by the cores (2 here), as the target
(≥ 5 Mpx/s per core for every non-model stage) is. The extrapolation to 150 Gpx (a département) adds the stages'
seconds per Mpx.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import cpu_model, host, say, write_results  # noqa: E402

CACHE = ROOT / "bench" / ".cache" / "departement"
PATCH = Path(os.environ.get("OCSGE_SHARED_DATA", ROOT.parent / "shared" / "data")) / "montpellier-ortho-lidar" / "ortho"
#: A 1 km dalle at 0.2 m.
DALLE_PX = 5000
#: The département of the issue: 150 Gpx per product.
DEPARTEMENT_PX = 150e9
#: Target of every non-model stage, Mpx/s per core.
TARGET_PER_CORE = 5.0
#: GDAL's block cache in each stage (MB). By default it is 5 % of the memory (1.2 GB here) and fills as more is
#: read, which a peak-memory measure would take for growth with the mosaic's size.
GDAL_CACHE_MB = 64
#: glibc's allocator as a long run should have it: arrays over 1 MiB mapped and given back when freed. By default
#: the threshold rises with each large array freed, and the heap keeps what a tile of many patches took (measured:
#: +550 MiB of resident memory from 100 to 400 Mpx by default, +120 MiB so, the heaviest tile's own).
MALLOC = {"MALLOC_MMAP_THRESHOLD_": "1048576", "MALLOC_TRIM_THRESHOLD_": "1048576"}
#: Corner of the dalles' layout (km), near the real patch.
ORIGIN_KM = (770, 6279)


# -- input ----------------------------------------------------------------------------------------------------------


def _mirror_index(start: int, size: int, period: int) -> np.ndarray:
    """Indices into an axis of ``period`` px for pixels start..start+size of its endless mirror (``symmetric``)."""
    index = np.arange(start, start + size) % (2 * period)
    return np.where(index < period, index, 2 * period - 1 - index)


def dalles(count_side: int) -> Path:
    """``count_side`` × ``count_side`` dalles of both products, made once (each a window of the mirrored patch)."""
    import rasterio
    from affine import Affine

    folder = CACHE / f"dalles-{count_side}"
    done = folder / "done"
    if done.exists():
        return folder
    for product, name in (("RVB", "test_data_rgb.tif"), ("IRC", "test_data_irc.tif")):
        with rasterio.open(PATCH / name) as source:
            patch, crs = source.read(), source.crs
        product_dir = folder / f"BDORTHO_2-0_{product}-0M20_TIFF-E080_LAMB93_D034_2021-01-01" / "BDORTHO"
        product_dir.mkdir(parents=True, exist_ok=True)
        for row in range(count_side):
            for col in range(count_side):
                x_km, y_km = ORIGIN_KM[0] + col, ORIGIN_KM[1] - row
                path = product_dir / f"34-2021-{x_km:04d}-{y_km:04d}-LA93-0M20-E080.tif"
                if path.exists():
                    continue
                rows = _mirror_index(row * DALLE_PX, DALLE_PX, patch.shape[1])
                cols = _mirror_index(col * DALLE_PX, DALLE_PX, patch.shape[2])
                pixels = patch[:, rows][:, :, cols]
                profile = {"driver": "GTiff", "dtype": "uint8", "count": 3, "crs": crs, "width": DALLE_PX}
                profile |= {"height": DALLE_PX, "transform": Affine(0.2, 0, x_km * 1000, 0, -0.2, y_km * 1000)}
                profile |= {"tiled": True, "blockxsize": 512, "blockysize": 512, "compress": "DEFLATE"}
                partial = path.with_suffix(".partial.tif")
                with rasterio.open(partial, "w", **profile) as out:
                    out.write(pixels)
                partial.replace(path)
                say(f"  dalle {path.name} ({product})")
    done.write_text("made from the real Montpellier patch, mirrored (generated data)\n")
    return folder


def jp2_read_mpx_s() -> dict:
    """Decoding speed of a JPEG 2000 dalle (lossless, as written by GDAL's OpenJPEG driver), one core."""
    import rasterio
    import rasterio.shutil

    source = next((dalles(1)).rglob("*RVB*/**/*.tif"))
    jp2 = CACHE / "one-dalle.jp2"
    if not jp2.exists():
        rasterio.shutil.copy(source, jp2, driver="JP2OpenJPEG", REVERSIBLE="YES", QUALITY="100")
    started, cpu = time.perf_counter(), time.process_time()
    with rasterio.Env(GDAL_NUM_THREADS="1"), rasterio.open(jp2) as dataset:
        for _, window in dataset.block_windows(1):
            dataset.read(window=window)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    return {"seconds": round(seconds, 2), "cpu_seconds": round(cpu, 2), "mpx_per_s": round(25 / seconds, 2)}


# -- stages (each run in a child process) ---------------------------------------------------------------------------


def _mosaic(count_side: int, workdir: Path, territory: object = None) -> object:
    from ocsge_processes.segmentation import get_model
    from ocsge_processes.workflows.segmentation_run import prepare

    folder = dalles(count_side)
    return prepare(folder, folder, workdir, get_model("default").bands, territory)


def stage_model(side: int, blocks_wide: int) -> dict:
    """``run_blocks`` over ``blocks_wide`` blocks of ``side`` px from the mosaic's corner, the default model."""
    from shapely.geometry import box

    from ocsge_processes.segmentation.mosaic import Territory
    from ocsge_processes.workflows.segmentation_run import RunOptions, run_blocks

    run_dir = CACHE / f"model-run-{side}-{blocks_wide}"
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    left, top = ORIGIN_KM[0] * 1000, ORIGIN_KM[1] * 1000
    area = box(left + 1, top - side * 0.2 + 1, left + blocks_wide * side * 0.2 - 1, top - 1)
    mosaic = _mosaic(1, CACHE / "work-model", Territory(area, "EPSG:2154", "bench"))
    cpu = time.process_time()
    summary = run_blocks(mosaic, run_dir, RunOptions("default", device="cpu", block_side=side))
    cpu = time.process_time() - cpu
    if summary["failed"] or summary["blocks"] != blocks_wide:
        raise SystemExit(f"model stage: {summary}")
    return {
        "mpx": summary["blocks"] * side * side / 1e6,
        "seconds": summary["seconds"],
        "mpx_per_s": summary["mpx_per_s"],
        "cpu_seconds": round(cpu, 2),
        "tiling": summary["tiling"],
        "run_dir": str(run_dir),
    }


def stage_pipeline(count_side: int, classes: Path) -> dict:
    """Read, block COGs from ``classes`` mirrored, then the run's end (COG, polygons, stores), each step timed by
    the wall clock and in CPU seconds of the process."""
    import geopandas as gpd
    import pandas as pd

    from ocsge_processes.results import open_results
    from ocsge_processes.segmentation.assembly import write_blocks_vrt
    from ocsge_processes.segmentation.bands import open_reader
    from ocsge_processes.segmentation.blocks import plan_blocks
    from ocsge_processes.segmentation.mosaic_cog import write_mosaic_cog
    from ocsge_processes.segmentation.stitch import StitchTimings, clocks, stitch_file
    from ocsge_processes.segmentation.windows import default_tiling, plan
    from ocsge_processes.stores import open_store
    from ocsge_processes.workflows.segmentation_publish import RunMetadata, publish_run
    from tests.services import fresh_database, postgis

    run_dir = CACHE / f"pipeline-{count_side}"
    if run_dir.exists():
        import shutil

        shutil.rmtree(run_dir)
    (run_dir / "blocks").mkdir(parents=True)
    mosaic = _mosaic(count_side, run_dir / "mosaic")
    stack = mosaic.stack
    wall: dict[str, float] = {}
    cpu: dict[str, float] = {}

    rss: dict[str, float] = {}

    def lap(name: str, since: tuple[float, float]) -> tuple[float, float]:
        now = clocks()
        wall[name], cpu[name] = now[0] - since[0], now[1] - since[1]
        rss[name] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
        return now

    tiling = default_tiling(stack.width, stack.height, "cpu")
    started = clocks()
    with open_reader(stack) as read_window:
        for tile in plan(stack.width, stack.height, tiling):
            read_window(tile.read)
    started = lap("read", started)
    blocks = plan_blocks(stack.width, stack.height, tiling)
    vrt = write_blocks_vrt(run_dir / "classification.vrt", stack, _mirrored_blocks(classes, blocks, run_dir, stack))
    started = lap("block_cogs", started)
    cog = write_mosaic_cog(vrt, run_dir / "classification.tif", tags={"OCSGE_NODATA_PIXELS": "0"})
    started = lap("cog", started)
    timings = StitchTimings()
    polygons = gpd.GeoDataFrame(pd.concat(list(stitch_file(cog, timings=timings)), ignore_index=True))
    wall["vectorise"], cpu["vectorise"] = (
        timings.read + timings.vectorise,
        sum(timings.cpu.get(name, 0.0) for name in ("read", "vectorise")),
    )
    wall["stitch"], cpu["stitch"] = timings.stitch, timings.cpu.get("stitch", 0.0)
    rss["vectorise and stitch"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    started = clocks()
    polygons.to_file(run_dir / "polygons.gpkg", layer="polygones", driver="GPKG")
    started = lap("write", started)
    metadata = RunMetadata("bench", "default", "34")
    publish_run(open_store(str(run_dir / "store.gpkg")), open_results(str(run_dir / "jobs.sqlite")), polygons, cog,
                metadata, base_url="http://h")  # fmt: skip
    lap("publish", started)
    with postgis() as url:
        database = fresh_database(url, "bench")
        started = clocks()
        publish_run(open_store(database), open_results(str(run_dir / "jobs-pg.sqlite")), polygons, cog, metadata,
                    base_url="http://h")  # fmt: skip
        lap("publish_pg", started)
    return {
        "mpx": stack.width * stack.height / 1e6,
        "blocks": len(blocks),
        "polygons": len(polygons),
        "seconds": {name: round(value, 2) for name, value in wall.items()},
        "cpu_seconds": {name: round(value, 2) for name, value in cpu.items()},
        "cog_bytes": cog.stat().st_size,
        "peak_rss_mib_after": rss,
    }


def _mirrored_blocks(classes: Path, blocks: list, folder: Path, stack: object) -> list[tuple[Path, object]]:
    """Each block's class COG, its pixels ``classes`` mirrored over the mosaic (generated), with its legend."""
    import rasterio
    import rasterio.shutil

    with rasterio.open(classes) as source:
        model = source.read(1)
        tags, colours = source.tags(), source.colormap(1)
    written = []
    folder = folder / "blocks"
    for block in blocks:
        window = block.window
        rows = _mirror_index(int(window.row_off), int(window.height), model.shape[0])
        cols = _mirror_index(int(window.col_off), int(window.width), model.shape[1])
        path = folder / f"{block.id}.tif"
        profile = {"driver": "GTiff", "dtype": "uint8", "count": 1, "crs": stack.crs, "nodata": 0}
        profile |= {"width": int(window.width), "height": int(window.height)}
        profile |= {"transform": rasterio.windows.transform(window, stack.transform)}
        with rasterio.MemoryFile() as memory:
            with memory.open(**profile) as dataset:
                dataset.write(model[rows][:, cols], 1)
                dataset.write_colormap(1, colours)
                dataset.update_tags(**tags)
            rasterio.shutil.copy(memory.name, path, driver="COG", COMPRESS="DEFLATE", OVERVIEWS="NONE")
        written.append((path, window))
    return written


def _child(args: list[str]) -> dict:
    """A stage in a fresh process: its result and its peak resident memory."""
    env = {**os.environ, **MALLOC, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(ROOT), "GDAL_CACHEMAX": str(GDAL_CACHE_MB)}
    done = subprocess.run(
        [sys.executable, __file__, "--child", *args], capture_output=True, text=True, env=env, check=False
    )
    if done.returncode:
        raise SystemExit(f"stage {args} failed:\n{done.stderr[-4000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _run_child(args: list[str]) -> None:
    kind = args[0]
    result = stage_model(int(args[1]), int(args[2])) if kind == "model" else stage_pipeline(int(args[1]), Path(args[2]))
    result["peak_rss_mib"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(result))


# -- report ---------------------------------------------------------------------------------------------------------

STAGES = ("read", "cog", "vectorise", "stitch", "write", "publish", "publish_pg")


def _row(name: str, mpx: float, wall: float, cpu: float, target: bool) -> str:
    per_core = mpx / max(cpu, 1e-3)  # a stitch of few polygons rounds to 0 s
    verdict = ("PASS" if per_core >= TARGET_PER_CORE else "MISS") if target else "(not a target)"
    return f"| {name} | {mpx:.1f} | {wall:.1f} | {mpx / max(wall, 1e-3):.2f} | {cpu:.1f} | {per_core:.2f} | {verdict} |"


def report(result: dict) -> str:
    large, small = result["pipeline"][-1], result["pipeline"][0]
    model = result["model"][-1]
    machine = result["machine"]
    lines = [
        f"# Segmentation, département scale ({result['date']})",
        "",
        f"Machine: {machine['cpu']}, {machine['cores']} cores, {machine['memory_gib']} GiB; Python {machine['python']};"
        f" load average {machine['load']} at the start, {machine['load_at_end']} at the end (other work on the "
        "machine: wall-clock rates are what this process got of it; per core is Mpx per CPU second).",
        "",
        "| stage | Mpx | wall s | Mpx/s | CPU s | Mpx/s per core | target ≥ 5 per core |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    name = "model (default, CPU; read, block COGs)"
    lines += [_row(name, e["mpx"], e["seconds"], e["cpu_seconds"], False) for e in result["model"]]
    per_mpx_cpu = model["cpu_seconds"] / model["mpx"]
    for stage in STAGES:
        wall, cpu = large["seconds"][stage], large["cpu_seconds"][stage]
        per_mpx_cpu += cpu / large["mpx"]
        lines.append(_row(stage, large["mpx"], wall, cpu, True))
    jp2 = result["jp2_read"]
    lines.append(_row("read, one JPEG 2000 dalle, one thread", 25.0, jp2["seconds"], jp2["cpu_seconds"], True))
    without = per_mpx_cpu - model["cpu_seconds"] / model["mpx"]
    lines += [
        "",
        f"End to end, CPU seconds per Mpx: {per_mpx_cpu:.1f} (the model {model['cpu_seconds'] / model['mpx']:.1f}); "
        f"150 Gpx (a département) takes {DEPARTEMENT_PX / 1e6 * per_mpx_cpu / 3600:.0f} core-hours, "
        f"{DEPARTEMENT_PX / 1e6 * per_mpx_cpu / 3600 / machine['cores']:.0f} h on this machine's {machine['cores']} "
        f"cores unloaded; without the model {DEPARTEMENT_PX / 1e6 * without / 3600:.1f} core-hours, i.e. "
        f"{1 / without:.1f} Mpx/s per core for all other stages together "
        f"({16 / without:.0f} Mpx/s on 16 cores).",
        "",
        f"| peak RSS (GDAL cache {GDAL_CACHE_MB} MB, arrays over 1 MiB mapped) | Mpx | MiB |",
        "|---|---:|---:|",
        *[f"| model | {e['mpx']:.1f} | {e['peak_rss_mib']:.0f} |" for e in result["model"]],
        *[f"| every other stage | {e['mpx']:.0f} | {e['peak_rss_mib']:.0f} |" for e in result["pipeline"]],
        "",
        f"{large['polygons']} polygons over {large['mpx']:.0f} Mpx ({small['polygons']} over {small['mpx']:.0f}); "
        f"class COG {large['cog_bytes'] / 2**20:.1f} MiB.",
    ]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mpx", type=int, default=400, help="mosaic of the full-size run, Mpx (whole dalles)")
    parser.add_argument("--second-mpx", type=int, default=100, help="the smaller mosaic for the memory check")
    parser.add_argument("--model-px", type=int, default=2304, help="block side of the model stage, px")
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        _run_child(args.child)
        return
    load = round(os.getloadavg()[0], 1)
    sides = [max(1, round(math.sqrt(mpx / 25))) for mpx in (args.second_mpx, args.mpx)]
    say(f"dalles: {sides[0]}² and {sides[1]}² of 25 Mpx")
    for side in sides:
        dalles(side)
    say("model stage: one block, then two")
    model = [_child(["model", str(args.model_px), str(wide)]) for wide in (1, 2)]
    classes = Path(model[0]["run_dir"]) / "classification.vrt"
    say("pipeline at two sizes")
    pipeline = [_child(["pipeline", str(side), str(classes)]) for side in sides]
    info = host()
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": {
            "cpu": cpu_model(),
            "cores": os.cpu_count(),
            "memory_gib": info["ram_gib"],
            "python": info["python"],
            "load": load,
            "load_at_end": round(os.getloadavg()[0], 1),
        },
        "model": model,
        "pipeline": pipeline,
        "jp2_read": jp2_read_mpx_s(),
    }
    text = report(result)
    print(text)
    say(f"written {write_results('segmentation-departement', result, text)}")


if __name__ == "__main__":
    main()
