"""Segmentation benchmark of issue 4: our inference engine against IGN's large-area method, same machine, same
input, same network.

One command: ``.venv/bin/python bench/segmentation.py [--device auto|cpu|cuda] [--size PX] [--model NAME]``.
With ``--departement``, the département-scale run of issue 15 instead (``bench/segmentation_departement.py``).

1. Input: a MOSAIC OF THE REAL Montpellier patch (IGN BD ORTHO 0.2 m, 252×252 px: R, G, B from the RVB file, NIR
   from the IRC file, and for the 5-band models the FLAIR elevation band, nDSM / 0.2 m, computed from the
   co-located classified LiDAR HD by ``segmentation.lidar``), mirrored (``numpy.pad(mode="symmetric")``) to
   ``--size`` × ``--size`` px and written once as one tiled (512 px blocks), DEFLATE-compressed, band-interleaved
   GeoTIFF in bench/.cache. The image content repeats every 504 px; what is measured does not depend on content.
2. Network: the registry model ``--model`` (default ``FLAIR-INC_rgbie_15cl``: smp U-Net ResNet34, 19 outputs).
   No FLAIR-INC weights exist offline, so the weights are RANDOM (seed 0), with the batch-norm statistics
   calibrated on a few windows of the input so that activations have a trained network's scale (raw random
   batch norm makes the logits degenerate and the class comparison meaningless). They are saved once in IGN's
   Lightning layout (keys prefixed ``model.seg_model.``); each method loads that same file with its own loader.
   Speed does not depend on the values. ``--model default`` uses the project's own shipped weights instead.
3. Methods, each timed in a fresh process after an untimed warm-up (model load excluded; reading, compute and
   writing included), with ``torch.set_num_threads(os.cpu_count())``. The warm-up is a 512×512 crop, except for
   our engine on CUDA, which autotunes cuDNN per batch shape and so first runs the whole input once:
   - ``ign``: our re-implementation of IGN's FLAIR-1 ``zone_detect`` from the facts of
     ../shared/reference/segmentation-flair.md §3 (no IGN code is copied): 512 px windows with a 128 px margin
     on a grid starting at -margin with stride 256, last row/column snapped to the edge; per window a rasterio
     read of all bands, ``(x - mean) / std`` in float64 numpy on the CPU, a float32 torch tensor; batches of 4
     (IGN's default); on CUDA pinned memory, a non-blocking copy and ``torch.cuda.synchronize()`` per batch; fp32
     forward (``torch.no_grad``); logits copied back to the host; softmax in numpy, masked classes zeroed, crop
     of the margin, argmax to uint8; each window's centre written into a tiled LZW GeoTIFF (BIGTIFF, 512 px
     blocks). Reading, compute and writing run one after the other, in one thread. Two deviations, both to make
     the outputs comparable pixel for pixel and neither slowing it: windows reaching outside the raster are
     padded by mirror as our engine does (IGN reads ``boundless=True``, i.e. a slower VRT read filled with 0),
     and IGN's DataLoader (``num_worker: 2``) would overlap reading with compute; its read share is printed so
     that its time with reading fully hidden can be judged.
   - ``ours``: ``ocsge_processes.segmentation.segment`` with its defaults (uint8 to the device, normalisation,
     mask and argmax there, bf16 autocast + channels_last on CUDA, fp32 on the CPU, overlapped reader/compute/
     writer threads, COG output) at the SAME tiling (512/128, batch 4), so only the implementation differs.
   - ``ours-best``: the same engine at its own default tiling (``--best``, 1024/128 with batch 1 on the CPU and
     batch 8 on CUDA, ``segmentation.windows.default_tiling``): less overlap (the margin is re-computed 4.0× at
     512/128, 1.78× at 1024/128). Its classes differ from the others near window seams (other context), so it is
     reported, not compared.
4. Agreement: the ``ign`` and ``ours`` class maps are compared pixel by pixel before any ratio is given
   (required ≥ 99.9 % equal on the CPU, where both are fp32; on CUDA ours runs bf16, so it is reported).
5. Output: Mpx/s (output pixels), windows/s, the ratio ours / ign against the issue's targets (≥ 2× on the CPU,
   ≥ 5× on CUDA), with PASS/MISS; on CUDA also the achieved TFLOP/s from the network's FLOP count (64.7 GFLOP per
   512² window for 5 bands, counted here with ``torch.utils.flop_counter``) and its fraction of an ASSUMED peak
   (H100/H200 SXM dense bf16: 989.4 TFLOP/s, override with ``--peak-tflops``).

Results go to bench/results/segmentation-<date>.md and .json (one section per device; a later run on another
device keeps the earlier ones).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import RESULTS, cpu_model, host, say, write_results  # noqa: E402

BENCH = ROOT / "bench"
CACHE = BENCH / ".cache"
SHARED = Path(os.environ.get("OCSGE_SHARED_DATA", ROOT.parent / "shared" / "data"))
#: The real patch, from the shared data; a copy is kept in the cache so that the benchmark runs where the shared
#: data is absent (the GPU machine: carry bench/.cache/montpellier).
PATCH = SHARED / "montpellier-ortho-lidar"
PATCH_COPY = CACHE / "montpellier"

#: IGN's FLAIR-1 zone_detect defaults (reference §3).
IGN_WINDOW, IGN_MARGIN, IGN_BATCH = 512, 128, 4
TARGETS = {"cpu": 2.0, "cuda": 5.0}
#: Share of equal pixels required between ours and IGN's method on the CPU (both fp32).
AGREEMENT_CPU = 0.999
#: ASSUMED dense bf16 peaks (TFLOP/s) by GPU name; H100 SXM and H200 share the chip (reference §5.4).
PEAKS = {"H100": 989.4, "H200": 989.4}


# -- input and network ------------------------------------------------------------------------------------------


def source_patch() -> dict[str, Path]:
    """The real patch's RVB, IRC and elevation rasters (252×252 px), copied once into the cache."""
    files = {
        "rgb": PATCH_COPY / "test_data_rgb.tif",
        "irc": PATCH_COPY / "test_data_irc.tif",
        "elevation": PATCH_COPY / "elevation.tif",
    }
    if all(path.exists() for path in files.values()):
        return files
    if not (PATCH / "ortho" / "test_data_rgb.tif").exists():
        raise SystemExit(
            f"the real Montpellier patch is neither in {PATCH} nor in {PATCH_COPY}: set "
            f"OCSGE_SHARED_DATA or carry {PATCH_COPY.relative_to(ROOT)}"
        )
    import rasterio

    from ocsge_processes.segmentation.lidar import labels_and_elevation, read_points

    PATCH_COPY.mkdir(parents=True, exist_ok=True)
    for key in ("rgb", "irc"):
        shutil.copyfile(PATCH / "ortho" / files[key].name, files[key])
    with rasterio.open(files["rgb"]) as rgb, rasterio.open(files["irc"]) as irc:
        profile = rgb.profile | {"count": 1, "nodata": None}
        _, elevation = labels_and_elevation(
            read_points(sorted((PATCH / "lidar").glob("*.laz"))),
            rgb.transform,
            (rgb.height, rgb.width),
            rgb.read(1),
            irc.read(1),
        )
    with rasterio.open(files["elevation"], "w", **profile) as out:
        out.write(elevation, 1)
    return files


