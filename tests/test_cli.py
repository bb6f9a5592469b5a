"""The `ocsge` command as a user runs it: idempotent ingest, refusal of bad files with the store left as it was."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from ocsge_processes.layers import AI_COUVERTURE_NOTICE, LAYERS
from ocsge_processes.schema import collection_schema
from ocsge_processes.stores.gpkg import GpkgStore

from .conftest import BIN, ROOT, SHARED, SYBARVAL, ocsge


@pytest.mark.slow
def test_ingest_is_idempotent(tmp_path: Path) -> None:
    store = tmp_path / "s.gpkg"
    first = ocsge("ingest", "--store", str(store), str(SYBARVAL))
    assert "ocsge-difference: 5266 features" in first.stdout + first.stderr
    ocsge("ingest", "--store", str(store), str(SYBARVAL))
    assert GpkgStore(store).tables() == {"difference": 5266, "communes": 17}


@pytest.mark.slow
def test_bad_file_is_refused_and_the_store_is_unchanged(tmp_path: Path) -> None:
    store = tmp_path / "s.gpkg"
    ocsge("ingest", "--store", str(store), str(SYBARVAL))
    before = store.read_bytes()
    corrupt = tmp_path / "OCS-GE_2-0__GPKG_LAMB93_D033_2021-01-01.7z"
    corrupt.write_bytes(b"7z\xbc\xaf\x27\x1c" + b"\x00" * 40)
    done = ocsge("ingest", "--store", str(store), str(SYBARVAL), str(corrupt), check=False)
    assert done.returncode != 0
    assert corrupt.name in done.stderr
    assert store.read_bytes() == before


def test_schemas_folder_is_up_to_date() -> None:
    for layer in LAYERS.values():
        committed = json.loads((ROOT / "schemas" / f"{layer.collection_id}.json").read_text(encoding="utf-8"))
        assert committed == collection_schema(layer), f"run `ocsge schemas` to refresh {layer.collection_id}"


def test_openapi_document_validates(server: str, tmp_path: Path) -> None:
    """`pygeoapi openapi validate` passes on the document the live server publishes."""
    document = requests.get(f"{server}/openapi", params={"f": "json"}, timeout=30).json()
    path = tmp_path / "openapi.yml"
    path.write_text(yaml.safe_dump(document), encoding="utf-8")
    done = subprocess.run([str(BIN / "pygeoapi"), "openapi", "validate", str(path)], capture_output=True, text=True)
    assert "Valid OpenAPI document" in done.stdout, done.stdout + done.stderr
    assert "code_cs" in json.dumps(document["paths"]["/collections/ocsge-occupation-sol/items"])


@pytest.mark.slow
def test_segment_writes_a_cog_on_the_image_grid_and_polygons_gdal_reads(tmp_path: Path) -> None:
    import rasterio

    ortho = SHARED / "montpellier-ortho-lidar" / "ortho"
    out, vectors = tmp_path / "classes.tif", tmp_path / "classes.gpkg"
    result = ocsge(
        "segment",
        str(ortho / "test_data_rgb.tif"),
        "--irc",
        str(ortho / "test_data_irc.tif"),
        "--out",
        str(out),
        "--vectors",
        str(vectors),
        "--window",
        "128",
        "--margin",
        "32",
    )
    assert "windows on cpu" in result.stdout or "windows on cuda" in result.stdout
    assert AI_COUVERTURE_NOTICE in result.stdout  # AI couverture is said not to be OCS GE
    with rasterio.open(out) as classes, rasterio.open(ortho / "test_data_rgb.tif") as source:
        assert classes.transform == source.transform and classes.crs == source.crs
    info = subprocess.run(["ogrinfo", "-so", "-al", str(vectors)], capture_output=True, text=True, check=True).stdout
    assert "code_cs" in info and "Feature Count: 0" not in info


@pytest.mark.slow
def test_segment_with_a_flair_model_needs_its_weights(tmp_path: Path) -> None:
    ortho = SHARED / "montpellier-ortho-lidar" / "ortho"
    result = subprocess.run(
        [
            str(BIN / "ocsge"),
            "segment",
            str(ortho / "test_data_rgb.tif"),
            "--out",
            str(tmp_path / "x.tif"),
            "--bands",
            "R,G,B,NIR,E",
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "FLAIR-INC_rgbie_15cl ships no weights" in result.stderr
