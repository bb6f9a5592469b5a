"""Shared fixtures of the segmentation tests: FLAIR-INC-format checkpoints with random weights, small GeoTIFFs.

Tests marked ``gpu`` need CUDA and are skipped, with the reason, where ``torch.cuda.is_available()`` is false.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch
from affine import Affine

from ocsge_processes.segmentation import ModelSpec, get_model
from ocsge_processes.segmentation.checkpoint import build_model

#: Lambert-93, the CRS of BD ORTHO.
CRS = "EPSG:2154"
#: A 0.2 m grid with an origin that is not a round number, to catch any rounding of the transform.
TRANSFORM = Affine(0.2, 0.0, 770549.8, 0.0, -0.2, 6277600.2)
#: The 5-band model every engine test uses (R, G, B, NIR, E; 19 outputs, 4 masked).
MODEL = "FLAIR-INC_rgbie_15cl"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU (torch.cuda.is_available() is false)")
    for item in items:
        if "gpu" in item.keywords:
            item.add_marker(skip)


def random_state_dict(spec: ModelSpec, seed: int = 0) -> dict[str, torch.Tensor]:
    """Weights drawn at random, batch-norm statistics included, so that predictions vary from pixel to pixel."""
    torch.manual_seed(seed)
    model = build_model(spec)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.running_mean.uniform_(-0.1, 0.1)
                module.running_var.uniform_(0.5, 1.5)
                module.weight.uniform_(0.5, 1.5)
                module.bias.uniform_(-0.1, 0.1)
    return model.state_dict()


def write_raster(path: Path, pixels: np.ndarray, transform: Affine = TRANSFORM, crs: str | None = CRS) -> Path:
    """A GeoTIFF of ``pixels`` (bands, rows, cols)."""
    with rasterio.open(
        path,
        "w",
        driver="GTiff",
        width=pixels.shape[2],
        height=pixels.shape[1],
        count=pixels.shape[0],
        dtype=pixels.dtype,
        crs=crs,
        transform=transform,
    ) as dataset:
        dataset.write(pixels)
    return path


def smooth_image(bands: int, height: int, width: int, seed: int = 0) -> np.ndarray:
    """uint8 pixels with patches of similar values, like a landscape rather than noise."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (bands, height // 16 + 2, width // 16 + 2)).astype(np.uint8)
    image = coarse.repeat(16, axis=1).repeat(16, axis=2)[:, :height, :width]
    return np.clip(image + rng.integers(-20, 21, image.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="session")
def spec() -> ModelSpec:
    return get_model(MODEL)


@pytest.fixture(scope="session")
def weights(spec: ModelSpec) -> dict[str, torch.Tensor]:
    return random_state_dict(spec)


@pytest.fixture(scope="session")
def checkpoints(tmp_path_factory: pytest.TempPathFactory, weights: dict[str, torch.Tensor]) -> dict[str, Path]:
    """The same weights in IGN's three layouts: plain ``.pth``, ``model.seg_model.``-prefixed ``.pth``, and a
    Lightning ``.ckpt`` (prefixed keys and the loss weights under ``state_dict``, with training counters)."""
    folder = tmp_path_factory.mktemp("checkpoints")
    prefixed = {f"model.seg_model.{key}": value for key, value in weights.items()}
    files = {
        "plain": (folder / "plain_weights.pth", dict(weights)),
        "prefixed": (folder / "prefixed_weights.pth", prefixed),
        "lightning": (
            folder / "lightning.ckpt",
            {"epoch": 76, "global_step": 1000, "state_dict": {**prefixed, "criterion.weight": torch.ones(19)}},
        ),
    }
    for path, content in files.values():
        torch.save(content, path)
    return {name: path for name, (path, _) in files.items()}


@pytest.fixture(scope="session")
def image(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 5-band 300 × 200 px image: neither side is a multiple of the test windows."""
    return write_raster(tmp_path_factory.mktemp("image") / "rgbie.tif", smooth_image(5, 200, 300))
