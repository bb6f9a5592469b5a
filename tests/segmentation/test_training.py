"""LiDAR-derived labels, training, and the default model shipped with the project, on the real Montpellier patch."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from ocsge_processes.errors import InvalidInputError
from ocsge_processes.segmentation import get_model
from ocsge_processes.segmentation.checkpoint import load_model
from ocsge_processes.segmentation.lidar import BUILDING, NO_LABEL, SEALED, TREES, labels_and_elevation, read_points
from ocsge_processes.segmentation.training import predict, train

DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data" / "montpellier-ortho-lidar"
LIDAR = DATA / "lidar" / "test_data_77055_627760_LA93_IGN69.laz"


@pytest.fixture(scope="module")
def patch() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The real R, G, B, NIR patch, its labels and its elevation band."""
    with (
        rasterio.open(DATA / "ortho" / "test_data_rgb.tif") as rgb,
        rasterio.open(DATA / "ortho" / "test_data_irc.tif") as irc,
    ):
        image = np.concatenate([rgb.read(), irc.read(1)[None]])
        transform = rgb.transform
    labels, elevation = labels_and_elevation(read_points([LIDAR]), transform, image.shape[1:], image[0], image[3])
    return image, labels, elevation


def test_labels_follow_the_lidar_classes(patch: tuple) -> None:
    _, labels, elevation = patch
    assert (labels == NO_LABEL).mean() < 0.02, "nearly every pixel gets a point or a neighbour's"
    for label in (BUILDING, SEALED, TREES):
        assert (labels == label).mean() > 0.1, f"label {label} is common on this urban patch"
    # Buildings and trees stand above the ground; sealed ground does not.
    assert np.median(elevation[labels == BUILDING]) > 10  # > 2 m
    assert np.median(elevation[labels == TREES]) > 10
    assert np.median(elevation[labels == SEALED]) < 5  # < 1 m


def test_lidar_elsewhere_is_refused(patch: tuple) -> None:
    image, _, _ = patch
    far = rasterio.transform.from_origin(100_000, 6_000_000, 0.2, 0.2)
    with pytest.raises(InvalidInputError, match="no LiDAR point falls on the image"):
        labels_and_elevation(read_points([LIDAR]), far, image.shape[1:], image[0], image[3])


@pytest.mark.slow
def test_training_is_reproducible_and_scored_on_unseen_pixels(patch: tuple) -> None:
    image, labels, _ = patch
    spec = get_model("default")
    first = train(spec, image, labels, steps=8, crop=64, batch=2, seed=3)
    second = train(spec, image, labels, steps=8, crop=64, batch=2, seed=3)
    assert first.pixel_accuracy == second.pixel_accuracy
    assert all(
        torch.equal(a, b)
        for a, b in zip(first.model.state_dict().values(), second.model.state_dict().values(), strict=True)
    )
    assert first.train_pixels + first.heldout_pixels == int((labels != NO_LABEL).sum())
    assert first.iou["water"] is None, "no water in the held-out strip: no score rather than a made-up one"


def test_training_refuses_a_mismatch(patch: tuple) -> None:
    image, labels, _ = patch
    with pytest.raises(InvalidInputError, match="4 uint8 bands"):
        train(get_model("default"), image[:3], labels)


def test_shipped_default_model_reproduces_its_recorded_scores(patch: tuple) -> None:
    """The weights in config/models are the ones whose held-out scores the docs quote."""
    image, labels, _ = patch
    spec = get_model("default")
    recorded = json.loads(spec.checkpoint.with_suffix(".json").read_text())
    predicted = predict(spec, load_model(spec), image)
    split = int(image.shape[2] * 0.75)
    truth, guess = labels[:, split:], predicted[:, split:]
    known = truth != NO_LABEL
    # The recorded figure is torch's float32 mean (about 7 significant digits); this one is float64.
    assert (guess[known] == truth[known]).mean() == pytest.approx(recorded["pixel_accuracy"], abs=1e-6)
    assert spec.checkpoint.stat().st_size < 5_000_000, "the shipped model stays small"
