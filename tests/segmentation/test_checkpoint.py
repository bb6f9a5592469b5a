"""Loading FLAIR-INC checkpoints as IGN publishes them, and refusing anything else with a clear message."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest
import torch

from ocsge_processes.errors import InvalidInputError
from ocsge_processes.segmentation import ModelSpec, get_model
from ocsge_processes.segmentation.checkpoint import load_model, read_state_dict

from .conftest import random_state_dict


class NotATensor:
    """Anything a pickle can hold that ``weights_only`` must refuse."""


@pytest.mark.parametrize("layout", ["plain", "prefixed", "lightning"])
def test_every_ign_layout_loads_the_same_weights(
    layout: str, checkpoints: dict[str, Path], weights: dict[str, torch.Tensor], spec: ModelSpec
) -> None:
    model = load_model(spec, checkpoints[layout])
    assert not model.training
    loaded = model.state_dict()
    assert loaded.keys() == weights.keys()
    assert all(torch.equal(loaded[key], weights[key]) for key in weights)


def test_lightning_loss_weights_are_dropped(checkpoints: dict[str, Path]) -> None:
    state = read_state_dict(checkpoints["lightning"])
    assert "criterion.weight" not in state and "encoder.conv1.weight" in state


def test_smp_is_kept_offline() -> None:
    assert os.environ.get("HF_HUB_OFFLINE") == "1"


def test_a_checkpoint_for_other_bands_is_refused(tmp_path: Path, spec: ModelSpec) -> None:
    path = tmp_path / "rgb_weights.pth"
    torch.save(random_state_dict(get_model("FLAIR-INC_rgb_15cl")), path)
    with pytest.raises(
        InvalidInputError,
        match=r"checkpoint for 3 input bands; model FLAIR-INC_rgbie_15cl "
        r"expects 5 \(R,G,B,NIR,E\)",
    ):
        load_model(spec, path)


def test_a_checkpoint_for_other_classes_is_refused(tmp_path: Path, spec: ModelSpec) -> None:
    thirteen = dataclasses.replace(spec, classes=spec.classes[:13], masked=frozenset())
    path = tmp_path / "13cl.pth"
    torch.save(random_state_dict(thirteen), path)
    with pytest.raises(
        InvalidInputError, match="checkpoint with 13 output classes; model FLAIR-INC_rgbie_15cl expects 19"
    ):
        load_model(spec, path)


def test_a_checkpoint_of_another_network_is_refused(
    tmp_path: Path, spec: ModelSpec, weights: dict[str, torch.Tensor]
) -> None:
    path = tmp_path / "other.pth"
    other = {key.replace("decoder.", "head."): value for key, value in weights.items()}
    torch.save(other, path)
    with pytest.raises(
        InvalidInputError,
        match=r"does not hold the weights of a Unet-resnet34 "
        r"\(FLAIR-INC_rgbie_15cl\): \d+ keys missing \(e.g. decoder",
    ):
        load_model(spec, path)


def test_a_tensor_of_another_shape_is_named(tmp_path: Path, spec: ModelSpec, weights: dict[str, torch.Tensor]) -> None:
    path = tmp_path / "narrow.pth"
    torch.save({**weights, "decoder.blocks.0.conv1.0.weight": torch.zeros(8, 3, 3, 3)}, path)
    with pytest.raises(InvalidInputError, match=r"decoder.blocks.0.conv1.0.weight is \(8, 3, 3, 3\), expected"):
        load_model(spec, path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"this is not a checkpoint\n", "is not a PyTorch checkpoint"),
        (b"", "is not a PyTorch checkpoint"),
    ],
)
def test_a_file_that_is_no_checkpoint_is_refused(tmp_path: Path, spec: ModelSpec, content: bytes, message: str) -> None:
    path = tmp_path / "weights.pth"
    path.write_bytes(content)
    with pytest.raises(InvalidInputError, match=message):
        load_model(spec, path)


def test_a_pickle_of_objects_is_not_run(tmp_path: Path, spec: ModelSpec) -> None:
    path = tmp_path / "object.pth"
    torch.save({"model": NotATensor()}, path)
    with pytest.raises(InvalidInputError, match=r"objects other than tensors .* \(weights_only=True\)"):
        load_model(spec, path)


def test_a_dict_without_tensors_is_refused(tmp_path: Path, spec: ModelSpec) -> None:
    path = tmp_path / "config.ckpt"
    torch.save({"epoch": 3, "hyper_parameters": {"lr": 0.02}}, path)
    with pytest.raises(InvalidInputError, match="is not a state dict"):
        load_model(spec, path)


def test_missing_or_absent_weights_are_refused(tmp_path: Path, spec: ModelSpec) -> None:
    with pytest.raises(InvalidInputError, match="ships no weights: give a checkpoint file"):
        load_model(spec)
    with pytest.raises(InvalidInputError, match="does not exist"):
        load_model(spec, tmp_path / "absent.pth")