def mosaic(bands: tuple[str, ...], size: int) -> Path:
    """The real patch mirrored to ``size`` × ``size`` px, one band per model input, made once."""
    import rasterio

    path = CACHE / f"montpellier-mosaic-{''.join(b[0] for b in bands)}-{size}.tif"
    if path.exists():
        return path
    files = source_patch()
    with (
        rasterio.open(files["rgb"]) as rgb,
        rasterio.open(files["irc"]) as irc,
        rasterio.open(files["elevation"]) as elevation,
    ):
        planes = {"R": rgb.read(1), "G": rgb.read(2), "B": rgb.read(3), "NIR": irc.read(1), "E": elevation.read(1)}
        crs, transform = rgb.crs, rgb.transform
    patch = np.stack([planes[band] for band in bands])
    height, width = patch.shape[1:]
    pixels = np.pad(patch, ((0, 0), (0, max(0, size - height)), (0, max(0, size - width))), mode="symmetric")[
        :, :size, :size
    ]
    CACHE.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial.tif")
    with rasterio.open(
        partial,
        "w",
        driver="GTiff",
        width=size,
        height=size,
        count=len(bands),
        dtype="uint8",
        crs=crs,
        transform=transform,
        tiled=True,
        blockxsize=512,
        blockysize=512,
        compress="DEFLATE",
        interleave="band",
        BIGTIFF="IF_SAFER",
    ) as out:
        out.write(pixels)
    partial.rename(path)
    return path


