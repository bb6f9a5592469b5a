"""``ocsge export`` on both stores: a generated département part with three millésimes (and SYBARVAL's real DIFF
2015-2018 before them), written with sparte's file and column names, read back with GDAL (ogrinfo, ogr2ogr), the
figures those of the process."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from ocsge_processes.stores import open_store
from ocsge_processes.workflows.artificialisation import run
from tests import services

from ..conftest import SYBARVAL, ocsge
from .test_sparte_columns import sparte_columns

COMMUNES = ["33009", "33527"]
YEARS = [2018, 2021, 2024]
#: The EPCI of both communes in SYBARVAL's commune table (with two communes the generated layers do not cover).
EPCI = "243300563"


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("sparte-deliveries")
    ocsge(
        "generate",
        "--communes",
        str(SYBARVAL),
        "--codes",
        ",".join(COMMUNES),
        "--millesimes",
        ",".join(map(str, YEARS)),
        "--cell-size",
        "250",
        "--out",
        str(out),
    )
    return sorted(out.glob("*.7z"))


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def exported(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, deliveries: list[Path]
) -> tuple[str, Path]:
    """A store of each kind and the folder ``ocsge export`` wrote for département 33."""
    folder = tmp_path_factory.mktemp(f"sparte-{request.param}")
    if request.param == "gpkg":
        url = str(folder / "store.gpkg")
    else:
        url = services.fresh_database(request.getfixturevalue("postgis_url"), "ocsge_sparte_export")
    ocsge("ingest", "--store", url, str(SYBARVAL), *map(str, deliveries))
    out = folder / "export"
    ocsge("export", "--store", url, "--departement", "33", "--methode", "matrix", "--out", str(out))
    return url, out


def _features(path: Path) -> tuple[list[str], list[dict]]:
    """The field names GDAL reads, in order, and the features (ogr2ogr to GeoJSON)."""
    info = subprocess.run(["ogrinfo", "-ro", "-so", "-al", str(path)], capture_output=True, text=True, check=True)
    names = [
        line.split(":")[0].strip()
        for line in info.stdout.splitlines()
        if line.strip() and ": " in line and line.split(":")[1].strip().split(" ")[0] in ("String", "Real")
    ]
    options = ["-oo", "EMPTY_STRING_AS_NULL=YES"] if path.suffix == ".csv" else []  # CSV has no null but ""
    geojson = subprocess.run(
        ["ogr2ogr", *options, "-f", "GeoJSON", "/vsistdout/", str(path)], capture_output=True, text=True, check=True
    ).stdout
    return names, json.loads(geojson)["features"]


def test_every_level_indicator_and_format_under_sparte_names(exported: tuple[str, Path]) -> None:
    _, out = exported
    expected = {
        f"{i}_{level}.{fmt}"
        for i in ("artif", "imper")
        for level in ("commune", "epci", "scot", "departement", "region")
        for fmt in ("csv", "gpkg")
    }
    assert {path.name for path in out.iterdir()} == expected
    info = subprocess.run(
        ["ogrinfo", "-ro", "-so", "-al", str(out / "artif_commune.gpkg")], capture_output=True, text=True, check=True
    ).stdout
    assert "Layer name: artif_commune" in info and "Geometry Column = geom" in info
    assert 'ID["EPSG",4326]' in info


@pytest.mark.parametrize("fmt", ["csv", "gpkg"])
@pytest.mark.parametrize("indicator", ["artif", "imper"])
def test_columns_read_back_are_sparte_s(exported: tuple[str, Path], fmt: str, indicator: str) -> None:
    """The diff a user makes against sparte's file: same names in the same order, ours after, M3 as theirs extends."""
    _, out = exported
    for level in ("commune", "epci", "departement"):
        names, _ = _features(out / f"{indicator}_{level}.{fmt}")
        theirs = sparte_columns(level, indicator)
        assert names[: len(theirs)] == theirs, level
        assert set(names[len(theirs) :]) >= {"millesimes_4", f"flux_{indicator}_net_3_4"}, level


def test_commune_figures_are_the_process_s_in_square_metres(exported: tuple[str, Path]) -> None:
    url, out = exported
    document = run(open_store(url), {"communes": COMMUNES}, None, "matrix", detail_communes=True)
    ranks = dict(zip(map(str, document["millesimes"]), document["rangs_millesimes"], strict=True))
    assert list(ranks.values()) == [1, 2, 3, 4], "SYBARVAL's DIFF 2015-2018 gives ranks 1 and 2"
    for fmt in ("csv", "gpkg"):
        _, features = _features(out / f"artif_commune.{fmt}")
        rows = {f["properties"]["commune_code"]: f["properties"] for f in features}
        for entry in document["communes"]:
            line = rows[entry["code"]]
            assert line["epci_code"] == EPCI and line["departement_code"] == "33"
            for label, stock in entry["stocks"].items():
                rank = ranks[label]
                assert line[f"millesimes_{rank}"] == label
                if stock is None:
                    assert line[f"surface_artif_{rank}"] is None
                    continue
                # Areas are written to 1/10 000 m², as sparte rounds them.
                assert float(line[f"surface_artif_{rank}"]) == pytest.approx(
                    stock["surface_artificialisee_ha"] * 10_000, abs=1e-4
                )
            flows = entry["flux"]["2021-2024"]
            assert float(line["flux_artif_3_4"]) == pytest.approx(flows["artificialisation_ha"] * 10_000, abs=1e-4)
        if fmt == "gpkg":
            lon, lat = features[0]["geometry"]["coordinates"][0][0][0]
            assert -1.4 < lon < -0.9 and 44.4 < lat < 44.8, "EPSG:4326 in longitude, latitude: the Arcachon basin"


def test_a_land_sums_its_communes_or_says_nothing(exported: tuple[str, Path]) -> None:
    """The EPCI holds two communes the generated layers do not cover: no stock, while the DIFFs cover all four."""
    _, out = exported
    _, communes = _features(out / "artif_commune.csv")
    _, epcis = _features(out / "artif_epci.csv")
    members = [c["properties"] for c in communes if c["properties"]["epci_code"] == EPCI]
    epci = next(e["properties"] for e in epcis if e["properties"]["epci_code"] == EPCI)
    assert len(members) == 4
    assert any(m["surface_artif_3"] is None for m in members) and epci["surface_artif_3"] is None
    # Each commune's figure is rounded to 1/10 000 m² before the EPCI's sum is: four roundings at most.
    total = sum(float(m["flux_artif_3_4"]) for m in members)
    assert float(epci["flux_artif_3_4"]) == pytest.approx(total, abs=4e-4)
    assert epci["millesimes_3"] == "2021"


def test_an_unknown_departement_is_refused(exported: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = exported
    result = ocsge("export", "--store", url, "--departement", "40", "--out", str(tmp_path), check=False)
    assert result.returncode != 0 and "40" in result.stderr
