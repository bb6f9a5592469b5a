"""`ocsge generate --exemptions`: a generated exemption sample per millésime that says it is generated, named so
that `ocsge ingest` publishes it as ocsge-artif-exemptions, and used by the process."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import pytest

from ocsge_processes.ingest.deliveries import read_delivery
from ocsge_processes.layers import ARTIF_EXEMPTIONS, GENERATED_SOURCE
from ocsge_processes.stores import open_store
from ocsge_processes.workflows.artificialisation import run

from ..conftest import SYBARVAL, ocsge

COMMUNE = "33009"
YEARS = (2021, 2024)


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("generated-exemptions")
    ocsge(
        "generate", "--communes", str(SYBARVAL), "--codes", COMMUNE, "--cell-size", "250", "--exemptions",
        "--no-archive", "--out", str(out),
    )  # fmt: skip
    return out


def test_one_sample_per_millesime_says_it_is_generated(generated: Path) -> None:
    folders = sorted(generated.glob("OCS-GE_2-0_ARTIFICIALISATION-EXEMPTIONS_*"))
    assert [f.name.rsplit("_", 1)[1] for f in folders] == [f"{year}-01-01" for year in YEARS]
    for folder, year in zip(folders, YEARS, strict=True):
        (batch,) = read_delivery(folder)
        assert batch.layer is ARTIF_EXEMPTIONS and batch.slice == {"departement": "33", "millesime": year}
        frame = batch.frame
        assert set(frame["source"]) == {GENERATED_SOURCE}
        claimed = frame[frame["exemption"].notna()]
        # only vegetated land used for services claims, and only the park exemption
        assert len(claimed) and set(claimed["exemption"]) == {"parc_jardin_public"}
        assert claimed["code_cs"].str.startswith("CS2").all() and (claimed["code_us"] == "US3").all()
        # the same polygons as the generated OCCUPATION_SOL of that millésime
        [occupation] = [
            gpd.read_file(path) for path in generated.glob(f"OCS-GE_2-0__GPKG_*_{year}-01-01/**/OCCUPATION_SOL.gpkg")
        ]
        assert sorted(occupation["id"]) == sorted(frame["id"])


def test_ingested_the_process_uses_it(generated: Path, tmp_path: Path) -> None:
    store = str(tmp_path / "generated.gpkg")
    ocsge("ingest", "--store", store, str(SYBARVAL), *map(str, sorted(generated.iterdir())))  # SYBARVAL: communes
    document = run(open_store(store), {"communes": [COMMUNE]}, list(YEARS), None, exemptions=True)
    assert document["exemptions_millesimes"] == list(YEARS)
    [entry] = document["territoires"]
    stock = entry["exemptions"]["stocks"]["2024"]
    assert stock["par_exemption"]["photovoltaique"] == 0
    assert stock["surface_exemptee_ha"] == stock["par_exemption"]["parc_jardin_public"] > 0
    # the sample's artif is the decree's thresholds on OCCUPATION_SOL, the method the process defaults to here
    assert entry["stocks"]["2024"]["methode"] == "decree"
    total = stock["surface_artificialisee_avec_exemptions_ha"] + stock["surface_exemptee_ha"]
    assert total == pytest.approx(entry["surface_artificialisee_ha"], abs=1e-3)  # rounding of the answer, 4 decimals
