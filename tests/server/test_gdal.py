"""GDAL's OGC API Features driver, a real client, reads the live server on both stores."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import requests

from ocsge_processes.stores import open_store

from ..conftest import SYBARVAL_DIFF_ROWS


def _ogr(*args: str) -> str:
    done = subprocess.run(list(args), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_ogrinfo_lists_the_collections(server: str) -> None:
    out = _ogr("ogrinfo", "-ro", "-q", f"OAPIF:{server}")
    for collection in ("ocsge-occupation-sol", "ocsge-difference", "ocsge-zone-construite", "communes"):
        assert collection in out


@pytest.mark.parametrize("collection", ["ocsge-difference", "ocsge-occupation-sol"])
def test_ogr2ogr_fetches_every_feature_following_next_links(
    server: str, store_url: str, collection: str, tmp_path: Path
) -> None:
    matched = requests.get(f"{server}/collections/{collection}/items", params={"limit": 1}).json()["numberMatched"]
    out = tmp_path / "copy.geojson"
    # A small page size forces GDAL through many `next` links.
    _ogr("ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{server}/collections/{collection}", "-oo", "PAGE_SIZE=997")
    features = json.loads(out.read_text())["features"]
    table = collection.removeprefix("ocsge-").replace("-", "_")
    stored = open_store(store_url).tables()[table]
    assert len(features) == matched == stored
    # IGN ids recur across millésimes: an object is its id within its millésime(s).
    keys = [(p["id"], p.get("millesime"), p.get("millesime_avant")) for p in (f["properties"] for f in features)]
    assert len(set(keys)) == len(keys), "paging returned a feature twice"
    if collection == "ocsge-difference":
        real = [f for f in features if f["properties"]["millesime_avant"] == 2015]
        assert len(real) == SYBARVAL_DIFF_ROWS


def test_ogrinfo_reads_schema_and_crs(server: str) -> None:
    out = _ogr("ogrinfo", "-ro", "-so", f"OAPIF:{server}", "ocsge-occupation-sol")
    for field in ("code_cs: String", "code_us: String", "millesime: Integer", "libelle_cs", "departement"):
        assert field in out
    assert "Feature Count" in out and "Lambert" not in out.split("Layer SRS WKT")[0]
    assert 'ID["OGC","CRS84"]' in out or "WGS 84" in out
