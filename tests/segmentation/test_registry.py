"""The model registry: shipped models, validation of ``config/models.yml``, legends."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from ocsge_processes.errors import InvalidInputError, UnknownCodeError
from ocsge_processes.nomenclature import couverture
from ocsge_processes.resources import config_dir
from ocsge_processes.segmentation import (
    RegistryError,
    cs_values,
    get_model,
    legend,
    load_models,
    models,
)


def test_shipped_flair_models_follow_ign_facts() -> None:
    shipped = models()
    bands = {"FLAIR-INC_rgbie_15cl": "R,G,B,NIR,E", "FLAIR-INC_rgbi_15cl": "R,G,B,NIR", "FLAIR-INC_rgb_15cl": "R,G,B"}
    for name, expected in bands.items():
        spec = shipped[name]
        assert ",".join(spec.bands) == expected
        assert (spec.architecture, spec.encoder) == ("Unet", "resnet34")
        assert [klass.code for klass in spec.classes] == list(range(1, 20))
        assert spec.masked == {15, 16, 17, 19}
        assert spec.masked_channels == [14, 15, 16, 18]
        assert spec.mean[:3] == (105.08, 110.87, 101.82) and spec.std[:3] == (52.17, 45.38, 44.00)
        assert spec.checkpoint is None
    assert shipped["FLAIR-INC_rgbie_12cl"].masked == set(range(13, 20))


def test_every_mapped_class_is_a_couverture_leaf() -> None:
    leaves = set(couverture().leaves())
    for spec in models().values():
        assert {klass.cs for klass in spec.classes} - {None} <= leaves
    flair = {klass.name: klass.cs for klass in get_model("FLAIR-INC_rgbie_15cl").classes}
    assert flair["building"] == "CS1.1.1.1" and flair["impervious surface"] == "CS1.1.1.2"
    assert flair["other"] is None


def test_unknown_model_lists_the_known_ones() -> None:
    with pytest.raises(UnknownCodeError, match="unknown segmentation model 'nope'.*FLAIR-INC_rgbie_15cl") as caught:
        get_model("nope")
    assert isinstance(caught.value, InvalidInputError)


def _edited_registry(tmp_path: Path, edit) -> Path:
    document = yaml.safe_load((config_dir() / "models.yml").read_text(encoding="utf-8"))
    edit(document)
    path = tmp_path / "models.yml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["class_sets"]["flair"][0].update(cs="CS9.9"), r"maps to 'CS9.9', which is not a couverture leaf"),
        (lambda d: d["class_sets"]["flair"][0].update(cs="CS1.1"), r"not a couverture leaf"),
        (lambda d: d["models"]["FLAIR-INC_rgb_15cl"].update(mean=[1, 2]), r"one value per band \(3\)"),
        (
            lambda d: d["models"]["FLAIR-INC_rgb_15cl"].update(bands=["R", "G", "SWIR"]),
            r"bands .* among R, G, B, NIR, E",
        ),
        (lambda d: d["models"]["FLAIR-INC_rgb_15cl"].update(masked=[42]), r"masked classes \[42\]"),
        (lambda d: d["models"]["FLAIR-INC_rgb_15cl"].update(classes="lpis"), r"unknown class set 'lpis'"),
        (lambda d: d["models"]["FLAIR-INC_rgb_15cl"].pop("encoder"), r"FLAIR-INC_rgb_15cl has no 'encoder'"),
    ],
)
def test_malformed_registry_is_refused_on_load(tmp_path: Path, edit, message: str) -> None:
    with pytest.raises(RegistryError, match=message):
        load_models(_edited_registry(tmp_path, edit))


def test_relative_checkpoint_is_found_beside_the_registry(tmp_path: Path) -> None:
    path = _edited_registry(tmp_path, lambda d: d["models"]["FLAIR-INC_rgb_15cl"].update(checkpoint="w/rgb.pth"))
    assert load_models(path)["FLAIR-INC_rgb_15cl"].checkpoint == tmp_path / "w" / "rgb.pth"


def test_legends_map_channels_to_pixel_values() -> None:
    spec = get_model("FLAIR-INC_rgbie_15cl")
    values = cs_values()
    assert list(values.values()) == couverture().leaves() and min(values) == 1
    cs = legend(spec, "cs")
    assert [values.get(int(value)) for value in cs.lut] == [klass.cs for klass in spec.classes]
    assert cs.colors[0][3] == 0 and cs.colors[1] == (0xFF, 0x37, 0x7A, 255)
    assert list(legend(spec, "class").lut) == list(range(1, 20))
    with pytest.raises(InvalidInputError, match="unknown output 'rgb'; expected one of cs, class"):
        legend(spec, "rgb")
