"""A FLAIR-HUB model through the `segmentation` process over live HTTP: a checkpoint in IGN's layout runs on the real
Montpellier patch (NIR from the IRC file, read back with rasterio, untrained classes absent), and a checkpoint of
another encoder family gets a 400 that names what the file holds and what the model expects.

The server reads a copy of config/ whose models.yml points two FLAIR-HUB entries at local files (the only way a
server gets weights: the process takes a model name, never a file). The ConvNeXtV2 entry is narrowed to the atto
width, with the module names of the published one, to keep the shared CPU free.
"""

from __future__ import annotations

import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
import rasterio
import requests
import yaml
from safetensors.torch import save_file

from deploy.services import web_server
from ocsge_processes.resources import config_dir
from ocsge_processes.segmentation import cs_values, load_models
from tests.conftest import BIN, SHARED, ocsge

from .conftest import random_state_dict
from .test_flairhub import ign_layout

pytestmark = pytest.mark.slow  # a live server and a network on the CPU

HERAULT = SHARED / "communes-admin-express-2018" / "34-herault" / "communes-34-herault.geojson"
CONVNEXT, SWIN = "FLAIR-HUB_LC-A_IR_convnextv2tiny-upernet", "FLAIR-HUB_LC-A_IR_swintiny-upernet"
INPUTS = {
    "image": {"path": "montpellier-ortho-lidar/ortho/test_data_rgb.tif"},
    "irc": {"path": "montpellier-ortho-lidar/ortho/test_data_irc.tif"},
}


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    folder = tmp_path_factory.mktemp("flairhub-server")
    config = folder / "config"
    shutil.copytree(config_dir(), config)
    document = yaml.safe_load((config / "models.yml").read_text(encoding="utf-8"))
    document["models"][CONVNEXT].update(encoder="tu-convnextv2_atto", checkpoint=str(folder / "convnext.safetensors"))
    document["models"][SWIN]["checkpoint"] = str(folder / "convnext.safetensors")  # another family than Swin
    (config / "models.yml").write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    spec = load_models(config / "models.yml")[CONVNEXT]
    ign = ign_layout(random_state_dict(spec), spec)
    save_file({key.removeprefix("model."): value.contiguous() for key, value in ign.items()}, spec.checkpoint)
    store = folder / "communes.gpkg"
    ocsge("ingest", "--store", str(store), str(HERAULT))
    env = {"OCSGE_DATA_DIR": str(SHARED), "OCSGE_CONFIG_DIR": str(config), "HF_HUB_OFFLINE": "1"}
    with web_server(str(store), folder / "server", BIN, **env) as url:
        yield url, config


def _execute(server: str, model: str, output: str | None = None) -> requests.Response:
    body = {"inputs": {**INPUTS, "model": model}, **({"outputs": {output: {}}} if output else {})}
    return requests.post(f"{server}/processes/segmentation/execution", json=body, timeout=300)


def test_a_flair_hub_checkpoint_runs_through_the_process(live: tuple[str, Path]) -> None:
    server, config = live
    response = _execute(server, CONVNEXT, "classification")
    assert response.status_code == 200, response.text[:300]
    spec = load_models(config / "models.yml")[CONVNEXT]
    value_of = {code: value for value, code in cs_values().items()}
    trained = {value_of[klass.cs] for klass in spec.classes if klass.cs and klass.code not in spec.masked}
    with rasterio.open(io.BytesIO(response.content)) as result:
        assert result.tags()["OCSGE_MODEL"] == CONVNEXT
        assert (result.width, result.height) == (252, 252)
        values = set(result.read(1).ravel().tolist()) - {0}
    assert values and values <= trained
    # Mixed (CS2.1.1.3) comes only from a masked class: it never appears.
    assert value_of["CS2.1.1.3"] not in values


def test_a_checkpoint_of_another_family_gets_a_400_naming_both(live: tuple[str, Path]) -> None:
    response = _execute(live[0], SWIN)
    assert response.status_code == 400, response.text[:300]
    description = response.json()["description"]
    assert "holds a FLAIR-HUB UPerNet with a ConvNeXt encoder" in description
    assert f"model {SWIN} is a UPerNet with a Swin encoder" in description
