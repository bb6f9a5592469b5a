"""The `extraction` process over live HTTP, on both stores, shaped like the Géoplateforme's vector extraction.

No client code of the QGIS Géoplateforme plugin sends /extraction requests: its repository
(Geoplateforme/plugin-qgis-geoplateforme, commit 72679a0 of 2026-01-21) only federates "BD TOPO® Extractor", a
separate plugin that reads the WFS. The request body replayed here is therefore the one the Géoplateforme documents
(IGNF/cartes.gouv.fr-documentation, content/fr/guides-utilisateur/utiliser-les-services-de-la-geoplateforme/
extraction.md, "Paramétrer une extraction"): the same members and values (relations with attributes ending in the
geometry and filters, format GPKG, append, compression 7zip, srs EPSG:3857, lifetime 336, outputs logs, summary,
extractedData), with our tables, and its PostGIS filter sent verbatim to show it is refused with a clear 400.
Every format is read back by a real reader: GDAL's ogrinfo for GeoPackage, GeoJSON and zipped shapefiles (also
over HTTP through /vsicurl/, which reads with range requests), geopandas/pyarrow for GeoParquet; the expected
counts come from the same CQL2 filters asked of OGC API – Features.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import py7zr
import pyarrow.parquet as pq
import pytest
import requests
from owslib.ogcapi.processes import Processes

from deploy.services import web_server
from ocsge_processes.results import open_results
from tests import services

from ..conftest import BIN, SHARED

OCCUPATION = "ocsge-occupation-sol"
ARTIFICIAL = "code_cs LIKE 'CS1.1%'"
#: The filter of the documented request body, verbatim (a PostGIS WHERE).
DOCUMENTED_FILTER = (
    "ST_intersects(attribut_geometrie,st_transform(st_setsrid('POLYGON ((893173.37413014 6245898.77978964,"
    "897816.865990493 6246039.4916642,897852.043959132 6241747.77949023,893208.552098779 6241501.53370976,"
    "893208.552098779 6241501.53370976,893173.37413014 6245898.77978964))'::geometry,2154),2154)) AND "
    "attribut1='Valeur texte de filtrage'"
)


@pytest.fixture(scope="module")
def served(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """A live server on the store, and its job database (the result store): SQLite beside the GeoPackage store,
    PostgreSQL beside PostGIS, so that both result stores are served over HTTP."""
    folder = tmp_path_factory.mktemp("extraction")
    if store_url.startswith("postgresql://"):
        jobs = services.fresh_database(store_url, "ocsge_extraction_jobs")
    else:
        jobs = str(folder / "jobs.sqlite")
    with web_server(store_url, folder, BIN, OCSGE_DATA_DIR=str(SHARED), OCSGE_JOBS=jobs) as url:
        yield url, jobs


@pytest.fixture(scope="module")
def server(served: tuple[str, str]) -> str:
    return served[0]


@pytest.fixture(scope="module")
def artificial(server: str) -> str:
    """A CQL2 filter of some thousands of features at most: artificial covers in a quarter of the extent."""
    return f"{ARTIFICIAL} AND S_INTERSECTS(geometry, {_quarter(server, OCCUPATION)})"


def _submit(server: str, body: dict) -> requests.Response:
    return requests.post(
        f"{server}/processes/extraction/execution", json=body, headers={"Prefer": "respond-async"}, timeout=60
    )


def _extract(server: str, inputs: dict, outputs: dict | None = None) -> tuple[str, dict]:
    """Run an extraction as an async job; its id and its results document."""
    response = _submit(server, {"inputs": inputs, **({"outputs": outputs} if outputs else {})})
    assert response.status_code == 201, response.text
    job_id = response.headers["Location"].rstrip("/").rsplit("/", 1)[-1]
    status = services.wait_for_job(server, job_id)
    assert status["status"] == "successful", status["message"]
    results = requests.get(f"{server}/jobs/{job_id}/results", params={"f": "json"}, timeout=30)
    assert results.status_code == 200, results.text
    return job_id, results.json()


def _download(href: str, folder: Path) -> Path:
    response = requests.get(href, timeout=60)
    assert response.status_code == 200, response.text
    path = folder / href.rsplit("/", 1)[-1]
    path.write_bytes(response.content)
    return path


def _expected(server: str, collection: str, cql: str | None) -> list[dict]:
    """The features OGC API – Features gives for the same CQL2 filter (properties only)."""
    params = {"limit": 10000, "skipGeometry": "true", "f": "json"}
    if cql:
        params |= {"filter": cql, "filter-lang": "cql2-text"}
    features: list[dict] = []
    url: str | None = f"{server}/collections/{collection}/items"
    while url:
        page = requests.get(url, params=params, timeout=120).json()
        features.extend(page["features"])
        url = next((link["href"] for link in page["links"] if link["rel"] == "next"), None)
        params = {}  # the next link carries them
    return features


def _ogrinfo(source: str) -> dict[str, tuple[int, str]]:
    """Each layer GDAL reads in ``source``: its feature count and its full summary text."""
    text = subprocess.run(["ogrinfo", "-ro", "-so", "-al", source], capture_output=True, text=True, check=True).stdout
    layers = {}
    for block in text.split("Layer name: ")[1:]:
        name = block.splitlines()[0].strip()
        layers[name] = (int(re.search(r"Feature Count: (\d+)", block).group(1)), block)
    return layers


def _quarter(server: str, collection: str) -> str:
    """A CQL2 polygon over the south-west quarter of the collection's extent (CRS84), so that the spatial filter
    selects some features and leaves others out whatever data the store holds."""
    bbox = requests.get(f"{server}/collections/{collection}", params={"f": "json"}, timeout=30).json()["extent"]
    minx, miny, maxx, maxy = bbox["spatial"]["bbox"][0]
    midx, midy = (minx + maxx) / 2, (miny + maxy) / 2
    return f"POLYGON(({minx} {miny}, {midx} {miny}, {midx} {midy}, {minx} {midy}, {minx} {miny}))"


def test_process_is_described_with_the_geoplateforme_inputs(server: str) -> None:
    description = Processes(server).process("extraction")
    assert set(description["inputs"]) == {"relations", "format", "srs", "append", "compression", "lifetime"}
    assert set(description["outputs"]) == {"logs", "summary", "extractedData"}
    assert description["jobControlOptions"] == ["async-execute"]
    assert {"GPKG", "GEOJSON", "PARQUET", "ESRI SHAPEFILE"} <= set(description["inputs"]["format"]["schema"]["enum"])


def test_documented_request_with_its_postgis_filter_is_refused_naming_it(server: str) -> None:
    body = {
        "inputs": {
            "relations": {
                OCCUPATION: {"attributes": ["code_cs", "code_us", "geometry"], "filters": DOCUMENTED_FILTER},
            },
            "format": "GPKG",
            "append": True,
            "compression": "7zip",
            "srs": "EPSG:3857",
            "lifetime": 336,
        },
        "outputs": {"logs": {}, "summary": {}, "extractedData": {}},
    }
    response = _submit(server, body)
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "InvalidParameterValue"
    assert "PostGIS SQL" in response.json()["description"] and "CQL2" in response.json()["description"]


def test_documented_request_in_cql2_extracts_two_tables_into_one_archive(server: str, tmp_path: Path) -> None:
    spatial = f"S_INTERSECTS(geometry, {_quarter(server, OCCUPATION)})"
    body_inputs = {
        "relations": {
            OCCUPATION: {"attributes": ["code_cs", "code_us", "millesime", "geometry"], "filters": spatial},
            "COMMUNES": {"attributes": ["code_insee", "nom", "geometry"]},  # the IGN layer name, as an alias
        },
        "format": "GPKG",
        "append": True,
        "compression": "7zip",
        "srs": "EPSG:3857",
        "lifetime": 336,
    }
    _, results = _extract(server, body_inputs, {"logs": {}, "summary": {}, "extractedData": {}})
    expected = {
        OCCUPATION: len(_expected(server, OCCUPATION, spatial)),
        "COMMUNES": len(_expected(server, "communes", None)),
    }
    everything = requests.get(f"{server}/collections/{OCCUPATION}/items", params={"limit": 1, "f": "json"}, timeout=60)
    assert 0 < expected[OCCUPATION] < everything.json()["numberMatched"]  # the filter selects
    summary = results["summary"]
    assert {t["table"]: t["features"] for t in summary["tables"]} == expected
    assert summary["srs"] == "EPSG:3857" and summary["lifetime"] == 336 and results["logs"]
    (link,) = results["extractedData"]
    assert link["type"] == "application/x-7z-compressed"
    archive = _download(link["href"], tmp_path)
    with py7zr.SevenZipFile(archive) as seven:
        seven.extractall(tmp_path / "out")
    layers = _ogrinfo(str(tmp_path / "out" / "extraction.gpkg"))
    assert {name: count for name, (count, _) in layers.items()} == expected
    assert "Pseudo-Mercator" in layers[OCCUPATION][1]
    assert all(field in layers[OCCUPATION][1] for field in ("code_cs: String", "millesime: Integer"))


@pytest.mark.parametrize("fmt", ["GPKG", "GEOJSON", "ESRI SHAPEFILE", "PARQUET"])
def test_every_format_reads_back(server: str, artificial: str, tmp_path: Path, fmt: str) -> None:
    inputs = {
        "relations": {
            OCCUPATION: {"attributes": ["code_cs", "code_us", "millesime", "geometry"], "filters": artificial}
        },
        "format": fmt,
        "lifetime": 7,
    }
    _, results = _extract(server, inputs)
    expected = _expected(server, OCCUPATION, artificial)
    codes = sorted(f["properties"]["code_cs"] for f in expected)
    assert codes and all(code.startswith("CS1.1") for code in codes)
    (link,) = results["extractedData"]
    path = _download(link["href"], tmp_path)
    assert path.stat().st_size == link["length"]
    if fmt == "PARQUET":
        assert b"geo" in pq.read_schema(path).metadata  # GeoParquet metadata
        frame = gpd.read_parquet(path)
        assert sorted(frame["code_cs"]) == codes and frame.crs.to_epsg() == 2154
        assert frame.geometry.notna().all() and str(frame["millesime"].dtype).lower().startswith("int")
        return
    source = f"/vsizip/{path}" if fmt == "ESRI SHAPEFILE" else str(path)
    ((count, text),) = _ogrinfo(source).values()
    assert count == len(codes) and "code_cs: String" in text
    assert "Lambert" in text or "2154" in text
    column = subprocess.run(
        ["ogr2ogr", "-f", "CSV", "/vsistdout/", source, "-select", "code_cs"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()[1:]
    assert sorted(column) == codes


def test_attributes_only_and_srs_wgs84(server: str, artificial: str, tmp_path: Path) -> None:
    inputs = {
        "relations": {
            "communes": {"attributes": ["code_insee", "nom"]},
            "ocsge-occupation-sol": {"attributes": ["code_cs", "geometry"], "filters": artificial},
        },
        "format": "GEOJSON",
        "srs": "EPSG:4326",
    }
    _, results = _extract(server, inputs)
    files = {link["title"]: _download(link["href"], tmp_path) for link in results["extractedData"]}
    communes = json.loads(files["communes.geojson"].read_text())
    assert {f["properties"]["code_insee"] for f in communes["features"]} == {
        f["properties"]["code_insee"] for f in _expected(server, "communes", None)
    }
    assert all(f["geometry"] is None and set(f["properties"]) == {"code_insee", "nom"} for f in communes["features"])
    occupation = json.loads(files[f"{OCCUPATION}.geojson"].read_text())
    lon, lat = occupation["features"][0]["geometry"]["coordinates"][0][0][0]
    assert -2 < lon < 1 and 43 < lat < 46  # Gironde, longitude first as GeoJSON files hold it


def test_results_are_served_with_ranges_etags_and_read_by_gdal_over_http(server: str, artificial: str) -> None:
    _, results = _extract(
        server,
        {"relations": {OCCUPATION: {"attributes": ["code_cs", "geometry"], "filters": artificial}}, "format": "GPKG"},
    )
    href = results["extractedData"][0]["href"]
    whole = requests.get(href, timeout=60)
    etag, size = whole.headers["ETag"], len(whole.content)
    assert whole.headers["Accept-Ranges"] == "bytes" and int(whole.headers["Content-Length"]) == size
    part = requests.get(href, headers={"Range": "bytes=0-15"}, timeout=30)
    assert part.status_code == 206 and part.content == b"SQLite format 3\x00"
    assert part.headers["Content-Range"] == f"bytes 0-15/{size}"
    tail = requests.get(href, headers={"Range": "bytes=-100"}, timeout=30)
    assert tail.status_code == 206 and tail.content == whole.content[-100:]
    assert requests.get(href, headers={"If-None-Match": etag}, timeout=30).status_code == 304
    stale = requests.get(href, headers={"Range": "bytes=0-15", "If-Range": '"other"'}, timeout=30)
    assert stale.status_code == 200 and stale.content == whole.content
    beyond = requests.get(href, headers={"Range": f"bytes={size}-"}, timeout=30)
    assert beyond.status_code == 416 and beyond.headers["Content-Range"] == f"bytes */{size}"
    head = requests.head(href, timeout=30)
    assert head.status_code == 200 and int(head.headers["Content-Length"]) == size and not head.content
    ((count, _),) = _ogrinfo(f"/vsicurl/{href}").values()  # GDAL reads the GeoPackage by ranges over HTTP
    assert count == len(_expected(server, OCCUPATION, artificial))


def test_dismissing_the_job_removes_its_files(server: str) -> None:
    job_id, results = _extract(
        server, {"relations": {"communes": {"attributes": ["code_insee", "geometry"]}}, "format": "GPKG"}
    )
    href = results["extractedData"][0]["href"]
    assert requests.get(href, timeout=30).status_code == 200
    assert requests.delete(f"{server}/jobs/{job_id}", timeout=30).status_code == 200
    gone = requests.get(href, timeout=30)
    assert gone.status_code == 410 and gone.json()["code"] == "Gone" and "dismissed" in gone.json()["description"]


def test_expired_and_unknown_files(served: tuple[str, str], tmp_path: Path) -> None:
    server, jobs = served
    path = tmp_path / "note.txt"
    path.write_text("kept one second")
    open_results(jobs).put("lifetime-test", "note.txt", path, "text/plain", 1.0)
    assert requests.get(f"{server}/results/lifetime-test/note.txt", timeout=30).text == "kept one second"
    time.sleep(1.3)  # past its lifetime on the database's clock
    expired = requests.get(f"{server}/results/lifetime-test/note.txt", timeout=30)
    assert expired.status_code == 410 and "expired" in expired.json()["description"]
    unknown = requests.get(f"{server}/results/lifetime-test/other.txt", timeout=30)
    assert unknown.status_code == 404 and unknown.json()["code"] == "NotFound"


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"relations": {"batiment": {"attributes": ["id"]}}}, "batiment"),
        ({"relations": {OCCUPATION: {"attributes": ["code_cs", "hauteur"]}}}, "hauteur"),
        ({"relations": {OCCUPATION: {"attributes": ["code_cs"], "filters": "code_cs === 'x'"}}}, "filters"),
        ({"relations": {OCCUPATION: {"attributes": ["code_cs"], "filters": "hauteur > 3"}}}, "hauteur"),
        ({"format": "GML"}, "format"),
        ({"srs": "EPSG:5490"}, "EPSG:5490"),  # the Antilles' CRS for a metropolitan table
        ({"srs": "EPSG:999999"}, "EPSG:999999"),
        ({"lifetime": 337}, "lifetime"),
        ({"compression": "rar"}, "compression"),
    ],
)
def test_bad_inputs_are_refused_before_any_job(server: str, change: dict, named: str) -> None:
    inputs = {"relations": {OCCUPATION: {"attributes": ["code_cs", "geometry"]}}, "format": "GPKG", **change}

    def jobs() -> set[str]:
        listed = requests.get(f"{server}/jobs", params={"f": "json", "limit": 1000}, timeout=30).json()["jobs"]
        return {job["jobID"] for job in listed}

    jobs_before = jobs()
    response = _submit(server, {"inputs": inputs})
    assert response.status_code == 400, response.text
    assert response.json()["code"] == "InvalidParameterValue" and named in response.json()["description"]
    assert jobs() == jobs_before  # refused before any job was created


def test_a_cog_in_the_result_store_is_read_by_gdal_over_http(served: tuple[str, str], tmp_path: Path) -> None:
    """The segmentation's rasters use the same store: GDAL reads a COG window through /vsicurl/ by ranges."""
    import numpy as np
    import rasterio
    from rasterio.transform import from_origin
    from rasterio.windows import Window

    server, jobs = served
    # 2048² bytes of noise (no compression gains): the COG spans several chunks, so reads cross chunk borders.
    values = np.random.default_rng(7).integers(0, 255, (2048, 2048), dtype=np.uint8)
    cog = tmp_path / "classes.tif"
    profile = {"driver": "COG", "width": 2048, "height": 2048, "count": 1, "dtype": "uint8", "crs": "EPSG:2154"}
    with rasterio.open(cog, "w", transform=from_origin(770_000, 6_278_000, 0.2, 0.2), blocksize=256, **profile) as out:
        out.write(values, 1)
    stored = open_results(jobs).put("cog-test", "classes.tif", cog, "image/tiff; application=geotiff", 3600)
    assert stored.size > 3 * 1024 * 1024
    with rasterio.open(f"/vsicurl/{server}/results/cog-test/classes.tif") as remote:
        assert remote.crs.to_epsg() == 2154 and remote.overviews(1)
        window = Window(1500, 700, 300, 200)
        assert (remote.read(1, window=window) == values[700:900, 1500:1800]).all()


