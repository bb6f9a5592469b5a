"""Check ``segmentation/flairhub.py`` against segmentation-models-pytorch 0.4.0, the version IGNF/FLAIR-HUB pins.

Not a timed benchmark: a reproducible check that the FLAIR-HUB networks rebuilt here have the keys, shapes and
outputs of the ones FLAIR-HUB builds. smp 0.4.0 is not a dependency; install it apart first (it needs two of its
old dependencies, pure Python):

    .venv/bin/pip install --no-deps --target /tmp/smp040 segmentation-models-pytorch==0.4.0 \\
        pretrainedmodels==0.7.4 efficientnet-pytorch==0.7.1
    .venv/bin/python bench/flairhub_fidelity.py --smp040 /tmp/smp040

For each family, a child process imports smp 0.4.0 and builds the network as FLAIR-HUB does for one aerial
modality (``create_model(arch, encoder or "tu-" + encoder, in_channels, classes=19, img_size)``, its encoder; the
decoder and head of a second model built with one input channel), draws random weights (seed 0) and saves them
with an input and its logits (bilinear to the input size, as FLAIR-HUB's ``interpolate_map``). This process then
builds the registry spec with ``flairhub.build``, loads those weights with ``strict=True`` and compares the logits.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

#: (registry model, smp 0.4.0 arch, FLAIR-HUB encoder name, input side): narrow sides to spare the CPU; Swin also
#: at IGN's 512 px patch size and twice it, where its attention masks differ.
CASES = [
    ("FLAIR-HUB_LC-A_IR_convnextv2tiny-upernet", "upernet", "convnextv2_tiny", 64),
    ("FLAIR-HUB_LC-A_IR_swintiny-upernet", "upernet", "swin_tiny_patch4_window7_224", 512),
    ("FLAIR-HUB_LC-A_IR_swintiny-upernet", "upernet", "swin_tiny_patch4_window7_224", 1024),
    ("FLAIR-HUB_LC-A_IR_convnextv2base-unet", "unet", "convnextv2_tiny", 64),
]

CHILD = """
import sys, torch
import segmentation_models_pytorch as smp
assert smp.__version__ == "0.4.0", smp.__version__
arch, encoder, side, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]

def flair_hub_model(channels, size):
    try:
        return smp.create_model(arch=arch, encoder_name=encoder, classes=19, in_channels=channels, img_size=size,
                                encoder_weights=None)
    except (KeyError, TypeError):
        try:
            return smp.create_model(arch=arch, encoder_name="tu-" + encoder, classes=19, in_channels=channels,
                                    img_size=size, encoder_weights=None)
        except TypeError:
            return smp.create_model(arch=arch, encoder_name="tu-" + encoder, classes=19, in_channels=channels,
                                    encoder_weights=None)

torch.manual_seed(0)
encoder_part = flair_hub_model(3, side).encoder.eval()
decoder_part = flair_hub_model(1, 512).eval()
x = torch.randn(1, 3, side, side)
with torch.no_grad():
    y = decoder_part.segmentation_head(decoder_part.decoder(*encoder_part(x)))
    y = torch.nn.functional.interpolate(y, size=(side, side), mode="bilinear", align_corners=False)
state = {"encoder." + k: v for k, v in encoder_part.state_dict().items()}
state |= {"decoder." + k: v for k, v in decoder_part.decoder.state_dict().items()}
state |= {"segmentation_head." + k: v for k, v in decoder_part.segmentation_head.state_dict().items()}
torch.save({"x": x, "y": y, "state": state}, out)
"""


def check(smp040: Path, name: str, arch: str, encoder: str, side: int, folder: Path) -> str:
    import torch

    from ocsge_processes.segmentation import get_model
    from ocsge_processes.segmentation.flairhub import build

    saved = folder / f"{name}-{side}.pt"
    env = {**os.environ, "PYTHONPATH": str(smp040), "HF_HUB_OFFLINE": "1"}
    subprocess.run([sys.executable, "-c", CHILD, arch, encoder, str(side), str(saved)], env=env, check=True)
    reference = torch.load(saved, weights_only=True)
    spec = dataclasses.replace(get_model(name), encoder="tu-" + encoder)
    network = build(spec).eval()
    network.load_state_dict(reference["state"], strict=True)
    with torch.no_grad():
        logits = network(reference["x"])
    difference = (logits - reference["y"]).abs().max().item()
    same = bool(torch.equal(logits.argmax(dim=1), reference["y"].argmax(dim=1)))
    return f"{name} ({encoder}, {side} px): strict load ok, max |Δ logits| = {difference:.3g}, same argmax: {same}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smp040", type=Path, required=True, help="folder where smp 0.4.0 was installed (--target)")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    with tempfile.TemporaryDirectory() as folder:
        for case in CASES:
            print(check(args.smp040, *case, Path(folder)), flush=True)


if __name__ == "__main__":
    main()
