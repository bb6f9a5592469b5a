"""IGN's FLAIR-HUB aerial land-cover networks, and the key layout of their published checkpoints.

FLAIR-HUB (IGNF/FLAIR-HUB) wraps segmentation-models-pytorch pieces in a multimodal model: one encoder per input
modality (``encoders.AERIAL_RGBI.seg_model.*``, an smp encoder, a timm one for Swin and ConvNeXtV2), a fusion
module (``fusion_handler.conv_f.*``, unused when the aerial image is the only input) and one decoder per task
(``main_decoders.AERIAL_LABEL-COSIA.seg_model.{decoder,segmentation_head}.*``); Lightning adds ``model.`` in front.
An aerial-only ("LC-A") checkpoint is therefore encoder + decoder + head, which this module rebuilds under smp's
usual names (``encoder.``, ``decoder.``, ``segmentation_head.``) so the checkpoint loads with ``strict=True``.

FLAIR-HUB pins smp 0.4.0, whose UPerNet later releases rebuilt with other modules and key names: IGN's UPerNet
weights fit only the 0.4.0 head, rebuilt here (``UPerNetDecoder``). Its U-Net head is unchanged in smp 0.6.0 (same
keys, same output: checked against smp 0.4.0, docs/segmentation.md), so smp's own serves.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidInputError
from .registry import ModelSpec

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # as in checkpoint.py: no weights are ever fetched
import segmentation_models_pytorch as smp
from segmentation_models_pytorch.base import SegmentationHead
from segmentation_models_pytorch.base.modules import Conv2dReLU
from segmentation_models_pytorch.encoders import get_encoder

#: The modality and the task of the aerial land-cover models, as FLAIR-HUB names them in its keys.
MODALITY, TASK = "AERIAL_RGBI", "AERIAL_LABEL-COSIA"
ENCODER_PREFIX = f"encoders.{MODALITY}.seg_model."
DECODER_PREFIX = f"main_decoders.{TASK}.seg_model."
#: Checkpoint parts that inference does not use: feature fusion (an identity with one modality), the training
#: loss's class weights, and the auxiliary decoders that only add training losses.
UNUSED_PREFIXES = ("fusion_handler.", "criterion.", "aux_decoders.")
#: UPerNet widths of smp 0.4.0's defaults, which FLAIR-HUB keeps.
PYRAMID_CHANNELS, SEGMENTATION_CHANNELS = 256, 64


class FlairHubNetwork(nn.Module):
    """Encoder, decoder and head in FLAIR-HUB's order; logits come back at the input's size (bilinear), as there."""

    def __init__(self, encoder: nn.Module, decoder: nn.Module, segmentation_head: nn.Module) -> None:
        super().__init__()
        self.encoder = encoder
        self.decoder = decoder
        self.segmentation_head = segmentation_head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits: torch.Tensor = self.segmentation_head(self.decoder(self.encoder(x)))
        if logits.shape[-2:] != x.shape[-2:]:
            logits = F.interpolate(logits, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return logits


class _Pyramid(nn.Module):
    """Pooling pyramid on the deepest features: four poolings (1, 2, 3, 6 cells), each to a quarter of the channels."""

    def __init__(self, channels: int, out_channels: int, sizes: Sequence[int] = (1, 2, 3, 6)) -> None:
        super().__init__()
        self.blocks = nn.ModuleList(
            nn.Sequential(nn.AdaptiveAvgPool2d(size), Conv2dReLU(channels, channels // len(sizes), kernel_size=1))
            for size in sizes
        )
        self.out_conv = Conv2dReLU(channels * 2, out_channels, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        size = x.shape[-2:]
        pooled = [F.interpolate(block(x), size=size, mode="bilinear", align_corners=False) for block in self.blocks]
        result: torch.Tensor = self.out_conv(torch.cat([x, *pooled], dim=1))
        return result


class _Lateral(nn.Module):
    """One FPN step: the coarser map upsampled to the skip's size, plus the skip through a 1×1 convolution.

    A skip of 0 channels (the 1/2 scale that Swin and ConvNeXt encoders do not have) adds nothing."""

    def __init__(self, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.skip_conv: nn.Module = (
            Conv2dReLU(skip_channels, out_channels, kernel_size=1) if skip_channels else nn.Identity()
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        x = F.interpolate(x, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return x + self.skip_conv(skip) if skip.shape[1] else x


class UPerNetDecoder(nn.Module):
    """The UPerNet head of smp 0.4.0 (module names, widths and order of operations), which IGN's weights fit.

    ``encoder_channels`` are those of the encoder FLAIR-HUB builds its decoder from: one input band, so the last
    lateral step has a 1-channel convolution that the forward pass never reaches, yet whose weights are saved.
    """

    def __init__(self, encoder_channels: Sequence[int]) -> None:
        super().__init__()
        deepest_first = list(encoder_channels)[::-1]
        self.psp = _Pyramid(deepest_first[0], PYRAMID_CHANNELS)
        self.fpn_stages = nn.ModuleList(_Lateral(channels, PYRAMID_CHANNELS) for channels in deepest_first[1:])
        self.fpn_bottleneck = Conv2dReLU(
            (len(deepest_first) - 1) * PYRAMID_CHANNELS, SEGMENTATION_CHANNELS, kernel_size=3, padding=1
        )

    def forward(self, features: list[torch.Tensor]) -> torch.Tensor:
        height, width = features[0].shape[-2:]
        deepest_first = features[1:][::-1]  # the first feature is the input itself
        maps = [self.psp(deepest_first[0])]
        for skip, stage in zip(deepest_first[1:], self.fpn_stages, strict=False):
            maps.append(stage(maps[-1], skip))
        quarter = (height // 4, width // 4)
        resized = [F.interpolate(item, size=quarter, mode="bilinear", align_corners=False) for item in maps]
        result: torch.Tensor = self.fpn_bottleneck(torch.cat(resized, dim=1))
        return result


def build(spec: ModelSpec) -> FlairHubNetwork:
    """The untrained network of a FLAIR-HUB ``spec`` (``UPerNet`` or ``Unet``); never downloads anything."""
    options = dict(spec.options)
    bands, classes = len(spec.bands), len(spec.classes)
    try:
        if spec.architecture == "UPerNet":
            encoder = get_encoder(spec.encoder, in_channels=bands, depth=5, weights=None, **options)
            channels = [1, *encoder.out_channels[1:]]  # FLAIR-HUB's decoder comes from a 1-band model (see above)
            head = SegmentationHead(SEGMENTATION_CHANNELS, classes, kernel_size=1, upsampling=4)
            return FlairHubNetwork(encoder, UPerNetDecoder(channels), head)
        if spec.architecture == "Unet":
            unet = smp.create_model(
                "unet", encoder_name=spec.encoder, encoder_weights=None, in_channels=bands, classes=classes, **options
            )
            parts = (unet.get_submodule(name) for name in ("encoder", "decoder", "segmentation_head"))
            return FlairHubNetwork(*parts)
    except (KeyError, ValueError, TypeError, RuntimeError) as exc:
        raise InvalidInputError(
            f"model {spec.name}: cannot build a FLAIR-HUB {spec.architecture} with encoder {spec.encoder!r}: {exc}"
        ) from None
    raise InvalidInputError(
        f"model {spec.name}: FLAIR-HUB architecture {spec.architecture!r} is not one of UPerNet, Unet"
    )


def network_keys(state: dict[str, torch.Tensor], spec: ModelSpec, path: Path) -> dict[str, torch.Tensor]:
    """The weights of a FLAIR-HUB checkpoint under this module's names, or an error naming what the file holds.

    Refused: another layout (no aerial encoder), a model with other modalities (LC-D, LC-F...: its decoder was
    trained on fused features), and an encoder or decoder of another family than ``spec``'s.
    """
    state = {key.removeprefix("model."): value for key, value in state.items()}
    modalities = sorted({key.split(".")[1] for key in state if key.startswith("encoders.")})
    if modalities != [MODALITY]:
        if not modalities:
            example = next(iter(state), "-")
            raise InvalidInputError(
                f"{path} is not a FLAIR-HUB checkpoint: no {ENCODER_PREFIX}* keys (first key: {example}); "
                f"model {spec.name} is a FLAIR-HUB {spec.architecture}-{spec.encoder}"
            )
        raise InvalidInputError(
            f"{path} is a FLAIR-HUB model of modalities {', '.join(modalities)}; model {spec.name} reads "
            f"{MODALITY} only (an aerial LC-A checkpoint)"
        )
    mapped: dict[str, torch.Tensor] = {}
    for key, value in state.items():
        if key.startswith(ENCODER_PREFIX):
            mapped["encoder." + key.removeprefix(ENCODER_PREFIX)] = value
        elif key.startswith(DECODER_PREFIX):
            mapped[key.removeprefix(DECODER_PREFIX)] = value
        elif not key.startswith(UNUSED_PREFIXES):
            mapped[key] = value  # left for the key comparison to report as unexpected
    found = (_decoder_family(mapped), _encoder_family(mapped))
    expected = (spec.architecture, _named_family(spec.encoder))
    if None not in found and None not in expected and found != expected:
        raise InvalidInputError(
            f"{path} holds a FLAIR-HUB {found[0]} with a {found[1]} encoder; model {spec.name} is a "
            f"{expected[0]} with a {expected[1]} encoder ({spec.encoder})"
        )
    return mapped


def _decoder_family(state: dict[str, torch.Tensor]) -> str | None:
    if any(key.startswith("decoder.psp.") for key in state):
        return "UPerNet"
    if any(key.startswith("decoder.blocks.") for key in state):
        return "Unet"
    return None


def _encoder_family(state: dict[str, torch.Tensor]) -> str | None:
    """Swin or ConvNeXt from timm's module names in the encoder's keys."""
    for key in state:
        name = key.removeprefix("encoder.model.")
        if name.startswith(("patch_embed.", "layers_")):
            return "Swin"
        if name.startswith(("stem_", "stages_")):
            return "ConvNeXt"
    return None


def _named_family(encoder: str) -> str | None:
    """The family of a registry encoder name (``tu-swin_base_patch4_window12_384``: Swin)."""
    name = encoder.removeprefix("tu-")
    return "Swin" if name.startswith("swin") else "ConvNeXt" if name.startswith("convnext") else None
