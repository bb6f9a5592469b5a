"""Build a registry model with segmentation-models-pytorch and load a local checkpoint into it, IGN's layouts included.

IGN publishes FLAIR-INC weights as a plain state dict (``*_weights.pth``) whose keys may carry the Lightning prefix
``model.seg_model.``; older releases were Lightning ``.ckpt`` files holding the same under ``state_dict``. FLAIR-HUB
weights come as ``.safetensors``, ``.ckpt`` or ``.pth`` in their own key layout (``flairhub``). All of these
load here. Files are read with ``weights_only=True`` so a checkpoint can never run code, and with ``strict=True``
after a comparison that names what differs, so a wrong file fails with a message instead of a half-loaded model.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path

import torch

from ..errors import InvalidInputError
from . import flairhub
from .registry import ModelSpec

# smp downloads ImageNet weights when asked for them; make any such attempt fail at once rather than retry for 20 s.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import segmentation_models_pytorch as smp
from safetensors import SafetensorError
from safetensors.torch import load_file

#: Prefix of the model's keys in IGN's Lightning checkpoints.
LIGHTNING_PREFIX = "model.seg_model."
#: Keys whose shapes tell the number of input bands and of output channels.
INPUT_KEY, OUTPUT_KEY = "encoder.conv1.weight", "segmentation_head.0.weight"


def build_model(spec: ModelSpec) -> torch.nn.Module:
    """The untrained network of ``spec``: never downloads anything (``encoder_weights=None``)."""
    if spec.layout == "flair-hub":
        return flairhub.build(spec)
    try:
        return smp.create_model(
            spec.architecture,
            encoder_name=spec.encoder,
            encoder_weights=None,
            in_channels=len(spec.bands),
            classes=len(spec.classes),
            **dict(spec.options),
        )
    except (KeyError, ValueError, TypeError) as exc:
        raise InvalidInputError(
            f"model {spec.name}: segmentation-models-pytorch cannot build architecture "
            f"{spec.architecture!r} with encoder {spec.encoder!r}: {exc}"
        ) from None


def load_model(spec: ModelSpec, checkpoint: Path | None = None) -> torch.nn.Module:
    """``spec``'s network with the weights of ``checkpoint`` (default: the registry's file), in eval mode on the CPU."""
    path = checkpoint or spec.checkpoint
    if path is None:
        raise InvalidInputError(
            f"model {spec.name} ships no weights: give a checkpoint file (.pth, .ckpt or .safetensors)"
        )
    model = build_model(spec)
    state = read_state_dict(Path(path))
    if spec.layout == "flair-hub":
        state = flairhub.network_keys(state, spec, Path(path))
    _check_keys(spec, model.state_dict(), state, Path(path))
    model.load_state_dict(state, strict=True)
    return model.eval()


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """The model weights in ``path``: a state dict, prefixed or not, or a Lightning checkpoint's ``state_dict``."""
    if path.suffix == ".safetensors":
        return _read_safetensors(path)
    try:
        content = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise InvalidInputError(f"checkpoint {path} does not exist") from None
    except Exception as exc:  # torch raises UnpicklingError, RuntimeError, EOFError... for what it cannot read
        if isinstance(exc, pickle.UnpicklingError) and "weights only" in str(exc).lower():
            raise InvalidInputError(
                f"{path} holds objects other than tensors and plain containers, which are not "
                f"loaded (weights_only=True); expected a state dict"
            ) from None
        raise InvalidInputError(
            f"{path} is not a PyTorch checkpoint (.pth state dict or Lightning .ckpt): {_first_line(exc)}"
        ) from None
    if isinstance(content, dict) and isinstance(content.get("state_dict"), dict):
        content = content["state_dict"]
    if not isinstance(content, dict) or not all(isinstance(value, torch.Tensor) for value in content.values()):
        raise InvalidInputError(
            f"{path} is not a state dict (a mapping of names to tensors), nor a Lightning "
            f"checkpoint holding one under 'state_dict'"
        )
    if any(key.startswith(LIGHTNING_PREFIX) for key in content):
        # Lightning modules also save their loss (criterion.weight...): keep the network only, as IGN's loader does.
        content = {
            key[len(LIGHTNING_PREFIX) :]: value for key, value in content.items() if key.startswith(LIGHTNING_PREFIX)
        }
    return content


def _read_safetensors(path: Path) -> dict[str, torch.Tensor]:
    """A safetensors file holds tensors only, by design: nothing to unwrap, nothing that could run."""
    try:
        return load_file(path, device="cpu")
    except FileNotFoundError:
        raise InvalidInputError(f"checkpoint {path} does not exist") from None
    except (SafetensorError, OSError, ValueError) as exc:
        raise InvalidInputError(f"{path} is not a safetensors file: {_first_line(exc)}") from None


def _check_keys(spec: ModelSpec, expected: dict[str, torch.Tensor], found: dict[str, torch.Tensor], path: Path) -> None:
    # The first convolution reads the bands: smp's ResNet conv1, timm's Swin patch_embed or ConvNeXt stem.
    first_conv = next((key for key, value in expected.items() if value.dim() == 4), INPUT_KEY)
    bands = _dimension(found, first_conv, 1)
    if bands is not None and bands != len(spec.bands):
        raise InvalidInputError(
            f"{path} is a checkpoint for {bands} input bands; model {spec.name} expects "
            f"{len(spec.bands)} ({','.join(spec.bands)})"
        )
    outputs = _dimension(found, OUTPUT_KEY, 0)
    if outputs is not None and outputs != len(spec.classes):
        raise InvalidInputError(
            f"{path} is a checkpoint with {outputs} output classes; model {spec.name} expects {len(spec.classes)}"
        )
    missing, unexpected = sorted(expected.keys() - found.keys()), sorted(found.keys() - expected.keys())
    if missing or unexpected:
        raise InvalidInputError(
            f"{path} does not hold the weights of a {spec.architecture}-{spec.encoder} ({spec.name}): "
            f"{len(missing)} keys missing (e.g. {', '.join(missing[:3]) or '-'}), {len(unexpected)} unexpected "
            f"(e.g. {', '.join(unexpected[:3]) or '-'})"
        )
    wrong = [key for key, value in expected.items() if found[key].shape != value.shape]
    if wrong:
        key = wrong[0]
        raise InvalidInputError(
            f"{path}: {len(wrong)} tensors have other shapes than model {spec.name} expects, "
            f"e.g. {key} is {tuple(found[key].shape)}, expected {tuple(expected[key].shape)}"
        )


def _dimension(state: dict[str, torch.Tensor], key: str, axis: int) -> int | None:
    tensor = state.get(key)
    return int(tensor.shape[axis]) if tensor is not None and tensor.dim() > axis else None


def _first_line(exc: Exception) -> str:
    return (str(exc).strip().splitlines() or [type(exc).__name__])[0]
