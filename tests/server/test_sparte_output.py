"""The `export_sparte` output of the `artificialisation` process over live HTTP with OWSLib, on both stores: the
files are served by the result store, the GeoPackage downloaded and read by GDAL, over HTTP too (/vsicurl/)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
import requests
from owslib.ogcapi.processes import Processes

from ..workflows.test_sparte_columns import sparte_columns

#: SYBARVAL's EPCI of Arcachon and Le Teich, two of the communes the generated delivery covers.
EPCI = "243300563"
INPUTS = {"territoire": {"epci": EPCI}, "millesimes": [2021, 2024], "methode": "matrix"}


@pytest.fixture(scope="module")
def links(server: str) -> list[dict]:
    result = Processes(server).execute(
        "artificialisation", inputs=INPUTS, outputs={"export_sparte": {}}, response="raw"
    )
    assert result["format_sparte"].startswith("MTES-MCT/sparte@")
    return result["fichiers"]


def test_files_of_the_territory_level_and_its_communes(links: list[dict]) -> None:
    names = {link["title"]: link for link in links}
    assert set(names) == {
        f"{indicator}_{level}.{fmt}"
        for indicator in ("artif", "imper")
        for level in ("epci", "commune")
        for fmt in ("csv", "gpkg")
    }
    assert names["artif_epci.gpkg"]["type"] == "application/geopackage+sqlite3"
    assert names["imper_commune.csv"]["type"] == "text/csv"


def test_geopackage_downloaded_reads_with_sparte_columns(server: str, links: list[dict], tmp_path: Path) -> None:
    href = next(link["href"] for link in links if link["title"] == "artif_commune.gpkg")
    response = requests.get(href, timeout=60)
    assert response.status_code == 200 and int(response.headers["Content-Length"]) == len(response.content)
    path = tmp_path / "artif_commune.gpkg"
    path.write_bytes(response.content)
    info = subprocess.run(["ogrinfo", "-ro", "-so", "-al", str(path)], capture_output=True, text=True, check=True)
    assert "Layer name: artif_commune" in info.stdout and 'ID["EPSG",4326]' in info.stdout
    names = [line.split(":")[0] for line in info.stdout.splitlines() if line.endswith(("(0.0)",))]
    assert names[: len(sparte_columns("commune", "artif"))] == sparte_columns("commune", "artif")
    remote = subprocess.run(
        ["ogr2ogr", "-f", "GeoJSON", "/vsistdout/", f"/vsicurl/{href}"], capture_output=True, text=True, check=True
    )
    rows = {f["properties"]["commune_code"]: f["properties"] for f in json.loads(remote.stdout)["features"]}
    assert {"33009", "33527"} <= set(rows) and all(row["epci_code"] == EPCI for row in rows.values())
    document = Processes(server).execute(
        "artificialisation",
        inputs={"territoire": {"communes": ["33009"]}, "millesimes": [2021, 2024], "methode": "matrix"},
        response="raw",
    )
    stocks = document["territoires"][0]["stocks"]
    rank = document["rangs_millesimes"][-1]
    # The export writes areas to 1/10 000 m², as sparte rounds them.
    assert rows["33009"][f"surface_artif_{rank}"] == pytest.approx(
        stocks["2024"]["surface_artificialisee_ha"] * 10_000, abs=1e-4
    )
    assert rows["33009"][f"millesimes_{rank}"] == "2024"


def test_a_geometry_territory_is_refused(server: str) -> None:
    body = {
        "inputs": {"territoire": {"bbox": [-1.2, 44.6, -1.1, 44.7]}, "millesimes": [2021, 2024]},
        "outputs": {"export_sparte": {}},
    }
    response = requests.post(f"{server}/processes/artificialisation/execution", json=body, timeout=120)
    assert response.status_code == 400, response.text
    assert "made of communes" in response.json()["description"]
