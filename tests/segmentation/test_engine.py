"""The inference engine: same classes as a direct smp forward pass, the input's exact grid, a tiled COG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import rasterio
import torch

from ocsge_processes.errors import InvalidInputError
from ocsge_processes.segmentation import ModelSpec, Tiling, assemble, cs_values, get_model, legend, plan
from ocsge_processes.segmentation.checkpoint import build_model
from ocsge_processes.segmentation.engine import Predictor, segment, segment_files

from .conftest import random_state_dict, smooth_image, write_raster

#: Small windows keep the CPU time low; 300 × 200 px is not a multiple of their 64 px centres.
TILING = Tiling(window=128, margin=32, batch_size=4)
ORTHO = Path(__file__).resolve().parents[3] / "shared" / "data" / "montpellier-ortho-lidar" / "ortho"


def reference_classes(spec: ModelSpec, weights: dict[str, torch.Tensor], image: Path, tiling: Tiling) -> np.ndarray:
    """Class codes from a plain smp forward pass, window by window on the mirror-padded, normalised image."""
    model = build_model(spec)
    model.load_state_dict(weights)
    model.eval()
    with rasterio.open(image) as dataset:
        pixels = dataset.read()
    pad = tiling.window
    padded = np.pad(pixels, ((0, 0), (pad, pad), (pad, pad)), mode="symmetric")
    x = torch.from_numpy(padded).float()
    x = (x - torch.tensor(spec.mean).view(-1, 1, 1)) / torch.tensor(spec.std).view(-1, 1, 1)
    codes = np.array([klass.code for klass in spec.classes])
    out = np.zeros(pixels.shape[1:], np.uint8)
    with torch.no_grad():
        for tile in plan(pixels.shape[2], pixels.shape[1], tiling):
            top, left = tile.read.row_off + pad, tile.read.col_off + pad
            logits = model(x[None, :, top : top + tiling.window, left : left + tiling.window])[0]
            logits[spec.masked_channels] = float("-inf")
            rows, cols = tile.crop
            out[
                tile.core.row_off : tile.core.row_off + tile.core.height,
                tile.core.col_off : tile.core.col_off + tile.core.width,
            ] = codes[logits.argmax(0).numpy()][rows, cols]
    return out


@pytest.fixture(scope="module")
def expected(spec: ModelSpec, weights: dict[str, torch.Tensor], image: Path) -> np.ndarray:
    return reference_classes(spec, weights, image, TILING)


@pytest.mark.slow  # `expected` runs the reference forward pass on the CPU: 45 s
@pytest.mark.parametrize("layout", ["plain", "prefixed", "lightning"])
def test_same_classes_as_a_direct_smp_forward_pass(
    layout: str, tmp_path: Path, spec: ModelSpec, image: Path, checkpoints: dict[str, Path], expected: np.ndarray
) -> None:
    out = tmp_path / "classes.tif"
    result = segment_files(
        image, out, model=spec.name, checkpoint=checkpoints[layout], tiling=TILING, device="cpu", output="class"
    )
    assert (result.windows, result.device) == (20, "cpu")
    with rasterio.open(out) as dataset:
        classes = dataset.read(1)
    np.testing.assert_array_equal(classes, expected)
    assert len(np.unique(expected)) > 3, "random weights should predict several classes"
    assert not np.isin(expected, sorted(spec.masked)).any()


@pytest.mark.slow
def test_output_is_a_tiled_cog_on_the_input_grid(
    tmp_path: Path, spec: ModelSpec, image: Path, checkpoints: dict[str, Path], expected: np.ndarray
) -> None:
    out, probabilities = tmp_path / "cs.tif", tmp_path / "probabilities.tif"
    calls: list[tuple[int, int]] = []
    segment_files(
        image,
        out,
        model=spec,
        checkpoint=checkpoints["plain"],
        tiling=TILING,
        device="cpu",
        probabilities=probabilities,
        progress=lambda done, total: calls.append((done, total)),
    )
    with rasterio.open(image) as source, rasterio.open(out) as result:
        assert result.transform == source.transform and result.crs == source.crs
        assert (result.width, result.height, result.count, result.dtypes) == (300, 200, 1, ("uint8",))
        assert result.profile["tiled"] and result.block_shapes == [(512, 512)]
        assert result.tags(ns="IMAGE_STRUCTURE")["LAYOUT"] == "COG"
        assert result.overviews(1) == [] and result.nodata == 0
        values = result.read(1)
        colormap = result.colormap(1)
        tags = result.tags()
    np.testing.assert_array_equal(values, legend(spec, "cs").lut[expected - 1])
    assert colormap[cs_values().__len__()] != (0, 0, 0, 255) and colormap[0][3] == 0
    assert json.loads(tags["OCSGE_VALUES"])["1"] == "CS1.1.1.1" and tags["OCSGE_MODEL"] == spec.name
    with rasterio.open(probabilities) as scores:
        assert scores.transform == result.transform and scores.count == 15
        assert scores.descriptions[0] == "building"
        total = scores.read().astype(int).sum(axis=0)
    assert np.abs(total - 255).max() <= 7  # 15 bands, each softmax × 255 rounded to the nearest integer (± 0.5)
    assert [done for done, _ in calls] == [0, 4, 8, 12, 16, 20] and {total for _, total in calls} == {20}
    assert not list(tmp_path.glob("*.partial.tif"))


@pytest.mark.slow
def test_real_bd_ortho_patch_keeps_its_grid(tmp_path: Path) -> None:
    spec = get_model("FLAIR-INC_rgbi_15cl")
    weights = tmp_path / "rgbi.pth"
    torch.save(random_state_dict(spec, seed=1), weights)
    out = tmp_path / "montpellier.tif"
    rvb = ORTHO / "test_data_rgb.tif"
    segment_files(
        rvb,
        out,
        model=spec.name,
        checkpoint=weights,
        irc=ORTHO / "test_data_irc.tif",
        tiling=Tiling(128, 32, 8),
        device="cpu",
    )
    with rasterio.open(rvb) as source, rasterio.open(out) as result:
        assert result.transform == source.transform and result.crs == source.crs
        assert (result.width, result.height) == (source.width, source.height)
        assert set(np.unique(result.read(1))) <= set(cs_values()) | {0}


@pytest.mark.slow
def test_a_raster_smaller_than_a_window(tmp_path: Path, spec: ModelSpec, weights: dict[str, torch.Tensor]) -> None:
    image = write_raster(tmp_path / "tiny.tif", smooth_image(5, 37, 50))
    model = build_model(spec)
    model.load_state_dict(weights)
    result = segment(
        assemble(image, spec.bands), model, spec, tmp_path / "tiny_cs.tif", tiling=TILING, device="cpu", output="class"
    )
    assert result.windows == 1
    with rasterio.open(result.path) as dataset:
        classes = dataset.read(1)
    assert classes.shape == (37, 50)
    np.testing.assert_array_equal(classes, reference_classes(spec, weights, image, TILING))


def test_cuda_without_a_gpu_is_a_clear_error(tmp_path: Path, spec: ModelSpec, image: Path) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    with pytest.raises(InvalidInputError, match="device 'cuda' was requested but this machine has no usable CUDA"):
        segment(assemble(image, spec.bands), build_model(spec), spec, tmp_path / "out.tif", device="cuda")
    assert not list(tmp_path.iterdir())


def test_a_failure_leaves_no_output(tmp_path: Path, spec: ModelSpec, image: Path) -> None:
    class Broken(torch.nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            raise RuntimeError("out of memory, say")

    with pytest.raises(RuntimeError, match="out of memory, say"):
        segment(assemble(image, spec.bands), Broken(), spec, tmp_path / "out.tif", tiling=TILING, device="cpu")
    assert not list(tmp_path.iterdir())


@pytest.mark.gpu
@pytest.mark.slow  # compared with `expected`, the CPU reference
def test_gpu_runs_bf16_channels_last_and_agrees_with_cpu(
    tmp_path: Path, spec: ModelSpec, image: Path, checkpoints: dict[str, Path], expected: np.ndarray
) -> None:
    out = tmp_path / "gpu.tif"
    result = segment_files(
        image, out, model=spec.name, checkpoint=checkpoints["plain"], tiling=TILING, device="cuda", output="class"
    )
    assert result.device == "cuda"
    predictor = Predictor(build_model(spec), spec, legend(spec, "class").lut, torch.device("cuda"))
    assert predictor.dtype is torch.bfloat16
    weight = predictor.model.encoder.conv1.weight
    assert weight.is_cuda and weight.is_contiguous(memory_format=torch.channels_last)
    with rasterio.open(out) as dataset:
        classes = dataset.read(1)
    # bf16 moves near-ties of random weights; most pixels must still agree with the fp32 reference.
    assert (classes == expected).mean() > 0.9
    assert not np.isin(classes, sorted(spec.masked)).any()
