"""`ocsge train` writes where it is told and never over an existing model (the tracked default included) unless
told to: a one-step training on the real Montpellier patch, run as the installed command."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from ocsge_processes.segmentation import get_model

from ..conftest import SHARED, ocsge

DATA = SHARED / "montpellier-ortho-lidar"
SOURCES = [
    "--rgb",
    str(DATA / "ortho" / "test_data_rgb.tif"),
    "--irc",
    str(DATA / "ortho" / "test_data_irc.tif"),
    "--lidar",
    str(DATA / "lidar" / "test_data_77055_627760_LA93_IGN69.laz"),
    "--steps",
    "1",
]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def shipped() -> dict[Path, str]:
    """The tracked default model's weights and scores, by hash."""
    checkpoint = get_model("default").checkpoint
    assert checkpoint is not None and checkpoint.is_file()
    return {path: digest(path) for path in (checkpoint, checkpoint.with_suffix(".json"))}


@pytest.mark.slow
def test_train_writes_a_new_file_and_replaces_one_only_with_overwrite(tmp_path: Path) -> None:
    before = shipped()
    out = tmp_path / "models" / "mine.pt"
    first = ocsge("train", *SOURCES, "--out", str(out))
    assert first.returncode == 0, first.stderr
    assert json.loads(out.with_suffix(".json").read_text())["steps"] == 1
    weights = digest(out)

    again = ocsge("train", *SOURCES, "--seed", "1", "--out", str(out), check=False)
    assert again.returncode != 0
    assert "already exist" in again.stderr and "--overwrite" in again.stderr, again.stderr
    assert "training" not in again.stderr, "refused before training, not after"
    assert digest(out) == weights

    replaced = ocsge("train", *SOURCES, "--seed", "1", "--out", str(out), "--overwrite")
    assert replaced.returncode == 0, replaced.stderr
    assert digest(out) != weights, "a different seed, so different weights"
    assert json.loads(out.with_suffix(".json").read_text())["seed"] == 1
    assert shipped() == before


def test_train_needs_an_out_and_refuses_the_shipped_model_without_overwrite() -> None:
    before = shipped()
    missing = ocsge("train", *SOURCES, check=False)
    assert missing.returncode == 2 and "Missing option '--out'" in missing.stderr, missing.stderr
    checkpoint = next(iter(before))
    over = ocsge("train", *SOURCES, "--out", str(checkpoint), check=False)
    assert over.returncode == 1 and "--overwrite" in over.stderr, over.stderr
    assert shipped() == before


def test_train_refuses_an_out_that_is_not_a_pt_file(tmp_path: Path) -> None:
    """The scores are written beside the weights as .json: a .json --out would be overwritten by them."""
    bad = ocsge("train", *SOURCES, "--out", str(tmp_path / "scores.json"), check=False)
    assert bad.returncode == 2 and "must end in .pt" in bad.stderr, bad.stderr
    assert not list(tmp_path.iterdir())