def test_a_request_without_prefer_is_a_job_as_on_the_geoplateforme(server: str) -> None:
    body = {"inputs": {"relations": {"communes": {"attributes": ["code_insee"]}}, "format": "GPKG"}}
    response = requests.post(f"{server}/processes/extraction/execution", json=body, timeout=60)
    assert response.status_code == 201 and response.headers["Location"].endswith(response.json()["jobID"])
    assert services.wait_for_job(server, response.json()["jobID"])["status"] == "successful"


def test_owslib_executes_and_reads_the_document_response_by_output_id(server: str, tmp_path: Path) -> None:
    inputs = {"relations": {"communes": {"attributes": ["code_insee", "geometry"]}}, "format": "GEOJSON"}
    job = Processes(server).execute("extraction", inputs=inputs, response="document", async_=True)
    assert services.wait_for_job(server, job["jobID"])["status"] == "successful"
    result = requests.get(f"{server}/jobs/{job['jobID']}/results", params={"f": "json"}, timeout=30).json()
    assert set(result) == {"logs", "summary", "extractedData"}
    (link,) = result["extractedData"]
    ((count, _),) = _ogrinfo(str(_download(link["href"], tmp_path))).values()
    assert count == result["summary"]["tables"][0]["features"] == len(_expected(server, "communes", None))


@pytest.mark.parametrize(
    ("srs", "epsg"),
    [("IGNF:LAMB93", 2154), ("urn:ogc:def:crs:EPSG::3857", 3857), ("OGC:CRS84", 4326)],
)
def test_srs_takes_the_names_clients_give_a_crs(server: str, tmp_path: Path, srs: str, epsg: int) -> None:
    inputs = {"relations": {"communes": {"attributes": ["code_insee", "geometry"]}}, "format": "PARQUET", "srs": srs}
    _, results = _extract(server, inputs)
    assert results["summary"]["srs"] == f"EPSG:{epsg}"
    frame = gpd.read_parquet(_download(results["extractedData"][0]["href"], tmp_path))
    assert frame.crs.to_epsg() == epsg and len(frame) == len(_expected(server, "communes", None))
