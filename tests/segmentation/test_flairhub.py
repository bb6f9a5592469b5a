"""FLAIR-HUB checkpoints in IGN's layout: each family and file format loads strictly and predicts as the network it
was saved from; files of another architecture, band count, class count or modality set are refused by name.

Checkpoints are written here with random weights, keyed as IGNF/FLAIR-HUB's ``FLAIR_HUB_Model`` keys them (its
``encoders`` / ``main_decoders`` / ``fusion_handler`` modules, Lightning's ``model.`` prefix and loss weights). The
key names are spelled out below from those facts rather than taken from ``flairhub``, so the two are checked
against each other. Networks are narrowed (small ConvNeXtV2 and Swin widths, same module names) to keep the shared
CPU free; the registered full-size networks are built on the meta device only.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml
from safetensors.torch import save_file

from ocsge_processes.errors import InvalidInputError
from ocsge_processes.resources import config_dir
from ocsge_processes.segmentation import ModelSpec, RegistryError, get_model, load_models
from ocsge_processes.segmentation.checkpoint import build_model, load_model
from ocsge_processes.segmentation.engine import Predictor
from ocsge_processes.segmentation.legend import legend

from .conftest import random_state_dict

ENCODER = "encoders.AERIAL_RGBI.seg_model."
DECODER = "main_decoders.AERIAL_LABEL-COSIA.seg_model."
#: Narrow networks of each family: the module names of the published ones, a fraction of their widths.
SMALL_SWIN = (("img_size", 64), ("embed_dim", 24), ("depths", (1, 1, 1, 1)), ("num_heads", (1, 1, 1, 1)))
FAMILIES = {
    "upernet-swin": ("FLAIR-HUB_LC-A_IR_swintiny-upernet", "tu-swin_tiny_patch4_window7_224", SMALL_SWIN),
    "upernet-convnextv2": ("FLAIR-HUB_LC-A_IR_convnextv2tiny-upernet", "tu-convnextv2_atto", ()),
    "unet-convnextv2": ("FLAIR-HUB_LC-A_IR_convnextv2base-unet", "tu-convnextv2_atto", ()),
}
FORMATS = ("safetensors", "ckpt", "pth")
SIDE = 64  # pixels: the smallest window all three families take (a multiple of 32)


def small(family: str) -> ModelSpec:
    name, encoder, options = FAMILIES[family]
    return dataclasses.replace(get_model(name), encoder=encoder, options=options)


def ign_layout(weights: dict[str, torch.Tensor], spec: ModelSpec, prefix: str = "model.") -> dict[str, torch.Tensor]:
    """``weights`` keyed as FLAIR-HUB saves an aerial-only model, with its unused fusion and loss tensors."""
    state = {}
    for key, value in weights.items():
        part = ENCODER + key.removeprefix("encoder.") if key.startswith("encoder.") else DECODER + key
        state[prefix + part] = value.clone()
    with torch.device("meta"):
        widths = build_model(spec).encoder.out_channels[2:]  # the 1/4 to 1/32 stages (1/2 is empty in both families)
    for index, width in enumerate(widths):  # fusion convolutions: C -> C, 1x1, one per encoder stage
        state[f"{prefix}fusion_handler.conv_f.{index}.weight"] = torch.zeros(width, width, 1, 1)
        state[f"{prefix}fusion_handler.conv_f.{index}.bias"] = torch.zeros(width)
    state[prefix + "criterion.weight"] = torch.ones(19)
    return state


def save(state: dict[str, torch.Tensor], path: Path, kind: str) -> Path:
    """``state`` as IGN ships it: bare safetensors, a Lightning .ckpt, or a pickled state dict."""
    if kind == "safetensors":
        save_file({key.removeprefix("model."): value.contiguous() for key, value in state.items()}, path)
    elif kind == "ckpt":
        torch.save({"epoch": 12, "global_step": 3400, "state_dict": state}, path)
    else:
        torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def family_weights() -> dict[str, dict[str, torch.Tensor]]:
    return {family: random_state_dict(small(family), seed=index) for index, family in enumerate(FAMILIES)}


def pixels(bands: int = 3, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (2, bands, SIDE, SIDE), dtype=np.uint8))


@pytest.mark.parametrize("kind", FORMATS)
@pytest.mark.parametrize("family", list(FAMILIES))
def test_each_family_and_format_loads_strictly_and_predicts_as_saved(
    family: str, kind: str, tmp_path: Path, family_weights: dict[str, dict[str, torch.Tensor]]
) -> None:
    spec, weights = small(family), family_weights[family]
    path = save(ign_layout(weights, spec), tmp_path / f"weights.{kind}", kind)
    loaded = load_model(spec, path)
    state = loaded.state_dict()
    assert state.keys() == weights.keys() and all(torch.equal(state[key], weights[key]) for key in weights)
    direct = build_model(spec)
    direct.load_state_dict(weights, strict=True)
    x = (pixels().float() - torch.tensor(spec.mean).view(1, -1, 1, 1)) / torch.tensor(spec.std).view(1, -1, 1, 1)
    with torch.inference_mode():
        got, want = loaded(x), direct.eval()(x)
    assert got.shape == (2, 19, SIDE, SIDE)
    assert torch.equal(got.argmax(dim=1), want.argmax(dim=1))
    assert len(torch.unique(got.argmax(dim=1))) > 1  # random weights that vary: a constant map would prove little


def test_registered_networks_have_the_model_cards_sizes() -> None:
    """Millions of parameters on IGN's cards (FLAIR-HUB README for Swin-Base LC-A), fusion convolutions excluded."""
    cards = {
        "FLAIR-HUB_LC-A_IR_convnextv2tiny-upernet": 29.8,
        "FLAIR-HUB_LC-A_IR_convnextv2base-upernet": 90.2,
        "FLAIR-HUB_LC-A_IR_swinbase-upernet": 89.4,
    }
    for name, millions in cards.items():
        with torch.device("meta"):
            network = build_model(get_model(name))
        assert round(sum(parameter.numel() for parameter in network.parameters()) / 1e6, 1) == millions, name