def crop(path: Path, size: int) -> Path:
    """The top-left ``size`` px of ``path`` (the warm-up input)."""
    import rasterio
    from rasterio.windows import Window

    out = path.with_name(f"{path.stem}-crop{size}.tif")
    if not out.exists():
        with rasterio.open(path) as src:
            window = Window(0, 0, min(size, src.width), min(size, src.height))
            profile = src.profile | {
                "width": window.width,
                "height": window.height,
                "transform": src.window_transform(window),
            }
            with rasterio.open(out, "w", **profile) as dst:
                dst.write(src.read(window=window))
    return out


def checkpoint(model_name: str, image: Path) -> Path:
    """The weights both methods load: the model's own file, or random weights in IGN's Lightning layout."""
    import torch

    from ocsge_processes.segmentation import get_model
    from ocsge_processes.segmentation.checkpoint import build_model

    spec = get_model(model_name)
    if spec.checkpoint is not None:
        return spec.checkpoint
    path = CACHE / f"{model_name}-random-seed0.pth"
    if path.exists():
        return path
    torch.manual_seed(0)
    model = build_model(spec)
    # Calibrate batch norm on 4 windows of the real input (cumulative averages), then save the state dict.
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.reset_running_stats()
            module.momentum = None
    import rasterio
    from rasterio.windows import Window

    with rasterio.open(image) as src:
        side = min(512, src.width, src.height) // 32 * 32
        windows = [
            src.read(window=Window(col, row, side, side))
            for row, col in (
                (0, 0),
                (0, src.width - side),
                (src.height - side, 0),
                (src.height - side, src.width - side),
            )
        ]
    x = torch.from_numpy(np.stack(windows)).float()
    x = (x - torch.tensor(spec.mean).view(1, -1, 1, 1)) / torch.tensor(spec.std).view(1, -1, 1, 1)
    model.train()
    with torch.no_grad():
        model(x)
    state = {f"model.seg_model.{key}": value for key, value in model.state_dict().items()}
    torch.save(state, path)
    return path


# -- the two methods --------------------------------------------------------------------------------------------


def ign_windows(length: int, window: int, margin: int) -> list[tuple[int, int, int]]:
    """IGN's grid on one axis: (read offset, core offset, core size); stride window - 2·margin from -margin, the
    last window snapped so that its read ends ``margin`` past the edge."""
    stride = window - 2 * margin
    spans = []
    for core in range(0, length, stride):
        read = core - margin
        if read + window > length + margin:  # the last one: snapped back
            read = max(length + margin - window, -margin)
        spans.append((read, core, min(stride, length - core)))
    return spans


def load_ign(spec: object, path: Path) -> object:
    """IGN's loader: smp model, state dict (Lightning ``state_dict`` if present) with the prefix stripped, strict."""
    import segmentation_models_pytorch as smp
    import torch

    model = smp.create_model(
        spec.architecture,
        encoder_name=spec.encoder,
        encoder_weights=None,
        in_channels=len(spec.bands),
        classes=len(spec.classes),
        **dict(spec.options),
    )
    state = torch.load(path, map_location="cpu", weights_only=True)
    state = state.get("state_dict", state)
    if next(iter(state)).startswith("model.seg_model."):
        state = {
            key[len("model.seg_model.") :]: value for key, value in state.items() if key.startswith("model.seg_model.")
        }
    model.load_state_dict(state, strict=True)
    return model.eval()


