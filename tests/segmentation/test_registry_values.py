"""``config/models.yml`` values of the wrong kind are refused with a message naming the file, model and key.

mypy --strict found that the registry iterated whatever YAML gave for ``bands``, ``mean``, ``std`` and ``masked``:
a scalar there raised a bare ``TypeError`` ("'int' object is not iterable") and a word among the numbers a bare
``ValueError``, neither saying which file or model was wrong.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ocsge_processes.resources import config_dir
from ocsge_processes.segmentation.registry import RegistryError, load_models

MODEL = "FLAIR-INC_rgb_15cl"


def _registry_with(tmp_path: Path, key: str, value: object) -> Path:
    document = yaml.safe_load((config_dir() / "models.yml").read_text(encoding="utf-8"))
    document["models"][MODEL][key] = value
    path = tmp_path / "models.yml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("key", "value", "message"),
    [
        ("bands", 3, "bands must be a list, not 3"),
        ("mean", 5, "mean must be a list, not 5"),
        ("std", "52.17", "std must be a list, not '52.17'"),
        ("mean", ["a", "b", "c"], r"mean must be a list of numbers, not \['a', 'b', 'c'\]"),
        ("std", [52.17, None, 44.0], "std must be a list of numbers"),
        ("masked", 15, "masked must be a list, not 15"),
        ("masked", ["fifteen"], "masked must be a list of numbers"),
    ],
)
def test_a_value_of_the_wrong_kind_names_the_file_model_and_key(
    tmp_path: Path, key: str, value: object, message: str
) -> None:
    path = _registry_with(tmp_path, key, value)
    with pytest.raises(RegistryError, match=message) as caught:
        load_models(path)
    assert str(caught.value).startswith(f"{path}: model {MODEL}: ")


def test_integers_are_numbers_for_mean_and_std(tmp_path: Path) -> None:
    spec = load_models(_registry_with(tmp_path, "mean", [105, 110, 101]))[MODEL]
    assert spec.mean == (105.0, 110.0, 101.0)
    assert all(isinstance(value, float) for value in spec.mean)