def test_untrained_classes_never_win(family_weights: dict[str, dict[str, torch.Tensor]]) -> None:
    spec = small("upernet-convnextv2")
    weights = dict(family_weights["upernet-convnextv2"])
    bias = weights["segmentation_head.0.bias"].clone()
    bias[spec.masked_channels] = 1e4  # unmasked, they would win every pixel
    weights["segmentation_head.0.bias"] = bias
    network = build_model(spec)
    network.load_state_dict(weights, strict=True)
    values, _ = Predictor(network, spec, legend(spec, "class").lut, torch.device("cpu"))(pixels()).host()
    assert not set(np.unique(values).tolist()) & spec.masked
    assert spec.masked == {15, 16, 17, 19}  # clear cut, mixed, ligneous, other: COSIA 15, 17, 16, 18


def test_cosia_classes_are_the_flair_classes_in_flair_hub_order() -> None:
    cosia, flair = (
        get_model("FLAIR-HUB_LC-A_IR_convnextv2tiny-upernet").classes,
        get_model("FLAIR-INC_rgb_15cl").classes,
    )
    by_code = {klass.code: klass for klass in flair}
    assert [klass.code for klass in cosia] == [1, 18, 13, 3, 2, 4, 5, 14, 10, 11, 12, 9, 7, 6, 8, 15, 17, 16, 19]
    assert all(klass == by_code[klass.code] for klass in cosia)  # same name, colour and couverture leaf


def test_another_encoder_family_is_refused_by_name(
    tmp_path: Path, family_weights: dict[str, dict[str, torch.Tensor]]
) -> None:
    path = save(
        ign_layout(family_weights["upernet-swin"], small("upernet-swin")), tmp_path / "swin.safetensors", "safetensors"
    )
    with pytest.raises(
        InvalidInputError,
        match=r"holds a FLAIR-HUB UPerNet with a Swin encoder; model FLAIR-HUB_LC-A_IR_convnextv2tiny-upernet "
        r"is a UPerNet with a ConvNeXt encoder",
    ):
        load_model(small("upernet-convnextv2"), path)


