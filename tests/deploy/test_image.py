"""The container image, built from nothing but Debian and PyPI and run with buildah: GDAL reads its server, one
artificialisation execution runs in it, and it is laid out as the Dockerfile promises (non-root, healthcheck,
dependencies below the code, no data inside)."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
import requests

from ocsge_processes.stores import open_store
from ocsge_processes.workflows.artificialisation import run

from . import image

pytestmark = pytest.mark.slow

INPUTS = {"territoire": {"communes": ["33009", "33527"]}, "millesimes": [2021, 2024], "detail_communes": True}


def _codes(ogrinfo_source: str, layer: str | None = None) -> list[str]:
    """The communes' INSEE codes as ``ogrinfo`` reads them from a GDAL data source."""
    command = ["ogrinfo", "-ro", "-q", "-geom=NO", *(["-al"] if layer is None else []), ogrinfo_source]
    out = subprocess.run([*command, *([layer] if layer else [])], capture_output=True, text=True, check=True).stdout
    return sorted(re.findall(r"code_insee \(String\) = (\S+)", out))


def test_gdal_reads_the_collections_served_from_the_image(image_server: str, data_volume: Path) -> None:
    listing = subprocess.run(
        ["ogrinfo", "-ro", "-q", f"OAPIF:{image_server}"], capture_output=True, text=True, check=True
    ).stdout
    assert "communes" in listing and "artificialisation-communes" in listing, listing
    served = _codes(f"OAPIF:{image_server}/collections/communes")
    stored = _codes(str(data_volume / "ocsge.gpkg"), "communes")
    assert served and served == stored


def test_artificialisation_runs_in_the_image(image_server: str, data_volume: Path) -> None:
    """The image's Python (Debian's, not the tests') gives the document the host's library computes."""
    response = requests.post(
        f"{image_server}/processes/artificialisation/execution", json={"inputs": INPUTS}, timeout=300
    )
    assert response.status_code == 200, response.text
    served = response.json()
    store = open_store(str(data_volume / "ocsge.gpkg"))
    expected = json.loads(json.dumps(run(store, INPUTS["territoire"], INPUTS["millesimes"], detail_communes=True)))
    assert served["periodes"] == expected["periodes"] == ["2021-2024"]
    assert [c["code"] for c in served["communes"]] == ["33009", "33527"]
    # Both sides publish surfaces to 0.0001 ha: another build of numpy/shapely may flip one last-digit rounding.
    assert served == _approx(expected, abs=1e-4)
    assert served["territoires"][0]["artificialisation_ha"] > 0


def _approx(value: object, abs: float) -> object:
    """``value`` with every float compared within ``abs`` (pytest.approx does not reach into nested documents)."""
    if isinstance(value, dict):
        return {key: _approx(item, abs) for key, item in value.items()}
    if isinstance(value, list):
        return [_approx(item, abs) for item in value]
    if isinstance(value, float):
        return pytest.approx(value, abs=abs)
    return value


def test_healthcheck_passes_against_the_running_server(image_server: str, image_container: str) -> None:
    kind, *check = image.config()["Healthcheck"]["Test"]
    command = ["sh", "-c", *check] if kind == "CMD-SHELL" else check
    port = image_server.rsplit(":", 1)[1]
    image.run(image_container, *command, env={"OCSGE_PORT": port})  # raises on a non-zero exit
    with pytest.raises(RuntimeError):  # and it does fail where nothing answers
        image.run(image_container, *command, env={"OCSGE_PORT": "9"})


def test_runs_unprivileged_with_python_gdal_and_torch(image_container: str, image_user: tuple[int, int]) -> None:
    assert image.config()["User"] == "ocsge" and image_user[0] != 0
    probe = (
        "import json, sys, pyogrio, rasterio, torch; print(json.dumps({'python': sys.version_info[:2], "
        "'gdal': pyogrio.__gdal_version_string__, 'rasterio_gdal': rasterio.__gdal_version__, "
        "'torch': torch.__version__, 'cuda': torch.version.cuda}))"
    )
    versions = json.loads(image.run(image_container, "python", "-c", probe).splitlines()[-1])
    print(f"in the image: {versions}")
    assert tuple(versions["python"]) >= (3, 12)
    assert versions["gdal"].startswith("3.") and versions["rasterio_gdal"].startswith("3.")
    assert versions["cuda"], "the PyPI torch wheel carries its CUDA runtime, so one image serves GPU hosts"


def test_dependencies_are_installed_below_the_code(built_image: str) -> None:
    """A code change must not reinstall the 4 GB of dependencies: their layer comes before any code is copied."""
    steps = json.loads(image.buildah("inspect", built_image))["Docker"]["history"]
    history = [step.get("created_by", "") for step in steps]
    deps = next(i for i, step in enumerate(history) if "requirements.txt" in step)
    code = next(i for i, step in enumerate(history) if "/tmp/wheels" in step)
    assert deps < code, history
    assert not any("COPY" in step and "ocsge_processes" in step for step in history[: deps + 1])


def test_the_image_holds_no_data(image_container: str) -> None:
    """The store is mounted at /data (or is a PostGIS URL); nothing of data/ or shared/ is copied in."""
    assert image.run(image_container, "ls", "-A", "/data").strip() == ""
    assert image.config()["Env"] and any(env == "OCSGE_STORE=/data/ocsge.gpkg" for env in image.config()["Env"])
