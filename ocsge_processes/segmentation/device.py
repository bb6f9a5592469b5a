"""The torch device a segmentation runs on, from the user's ``auto|cuda|cpu``."""

from __future__ import annotations

import torch

from ..errors import InvalidInputError

#: Accepted device names.
DEVICES = ("auto", "cuda", "cpu")


def select_device(name: str = "auto") -> torch.device:
    """``cuda`` when asked or when ``auto`` finds a GPU, else ``cpu``; asking for a GPU that is absent is an error,
    not a silent fallback that would run a hundred times slower."""
    if name not in DEVICES:
        raise InvalidInputError(f"unknown device {name!r}; expected one of {', '.join(DEVICES)}")
    if name == "cuda" and not torch.cuda.is_available():
        raise InvalidInputError(
            "device 'cuda' was requested but this machine has no usable CUDA GPU; use 'auto' or 'cpu'"
        )
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(name)