def test_another_decoder_is_refused_by_name(tmp_path: Path, family_weights: dict[str, dict[str, torch.Tensor]]) -> None:
    path = save(ign_layout(family_weights["unet-convnextv2"], small("unet-convnextv2")), tmp_path / "unet.pth", "pth")
    with pytest.raises(InvalidInputError, match=r"holds a FLAIR-HUB Unet with a ConvNeXt encoder; .* is a UPerNet"):
        load_model(small("upernet-convnextv2"), path)


def test_other_band_and_class_counts_are_refused(tmp_path: Path) -> None:
    spec = small("upernet-convnextv2")
    four = random_state_dict(dataclasses.replace(spec, bands=("R", "G", "B", "NIR"), mean=(0,) * 4, std=(1,) * 4))
    path = save(ign_layout(four, spec), tmp_path / "rgbi.ckpt", "ckpt")
    with pytest.raises(InvalidInputError, match=r"checkpoint for 4 input bands; model \S+ expects 3 \(NIR,R,G\)"):
        load_model(spec, path)
    fifteen = random_state_dict(dataclasses.replace(spec, classes=spec.classes[:15], masked=frozenset()))
    path = save(ign_layout(fifteen, spec), tmp_path / "15.safetensors", "safetensors")
    with pytest.raises(InvalidInputError, match=r"checkpoint with 15 output classes; model \S+ expects 19"):
        load_model(spec, path)


def test_a_multimodal_checkpoint_is_refused_naming_its_modalities(
    tmp_path: Path, family_weights: dict[str, dict[str, torch.Tensor]]
) -> None:
    state = ign_layout(family_weights["upernet-convnextv2"], small("upernet-convnextv2"))
    state["model.encoders.SENTINEL2_TS.in_conv.conv.weight"] = torch.zeros(64, 10, 1, 1)
    with pytest.raises(
        InvalidInputError, match=r"modalities AERIAL_RGBI, SENTINEL2_TS; model \S+ reads AERIAL_RGBI only"
    ):
        load_model(small("upernet-convnextv2"), save(state, tmp_path / "lc-f.ckpt", "ckpt"))


def test_a_flair_inc_checkpoint_is_not_taken_for_flair_hub(tmp_path: Path) -> None:
    path = tmp_path / "FLAIR-INC_rgb_15cl_resnet34-unet_weights.pth"
    torch.save(random_state_dict(get_model("FLAIR-INC_rgb_15cl")), path)
    with pytest.raises(InvalidInputError, match=r"not a FLAIR-HUB checkpoint: no encoders.AERIAL_RGBI.seg_model"):
        load_model(small("upernet-convnextv2"), path)


def test_a_damaged_safetensors_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "cut.safetensors"
    path.write_bytes(b"\x10\x00\x00\x00\x00\x00\x00\x00{not json")
    with pytest.raises(InvalidInputError, match="is not a safetensors file"):
        load_model(small("upernet-convnextv2"), path)


def test_an_unknown_layout_is_refused_on_load(tmp_path: Path) -> None:
    document = yaml.safe_load((config_dir() / "models.yml").read_text(encoding="utf-8"))
    document["models"]["FLAIR-HUB_LC-A_IR_convnextv2tiny-upernet"]["layout"] = "mmseg"
    path = tmp_path / "models.yml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    with pytest.raises(RegistryError, match=r"layout 'mmseg' is not one of smp, flair-hub"):
        load_models(path)


@pytest.mark.gpu
@pytest.mark.parametrize("family", list(FAMILIES))
def test_bf16_on_the_gpu_agrees_with_fp32_on_the_cpu(
    family: str, family_weights: dict[str, dict[str, torch.Tensor]]
) -> None:
    spec = small(family)
    network = build_model(spec)
    network.load_state_dict(family_weights[family], strict=True)
    lut = legend(spec, "class").lut
    reference, _ = Predictor(network, spec, lut, torch.device("cpu"))(pixels()).host()
    predictor = Predictor(network, spec, lut, torch.device("cuda"))
    assert predictor.dtype is torch.bfloat16
    values, _ = predictor(pixels()).host()
    # bf16 moves near-ties of random weights; most pixels must still agree with the fp32 reference.
    assert (values == reference).mean() > 0.9
    assert not set(np.unique(values).tolist()) & spec.masked