def run_ign(image: Path, out: Path, model: object, spec: object, device: object) -> dict:
    """IGN's method, timed by stage. Returns seconds per stage and windows."""
    import rasterio
    import torch
    from rasterio.windows import Window

    cuda = device.type == "cuda"
    mean = np.asarray(spec.mean, np.float64)[:, None, None]
    std = np.asarray(spec.std, np.float64)[:, None, None]
    masked = spec.masked_channels
    stages = dict.fromkeys(("read", "normalise", "forward", "to_host", "softmax_argmax", "write"), 0.0)
    clock = time.perf_counter
    with rasterio.open(image) as src:
        width, height = src.width, src.height
        tiles = [
            (r, c)
            for r in ign_windows(height, IGN_WINDOW, IGN_MARGIN)
            for c in ign_windows(width, IGN_WINDOW, IGN_MARGIN)
        ]
        profile = {
            "driver": "GTiff",
            "width": width,
            "height": height,
            "count": 1,
            "dtype": "uint8",
            "crs": src.crs,
            "transform": src.transform,
            "compress": "LZW",
            "BIGTIFF": "YES",
            "tiled": True,
            "blockxsize": IGN_WINDOW,
            "blockysize": IGN_WINDOW,
        }
        with rasterio.open(out, "w", **profile) as dst:
            for start in range(0, len(tiles), IGN_BATCH):
                batch = tiles[start : start + IGN_BATCH]
                images = []
                for (row, _, _), (col, _, _) in batch:
                    t0 = clock()
                    inside = Window(col, row, IGN_WINDOW, IGN_WINDOW).intersection(Window(0, 0, width, height))
                    pixels = src.read(window=inside)
                    top, left = int(inside.row_off) - row, int(inside.col_off) - col
                    pad = (
                        (0, 0),
                        (top, IGN_WINDOW - top - int(inside.height)),
                        (left, IGN_WINDOW - left - int(inside.width)),
                    )
                    if any(p for axis in pad for p in axis):
                        pixels = np.pad(pixels, pad, mode="symmetric")
                    t1 = clock()
                    images.append(torch.as_tensor((pixels.astype(np.float64) - mean) / std, dtype=torch.float32))
                    stages["read"] += t1 - t0
                    stages["normalise"] += clock() - t1
                t0 = clock()
                x = torch.stack(images)
                with torch.no_grad():
                    if cuda:
                        x = x.pin_memory().to(device, non_blocking=True)
                    logits = model(x)
                    if cuda:
                        torch.cuda.synchronize()
                    t1 = clock()
                    logits = logits.cpu().numpy()
                t2 = clock()
                stages["forward"] += t1 - t0
                stages["to_host"] += t2 - t1
                probs = np.exp(logits - logits.max(axis=1, keepdims=True))
                probs /= probs.sum(axis=1, keepdims=True)
                probs[:, masked] = 0
                t3 = clock()
                stages["softmax_argmax"] += t3 - t2
                for index, ((row, core_row, rows), (col, core_col, cols)) in enumerate(batch):
                    top, left = core_row - row, core_col - col
                    classes = np.argmax(probs[index, :, top : top + rows, left : left + cols], axis=0).astype(np.uint8)
                    t4 = clock()
                    stages["softmax_argmax"] += t4 - t3
                    dst.write(classes, 1, window=Window(core_col, core_row, cols, rows))
                    t3 = clock()
                    stages["write"] += t3 - t4
    return {"windows": len(tiles), "window": IGN_WINDOW, "stages_s": stages}


def run_ours(image: Path, out: Path, model: object, spec: object, device: str, tiling: object) -> dict:
    from ocsge_processes.segmentation import assemble
    from ocsge_processes.segmentation.engine import segment

    result = segment(
        assemble(image, spec.bands), model, spec, out, tiling=tiling, device=device, output=output_kind(spec)
    )
    return {"windows": result.windows, "window": tiling.window}


def output_kind(spec: object) -> str:
    """The model's own class codes where they can be pixel values (FLAIR 1..19), else the CS legend."""
    return "class" if all(0 < klass.code < 256 for klass in spec.classes) else "cs"


