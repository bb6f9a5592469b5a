"""Training of a small segmentation model on one labelled image: how the project's default model is made.

The default model must ship with the project and run anywhere, so it is small and trained on what lies offline: a
real 0.2 m orthophoto with labels derived from LiDAR (``lidar.py``). One image is far too little to generalise;
the image is split in two strips so that the reported scores come from pixels the model never saw.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from ..errors import InvalidInputError
from .checkpoint import build_model
from .registry import ModelSpec

#: Label of pixels that take no part in the loss or the scores.
IGNORE = 255


@dataclass(frozen=True)
class Trained:
    """The trained network and its scores on the held-out strip."""

    model: torch.nn.Module
    pixel_accuracy: float
    #: Intersection over union per class name (None for a class absent from the held-out strip).
    iou: dict[str, float | None]
    train_pixels: int
    heldout_pixels: int


def train(
    spec: ModelSpec,
    image: np.ndarray,
    labels: np.ndarray,
    *,
    steps: int = 600,
    crop: int = 96,
    batch: int = 8,
    heldout: float = 0.25,
    seed: int = 0,
    progress: Callable[[int, int, float], None] | None = None,
) -> Trained:
    """Train ``spec``'s network on ``image`` (bands × rows × cols, uint8) and ``labels`` (class index or 255).

    The right-hand ``heldout`` share of the columns is kept for scoring. ``progress(step, steps, loss)``.
    """
    _check(spec, image, labels, crop, heldout)
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    split = int(image.shape[2] * (1 - heldout))
    inputs = _normalise(spec, torch.from_numpy(image.astype(np.float32)))
    targets = torch.from_numpy(labels.astype(np.int64))
    model = build_model(spec).train()
    optimiser = torch.optim.AdamW(model.parameters(), lr=2e-3, weight_decay=1e-4)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimiser, max_lr=2e-3, total_steps=steps)
    loss_fn = torch.nn.CrossEntropyLoss(ignore_index=IGNORE)
    for step in range(steps):
        x, y = _batch(inputs[:, :, :split], targets[:, :split], crop, batch, rng)
        loss = loss_fn(model(x), y)
        optimiser.zero_grad()
        loss.backward()
        optimiser.step()
        schedule.step()
        if progress:
            progress(step + 1, steps, loss.item())
    predicted = torch.from_numpy(predict(spec, model.eval(), image))
    return _scores(spec, model, predicted[:, split:], targets[:, split:], int((targets[:, :split] != IGNORE).sum()))


def predict(spec: ModelSpec, model: torch.nn.Module, image: np.ndarray) -> np.ndarray:
    """Class index of each pixel of a small image in one forward pass: how the held-out scores are computed
    (large rasters go through the engine's windows instead)."""
    with torch.no_grad():
        inputs = _normalise(spec, torch.from_numpy(image.astype(np.float32)))
        classes: torch.Tensor = model(_pad(inputs[None])).argmax(1)[0, : image.shape[1], : image.shape[2]]
        return classes.numpy()


def _check(spec: ModelSpec, image: np.ndarray, labels: np.ndarray, crop: int, heldout: float) -> None:
    if image.ndim != 3 or image.shape[0] != len(spec.bands) or image.dtype != np.uint8:
        raise InvalidInputError(
            f"model {spec.name} trains on {len(spec.bands)} uint8 bands "
            f"({', '.join(spec.bands)}); got an array of shape {image.shape}, {image.dtype}"
        )
    if labels.shape != image.shape[1:]:
        raise InvalidInputError(f"labels {labels.shape} and image {image.shape[1:]} differ in size")
    known = labels[labels != IGNORE]
    if known.size and known.max() >= len(spec.classes):
        raise InvalidInputError(f"label {known.max()} is beyond the {len(spec.classes)} classes of {spec.name}")
    if not 0 < heldout < 1 or image.shape[1] < crop or image.shape[2] * (1 - heldout) < crop:
        raise InvalidInputError(
            f"the image ({image.shape[2]}×{image.shape[1]} px) is too small for {crop} px crops "
            f"with {heldout:.0%} held out"
        )


def _normalise(spec: ModelSpec, image: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(spec.mean).view(-1, 1, 1)
    std = torch.tensor(spec.std).view(-1, 1, 1)
    return (image - mean) / std


def _batch(
    inputs: torch.Tensor, targets: torch.Tensor, crop: int, size: int, rng: np.random.Generator
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random crops, flips and quarter turns: the only way to get variety out of one image."""
    xs, ys = [], []
    for _ in range(size):
        row = int(rng.integers(0, inputs.shape[1] - crop + 1))
        col = int(rng.integers(0, inputs.shape[2] - crop + 1))
        x, y = inputs[:, row : row + crop, col : col + crop], targets[row : row + crop, col : col + crop]
        turns = int(rng.integers(0, 4))
        x, y = torch.rot90(x, turns, (1, 2)), torch.rot90(y, turns, (0, 1))
        if rng.random() < 0.5:
            x, y = x.flip(2), y.flip(1)
        xs.append(x)
        ys.append(y)
    return torch.stack(xs).contiguous(), torch.stack(ys).contiguous()


def _pad(x: torch.Tensor, multiple: int = 32) -> torch.Tensor:
    """Pad rows and columns to a multiple the U-Net's pooling accepts."""
    rows, cols = -x.shape[2] % multiple, -x.shape[3] % multiple
    return torch.nn.functional.pad(x, (0, cols, 0, rows), mode="reflect")


def _scores(
    spec: ModelSpec, model: torch.nn.Module, predicted: torch.Tensor, truth: torch.Tensor, train_pixels: int
) -> Trained:
    known = truth != IGNORE
    p, t = predicted[known], truth[known]
    iou: dict[str, float | None] = {}
    for index, klass in enumerate(spec.classes):
        union = int(((p == index) | (t == index)).sum())
        iou[klass.name] = int(((p == index) & (t == index)).sum()) / union if (t == index).any() else None
    accuracy = float((p == t).float().mean()) if len(t) else 0.0
    return Trained(model, accuracy, iou, train_pixels, int(known.sum()))
