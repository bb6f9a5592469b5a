"""Model-family benchmark of issue 19: IGN's FLAIR-HUB ConvNeXtV2-Tiny UPerNet beside the FLAIR-INC ResNet34 U-Net,
through our inference engine, same machine, same input, same windows.

One command: ``.venv/bin/python bench/model_families.py [--size PX] [--window PX] [--margin PX] [--repeats N]``.

* Input: ONE file for both, the real Montpellier patch (IGN BD ORTHO 0.2 m, R, G, B from the RVB file, NIR from the
  IRC file) mirrored to ``--size`` px, as bench/segmentation.py makes it (``mosaic``). Each model takes the bands it
  reads from it: NIR, R, G for FLAIR-HUB (``FLAIR-HUB_LC-A_IR_convnextv2tiny-upernet``), R, G, B, NIR for FLAIR-INC
  (``FLAIR-INC_rgbi_15cl``).
* Networks: built by the registry (``checkpoint.build_model``) with RANDOM weights (seed 0): no IGN weights exist
  offline, and speed does not depend on the values. FLOPs per window are counted with torch's FLOP counter.
* Each model runs ``segment`` over the whole input with the same tiling (default 1024 px windows, 128 px margins,
  batch 1: the engine's CPU default), after an untimed warm-up on a 512 px crop; the two models alternate,
  ``--repeats`` times each, and the best time of each is kept, so that load from other processes on a shared
  machine penalises both alike.
* Output: Mpx/s (output pixels) per model and the ratio FLAIR-HUB / FLAIR-INC. On CUDA the engine runs bf16
  autocast with channels_last; the GPU line is measured only where ``torch.cuda.is_available()``, and otherwise
  says it was skipped and why.

Results go to bench/results/model-families-<date>.md and .json.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import host, say, write_results  # noqa: E402
from segmentation import crop, mosaic  # noqa: E402  (bench/segmentation.py: the same input)

#: Bands of the input file (R, G, B, NIR: both models find theirs in it).
BANDS = ("R", "G", "B", "NIR")
MODELS = {"FLAIR-HUB": "FLAIR-HUB_LC-A_IR_convnextv2tiny-upernet", "FLAIR-INC": "FLAIR-INC_rgbi_15cl"}


def flops(network: object, bands: int, window: int) -> float:
    """FLOPs (2·MAC) of one forward pass on a ``window``² input."""
    import torch
    from torch.utils.flop_counter import FlopCounterMode

    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        network(torch.zeros(1, bands, window, window))
    return float(counter.get_total_flops())


def run(device: str, args: argparse.Namespace) -> dict:
    """Both models on ``device``: best seconds over the repeats, Mpx/s, and their ratio."""
    import torch

    from ocsge_processes.segmentation import Tiling, assemble, get_model
    from ocsge_processes.segmentation.checkpoint import build_model
    from ocsge_processes.segmentation.engine import segment

    tiling = Tiling(args.window, args.margin, 1)
    out = ROOT / "bench" / ".cache" / "model-families"
    out.mkdir(parents=True, exist_ok=True)
    prepared = {}
    for family, name in MODELS.items():
        spec = get_model(name)
        torch.manual_seed(0)
        network = build_model(spec).eval()
        image = mosaic(BANDS, args.size)
        gflops = flops(network, len(spec.bands), 512) / 1e9
        segment(assemble(crop(image, 512), spec.bands), network, spec, out / "warmup.tif", tiling=tiling, device=device)
        prepared[family] = (spec, network, image, gflops)
    seconds: dict[str, list[float]] = {family: [] for family in MODELS}
    for _ in range(args.repeats):
        for family, (spec, network, image, _) in prepared.items():
            start = time.perf_counter()
            segment(assemble(image, spec.bands), network, spec, out / f"{family}.tif", tiling=tiling, device=device)
            seconds[family].append(time.perf_counter() - start)
            say(f"  {device} {family}: {seconds[family][-1]:.1f} s")
    megapixels = args.size * args.size / 1e6
    models = {
        family: {
            "model": MODELS[family],
            "parameters_m": round(sum(p.numel() for p in network.parameters()) / 1e6, 1),
            "gflop_per_512_window": round(gflops, 1),
            "seconds": [round(value, 2) for value in seconds[family]],
            "mpx_per_s": float(f"{megapixels / min(seconds[family]):.4g}"),
        }
        for family, (_, network, _, gflops) in prepared.items()
    }
    ratio = models["FLAIR-HUB"]["mpx_per_s"] / models["FLAIR-INC"]["mpx_per_s"]
    return {"device": device, "threads": torch.get_num_threads(), "models": models, "ratio": round(ratio, 3)}


def report(result: dict, args: argparse.Namespace) -> str:
    lines = [
        "# FLAIR-HUB ConvNeXtV2-T UPerNet beside FLAIR-INC ResNet34 U-Net (bench/model_families.py)",
        "",
        f"Machine: {result['machine']}",
        f"Input: real Montpellier patch mirrored to {args.size}² px; windows {args.window} px, margins "
        f"{args.margin} px, batch 1; best of {args.repeats}; random weights (speed does not depend on them).",
        "",
        "| device | model | params (M) | GFLOP / 512² window | Mpx/s | ratio HUB / INC |",
        "|---|---|---|---|---|---|",
    ]
    for line in result["runs"]:
        for family, model in line["models"].items():
            ratio = f"{line['ratio']:.2f}" if family == "FLAIR-HUB" else ""
            lines.append(
                f"| {line['device']} | {model['model']} | {model['parameters_m']} | {model['gflop_per_512_window']} | "
                f"{model['mpx_per_s']:.4g} | {ratio} |"
            )
    lines += ["", result["gpu_note"], ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048, help="input side, px (the real patch mirrored)")
    parser.add_argument("--window", type=int, default=1024)
    parser.add_argument("--margin", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    import torch

    torch.set_num_threads(os.cpu_count() or 1)
    runs = [run("cpu", args)]
    if torch.cuda.is_available():
        runs.append(run("cuda", args))
        gpu_note = f"GPU line: {torch.cuda.get_device_name(0)}, bf16 autocast + channels_last (the engine's CUDA path)."
    else:
        gpu_note = "GPU line skipped: torch.cuda.is_available() is false on this machine (no GPU lent)."
    result = {"machine": {**host(), "torch": torch.__version__}, "runs": runs, "gpu_note": gpu_note}
    for line in runs:
        print(f"{line['device']}: FLAIR-HUB / FLAIR-INC = {line['ratio']:.2f} ({line['models']})")
    print(gpu_note)
    say(f"→ {write_results('model-families', result, report(result, args))}")


if __name__ == "__main__":
    main()