def measure(args: argparse.Namespace) -> dict:
    """One method in this process: load, warm up on a 512 px crop, then time the whole run."""
    import torch

    from ocsge_processes.segmentation import Tiling, get_model
    from ocsge_processes.segmentation.checkpoint import load_model
    from ocsge_processes.segmentation.device import select_device

    torch.set_num_threads(os.cpu_count())
    spec = get_model(args.model)
    device = select_device(args.device)
    image = Path(args.image)
    out = Path(args.out)
    if args.measure == "ign":
        model = load_ign(spec, Path(args.checkpoint)).to(device)

        def go(source: Path, target: Path) -> dict:
            return run_ign(source, target, model, spec, device)
    else:
        model = load_model(spec, Path(args.checkpoint))
        window, margin, batch = (IGN_WINDOW, IGN_MARGIN, IGN_BATCH) if args.measure == "ours" else args.best
        tiling = Tiling(window, margin, batch)

        def go(source: Path, target: Path) -> dict:
            return run_ours(source, target, model, spec, device.type, tiling)

    # Warm-up, untimed: on CUDA our engine autotunes cuDNN for every batch shape it meets (cudnn.benchmark), so it
    # first runs the whole input once; otherwise (and for IGN's method, which does not autotune) a 512 px crop.
    warm = image if device.type == "cuda" and args.measure != "ign" else crop(image, 512)
    go(warm, out.with_name(out.stem + "-warmup.tif"))
    if device.type == "cuda":
        torch.cuda.synchronize()
    start = time.perf_counter()
    info = go(image, out)
    seconds = time.perf_counter() - start
    info.update(
        seconds=seconds,
        threads=torch.get_num_threads(),
        device=device.type,
        device_name=torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_model(),
    )
    if device.type == "cuda":
        info["peak_memory_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
    return info


# -- orchestration ----------------------------------------------------------------------------------------------


def machine() -> dict:
    """What the numbers were measured on, torch and the GPU included."""
    import torch

    info = {**host(), "torch": torch.__version__}
    if torch.cuda.is_available():
        info["gpu"] = torch.cuda.get_device_name(0)
    return info


def flops_per_window(spec: object, window: int) -> float:
    """FLOPs (2·MAC) of one forward pass on one ``window``² input, counted by torch's FLOP counter."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    from ocsge_processes.segmentation.checkpoint import build_model

    model = build_model(spec).eval()
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        model(torch.zeros(1, len(spec.bands), window, window))
    return float(counter.get_total_flops())


def timed(kind: str, args: argparse.Namespace, image: Path, weights: Path, out: Path) -> dict:
    say(f"… {kind}")
    command = [
        sys.executable,
        __file__,
        "--measure",
        kind,
        "--image",
        str(image),
        "--checkpoint",
        str(weights),
        "--out",
        str(out),
        "--model",
        args.model,
        "--device",
        args.device,
        "--best",
        "x".join(map(str, args.best)),
    ]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"{kind} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    info = json.loads(result.stdout.strip().splitlines()[-1])
    say(f"✓ {kind}: {info['seconds']:.1f} s")
    return info


def agreement(spec: object, ign: Path, ours: Path) -> dict:
    """Share of pixels where IGN's method (channel indices, mapped through our legend) and ours give one value."""
    import rasterio

    from ocsge_processes.segmentation import legend

    lut = legend(spec, output_kind(spec)).lut
    with rasterio.open(ign) as a, rasterio.open(ours) as b:
        theirs, mine = lut[a.read(1)], b.read(1)
    values, counts = np.unique(mine, return_counts=True)
    return {
        "equal": float((theirs == mine).mean()),
        "pixels": int(mine.size),
        "legend": output_kind(spec),
        "classes_in_ours": {int(v): round(int(c) / mine.size, 4) for v, c in zip(values, counts, strict=True)},
    }


def report_section(result: dict) -> list[str]:
    device, size = result["device"], result["size"]
    mpx = size * size / 1e6
    ign, ours, best = result["ign"], result["ours"], result.get("ours-best")
    target = TARGETS[device]
    lines = [
        f"## {device.upper()}: {result['device_name']}, torch threads {ign['threads']} (set to os.cpu_count())",
        "",
        f"Input: {size}×{size} px ({mpx:.1f} Mpx), a mirrored MOSAIC OF THE REAL Montpellier BD ORTHO patch "
        f"(252×252 px; bands {','.join(result['bands'])}); model {result['model']} "
        f"({result['weights']}).",
        "",
        f"Machine: {json.dumps(result['machine'], ensure_ascii=False)}",
        "",
        "| method | tiling (window/margin/batch) | windows | seconds | Mpx/s | images/s (windows) | ratio to IGN's |",
        "|---|---|---|---|---|---|---|",
    ]
    rows = [
        ("IGN's method (re-implemented)", ign, f"{IGN_WINDOW}/{IGN_MARGIN}/{IGN_BATCH}, fp32"),
        ("ours, same tiling", ours, f"{IGN_WINDOW}/{IGN_MARGIN}/{IGN_BATCH}, {'bf16' if device == 'cuda' else 'fp32'}"),
    ]
    if best:
        rows.append(
            (
                "ours, default tiling",
                best,
                "/".join(map(str, result["best"])) + f", {'bf16' if device == 'cuda' else 'fp32'}",
            )
        )
    for name, info, tiling in rows:
        lines.append(
            f"| {name} | {tiling} | {info['windows']} | {info['seconds']:.1f} | {mpx / info['seconds']:.3f} "
            f"| {info['windows'] / info['seconds']:.2f} | {ign['seconds'] / info['seconds']:.2f}× |"
        )
    stages = ign["stages_s"]
    total = sum(stages.values())
    lines += [
        "",
        "IGN's method, where its time goes: "
        + ", ".join(f"{name} {seconds:.1f} s ({seconds / total:.0%})" for name, seconds in stages.items())
        + ".",
        "",
    ]
    agree = result["agreement"]
    ratio = ign["seconds"] / ours["seconds"]
    lines.append(
        f"- Agreement ours vs IGN's method (same tiling, {agree['legend']} legend): "
        f"{agree['equal']:.4%} of {agree['pixels']} pixels equal; classes in ours (value: share) "
        f"{agree['classes_in_ours']}"
    )
    lines.append(
        f"- ours / IGN's method, same tiling: {ratio:.2f}× (target ≥ {target}×: "
        f"{'PASS' if ratio >= target else 'MISS'})"
    )
    hidden = ign["seconds"] - stages["read"]
    lines.append(
        f"- same, if IGN's reading were fully hidden by its DataLoader workers: {hidden / ours['seconds']:.2f}×"
    )
    if best:
        ratio_best = ign["seconds"] / best["seconds"]
        lines.append(
            f"- ours with its default tiling ({'/'.join(map(str, result['best']))}) / IGN's method: "
            f"{ratio_best:.2f}× (target ≥ {target}×: {'PASS' if ratio_best >= target else 'MISS'}); "
            f"its classes differ near window seams (other context), not compared"
        )
    if device == "cuda":
        flops = result["flops_per_512"]
        peak = result["peak_tflops"]
        lines.append(
            f"- FLOPs per 512² window: {flops / 1e9:.1f} GFLOP (torch.utils.flop_counter). "
            f"Peak ASSUMED: {peak} TFLOP/s dense bf16 ({result['peak_source']}); limit = "
            f"{peak * 1e12 / flops:.0f} windows/s of 512²"
        )
        for name, info in (("IGN's method", ign), ("ours, same tiling", ours), ("ours, default tiling", best)):
            if info:
                done = info["windows"] * flops * (info["window"] / 512) ** 2 / info["seconds"] / 1e12
                lines.append(
                    f"  - {name}: {done:.1f} TFLOP/s achieved = {done / peak:.1%} of the assumed peak; "
                    f"peak GPU memory {info.get('peak_memory_gib', 0):.1f} GiB"
                )
    return [*lines, ""]


def main() -> None:
    if "--departement" in sys.argv:  # the département-scale run: bench/segmentation_departement.py, its own options
        from segmentation_departement import main as departement

        departement([arg for arg in sys.argv[1:] if arg != "--departement"])
        return
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto")
    parser.add_argument("--size", type=int, default=4096, help="side of the input mosaic, px")
    parser.add_argument("--model", default="FLAIR-INC_rgbie_15cl", help="a model of config/models.yml")
    parser.add_argument(
        "--best",
        default=None,
        help="our larger tiling WINDOWxMARGINxBATCH (default: the engine's own, 1024x128x1 "
        "on the CPU, 1024x128x8 on CUDA); 'none' to skip",
    )
    parser.add_argument("--peak-tflops", type=float, default=None, help="GPU peak assumed for the FLOP fraction")
    for hidden in ("--measure", "--image", "--checkpoint", "--out"):
        parser.add_argument(hidden, help=argparse.SUPPRESS)
    args = parser.parse_args()
    import torch

    from ocsge_processes.segmentation import get_model
    from ocsge_processes.segmentation.device import select_device

    device = select_device(args.device).type
    args.device = device
    if args.best in (None, ""):
        args.best = "1024x128x8" if device == "cuda" else "1024x128x1"
    args.best = None if args.best == "none" else tuple(int(v) for v in args.best.split("x"))
    if args.measure:
        print(json.dumps(measure(args)))
        return

    spec = get_model(args.model)
    image = mosaic(spec.bands, args.size)
    weights = checkpoint(args.model, image)
    run_dir = CACHE / f"segmentation-run-{device}"
    shutil.rmtree(run_dir, ignore_errors=True)
    run_dir.mkdir(parents=True)
    result = {
        "device": device,
        "size": args.size,
        "model": args.model,
        "bands": list(spec.bands),
        "weights": "shipped weights" if spec.checkpoint else "RANDOM weights, BN calibrated, IGN layout",
        "machine": machine(),
        "best": list(args.best) if args.best else None,
    }
    result["ign"] = timed("ign", args, image, weights, run_dir / "ign.tif")
    result["device_name"] = result["ign"]["device_name"]
    result["ours"] = timed("ours", args, image, weights, run_dir / "ours.tif")
    result["agreement"] = agreement(spec, run_dir / "ign.tif", run_dir / "ours.tif")
    if args.best:
        result["ours-best"] = timed("ours-best", args, image, weights, run_dir / "ours-best.tif")
    if device == "cuda":
        result["flops_per_512"] = flops_per_window(spec, 512)
        name = torch.cuda.get_device_name(0)
        known = next((key for key in PEAKS if key in name), None)
        result["peak_tflops"] = args.peak_tflops or PEAKS.get(known, float("nan"))
        result["peak_source"] = (
            "given by --peak-tflops"
            if args.peak_tflops
            else f"{known} SXM dense bf16, datasheet figure (reference §5.4)"
            if known
            else "unknown GPU: give --peak-tflops"
        )

    agree = result["agreement"]["equal"]
    if device == "cpu" and agree < AGREEMENT_CPU:
        raise SystemExit(
            f"ours and IGN's method agree on {agree:.4%} of pixels only (< {AGREEMENT_CPU:.1%}): "
            f"no ratio is given; outputs in {run_dir}"
        )
    stem = RESULTS / f"segmentation-{dt.date.today().isoformat()}"
    everything = json.loads(stem.with_suffix(".json").read_text()) if stem.with_suffix(".json").exists() else {}
    everything[device] = result
    text = "\n".join(
        [
            f"# Segmentation benchmark, {dt.date.today().isoformat()}",
            "",
            "Our engine (`ocsge_processes.segmentation.segment`) against IGN's large-area method "
            "(FLAIR-1 zone_detect, re-implemented from the reference facts), same machine, input and "
            "network. Method: bench/segmentation.py's docstring.",
            "",
            *[line for key in ("cpu", "cuda") if key in everything for line in report_section(everything[key])],
        ]
    )
    print(text)
    say(f"results: {write_results('segmentation', everything, text)}")


if __name__ == "__main__":
    main()
