"""A corrective patch of a millésime (IGN "Patch correctif") on both stores: generated M1 and M2 of a real commune,
then a patch of M2 that turns five forest polygons into buildings, ingested by ``ocsge ingest``. Reads and the
process use the patch; the replaced version is listed and still readable in ``ocsge-occupation-sol-remplacee``."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
import shapely
from owslib.ogcapi.features import Features

from deploy.services import web_server
from ocsge_processes.ingest.versions import all_versions
from ocsge_processes.layers import COMMUNES, OCCUPATION_SOL, OCCUPATION_SOL_REMPLACEE
from ocsge_processes.server.config import build_config, load_template
from ocsge_processes.stores import open_store
from ocsge_processes.workflows.artificialisation import run
from tests import services

from ..conftest import BIN, ROOT, SYBARVAL, ocsge

COMMUNE = "33009"
SLICE = {"departement": "33", "millesime": 2021}
PATCH = "OCS-GE_2-0_PATCH-CORRECTIF_GPKG_LAMB93_D033_2021_2026-07-15.gpkg"


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    out = tmp_path_factory.mktemp("patch-deliveries")
    ocsge(
        "generate",
        *("--communes", str(SYBARVAL), "--codes", COMMUNE, "--millesimes", "2018,2021", "--cell-size", "250"),
        *("--out", str(out)),
    )
    return sorted(out.glob("*.7z"))


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def patched(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, deliveries: list[Path]) -> dict:
    """The store after M1, M2 and the patch of M2, with what the test needs to know of them."""
    folder = tmp_path_factory.mktemp(f"patch-{request.param}")
    if request.param == "gpkg":
        url = str(folder / "store.gpkg")
    else:
        url = services.fresh_database(request.getfixturevalue("postgis_url"), "ocsge_patch_versions")
    ocsge("ingest", "--store", url, str(SYBARVAL), *map(str, deliveries))
    store = open_store(url)
    before = run(store, {"communes": [COMMUNE]}, [2018, 2021], "matrix")["territoires"][0]
    original = store.read_frame(OCCUPATION_SOL, 2154, equals=SLICE)
    rows = original[[*OCCUPATION_SOL.fields, original.geometry.name]].copy()
    # Forest (CS2.1.x) used for forestry or agriculture (US1.x) is not artificial under the matrix; a building is.
    forests = rows.index[rows.code_cs.str.startswith("CS2.1") & rows.code_us.str.startswith("US1")][:5]
    assert len(forests) == 5
    rows.loc[forests, ["code_cs", "code_us"]] = ["CS1.1.1.1", "US2"]
    rows.to_file(folder / PATCH, layer="occupation_sol", driver="GPKG")
    done = ocsge("ingest", "--store", url, str(folder / PATCH))
    commune = store.read_frame(COMMUNES, 2154, equals={"code_insee": COMMUNE}).geometry.iloc[0]
    changed_m2 = float(shapely.area(shapely.intersection(rows.loc[forests].geometry.values, commune)).sum())
    return {
        "url": url,
        "store": store,
        "before": before,
        "original": original,
        "changed_ids": set(rows.loc[forests, "id"]),
        "changed_m2": changed_m2,
        "output": done.stdout,
        "first": deliveries[-1].name,
        "folder": folder,
    }


def test_reads_and_the_process_use_the_patch(patched: dict) -> None:
    store = patched["store"]
    current = store.read_frame(OCCUPATION_SOL, 2154, equals=SLICE)
    assert len(current) == len(patched["original"])
    turned = current[current.id.isin(patched["changed_ids"])]
    assert set(turned.code_cs) == {"CS1.1.1.1"} and set(turned.libelle_cs.notna()) == {True}
    assert "as a corrective patch" in patched["output"]
    document = run(store, {"communes": [COMMUNE]}, [2018, 2021], "matrix")
    used = document["versions_corrigees"]["33"]
    assert list(used) == ["2021"] and (used["2021"]["version"], used["2021"]["source"]) == (2, PATCH)
    after = document["territoires"][0]
    gained_ha = (
        after["stocks"]["2021"]["surface_artificialisee_ha"]
        - patched["before"]["stocks"]["2021"]["surface_artificialisee_ha"]
    )
    # Both stocks are sums of float areas over thousands of polygons: equal to a micro-hectare.
    assert gained_ha == pytest.approx(patched["changed_m2"] / 10_000, abs=1e-6) and gained_ha > 0
    assert after["stocks"]["2018"] == patched["before"]["stocks"]["2018"], "M1 is not patched"


def test_the_replaced_version_is_listed_and_readable(patched: dict) -> None:
    store = patched["store"]
    noted = all_versions(store)["ocsge-occupation-sol/33/2021"]
    assert [(v["version"], v["source"], v["date"], v["correctif"]) for v in noted] == [
        (1, patched["first"], "2021-01-01", False),
        (2, PATCH, "2026-07-15", True),
    ]
    assert noted[0]["conservee_dans"] == "ocsge-occupation-sol-remplacee" and noted[0]["remplacee_par"] == PATCH
    assert noted[0]["ingeree_le"] <= noted[0]["remplacee_le"] == noted[1]["ingeree_le"]
    kept = store.read_frame(OCCUPATION_SOL_REMPLACEE, 2154, equals={**SLICE, "version": 1})
    original = patched["original"]
    assert sorted(zip(kept.id, kept.code_cs, strict=True)) == sorted(zip(original.id, original.code_cs, strict=True))
    assert set(kept.version_source) == {patched["first"]} and set(kept.remplacee_par) == {PATCH}
    listed = ocsge("versions", "--store", patched["url"]).stdout.splitlines()
    assert listed[0] == "ocsge-occupation-sol/33/2021" and len(listed) == 3
    assert listed[1].startswith(f"  version 1: {patched['first']}, edition 2021-01-01; replaced ")
    assert listed[1].endswith(f"by {PATCH}, kept in ocsge-occupation-sol-remplacee")
    assert listed[2] == f"  version 2: {PATCH} (corrective patch), edition 2026-07-15; current"
    config = build_config(load_template(ROOT / "pygeoapi-config.yml"), patched["url"])
    assert "ocsge-occupation-sol-remplacee" in config["resources"]


def test_the_same_patch_again_changes_nothing(patched: dict) -> None:
    store = patched["store"]
    noted = all_versions(store)["ocsge-occupation-sol/33/2021"]
    ocsge("ingest", "--store", patched["url"], str(patched["folder"] / PATCH))
    assert all_versions(store)["ocsge-occupation-sol/33/2021"] == noted
    assert store.distinct(OCCUPATION_SOL_REMPLACEE, 2154, "version") == [1]


def test_both_versions_over_live_http(patched: dict, tmp_path: Path) -> None:
    """OGC API – Features serves the current version and, filtered by ``version``, the replaced one (OWSLib)."""
    changed = sorted(patched["changed_ids"])
    with web_server(patched["url"], tmp_path, BIN) as server:
        features = Features(server)
        kept = features.collection_items(
            "ocsge-occupation-sol-remplacee", version=1, millesime=2021, limit=10_000, skipGeometry="true"
        )
        assert kept["numberMatched"] == len(patched["original"])
        before = {f["properties"]["id"]: f["properties"]["code_cs"] for f in kept["features"]}
        assert all(before[i].startswith("CS2.1") for i in changed)
        current = requests.get(
            f"{server}/collections/ocsge-occupation-sol/items",
            params={"millesime": 2021, "limit": 10_000, "skipGeometry": "true", "f": "json"},
            timeout=120,
        ).json()
        now = {f["properties"]["id"]: f["properties"]["code_cs"] for f in current["features"]}
        assert {now[i] for i in changed} == {"CS1.1.1.1"}
