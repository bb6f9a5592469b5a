"""The per-département batch is idempotent and resumable: a second run does nothing, a re-ingested millésime
recomputes only the pairs of its département that read it, and the rows are the same whatever the path."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import pytest
import shapely

from ocsge_processes.layers import ARTIFICIALISATION_COMMUNES, OCCUPATION_SOL
from ocsge_processes.stores import open_store
from ocsge_processes.workflows.batch import SCOPE, departement_batch, pair_key

from .. import services
from ..conftest import SHARED, SYBARVAL, ocsge

GERS = SHARED / "communes-admin-express-2018" / "32-gers" / "communes-32-gers.geojson"
#: Three real Gers communes: a second département, far from the first, with generated land cover.
GERS_COMMUNES = ["32004", "32108", "32145"]


@pytest.fixture(scope="session")
def gers_deliveries(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Three Gers communes (their contours, and a generated delivery of two millésimes and their DIFF)."""
    out = tmp_path_factory.mktemp("gers")
    communes = pyogrio.read_dataframe(GERS)
    pyogrio.write_dataframe(communes[communes.code.isin(GERS_COMMUNES)], out / "communes-32-extrait.geojson")
    ocsge(
        "generate",
        "--communes",
        str(GERS),
        "--codes",
        ",".join(GERS_COMMUNES),
        "--cell-size",
        "250",
        "--out",
        str(out / "generated"),
    )
    return [out / "communes-32-extrait.geojson", *sorted((out / "generated").glob("*.7z"))]


@pytest.fixture(params=["gpkg", "postgis"])
def store(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    demo_deliveries: list[Path],
    gers_deliveries: list[Path],
) -> str:
    """A fresh store of each kind with two départements: Gironde (SYBARVAL's DIFF 2015→2018 and a generated
    2021→2024) and three generated Gers communes; nothing computed yet."""
    if request.param == "gpkg":
        url = str(tmp_path / "batch.gpkg")
    else:
        url = services.fresh_database(
            request.getfixturevalue("postgis_url"), f"batch_resume_{uuid.uuid4().hex[:8]}"
        )  # a new one: this process' pool holds the last
    ocsge("ingest", "--store", url, str(SYBARVAL), *map(str, demo_deliveries), *map(str, gers_deliveries))
    return url


def stored_rows(url: str) -> pd.DataFrame:
    """The collection's rows, in id order, geometries as WKB: equal frames are equal rows."""
    frame = open_store(url).read_frame(ARTIFICIALISATION_COMMUNES, 2154)
    frame = frame.sort_values("id").reset_index(drop=True)
    return pd.DataFrame(
        {**{c: frame[c] for c in ARTIFICIALISATION_COMMUNES.fields}, "wkb": shapely.to_wkb(frame.geometry)}
    )


def computed(done: list) -> set[tuple[int, int]]:
    return {d.pair for d in done if d.rows is not None}


def test_a_second_run_does_nothing_and_leaves_the_rows_as_they_were(store: str) -> None:
    target = open_store(store)
    first = {d: departement_batch(target, d) for d in ("33", "32")}
    assert computed(first["33"]) == {(2015, 2018), (2021, 2024)}
    assert computed(first["32"]) == {(2021, 2024)}
    before = stored_rows(store)
    assert len(before) == 2 * 17 + 3 and before.id.is_unique

    again = {d: departement_batch(target, d) for d in ("33", "32")}
    assert all(d.rows is None for done in again.values() for d in done), again
    pd.testing.assert_frame_equal(stored_rows(store), before)


def test_a_reingested_millesime_recomputes_only_the_pairs_that_read_it(store: str, demo_deliveries: list[Path]) -> None:
    target = open_store(store)
    for departement in ("33", "32"):
        departement_batch(target, departement)
    before = stored_rows(store)
    notes = target.marks(SCOPE)

    millesime_2024 = next(p for p in demo_deliveries if "2024-01-01" in p.name)
    ocsge("ingest", "--store", store, str(millesime_2024))  # the same delivery: new rows, same content

    assert computed(departement_batch(target, "33")) == {(2021, 2024)}
    assert computed(departement_batch(target, "32")) == set(), "another département's inputs did not change"
    after = {key: json.loads(note) for key, note in target.marks(SCOPE).items()}
    before_notes = {key: json.loads(note) for key, note in notes.items()}
    assert after[pair_key("33", (2015, 2018))]["inputs"] == before_notes[pair_key("33", (2015, 2018))]["inputs"]
    assert after[pair_key("33", (2021, 2024))]["inputs"] != before_notes[pair_key("33", (2021, 2024))]["inputs"]
    assert all(note["tables"] == after[pair_key("32", (2021, 2024))]["tables"] for note in after.values()), (
        "every pair noted again with the tables as they are now: the next run skips them without counting slices"
    )
    assert all(d.rows is None for d in departement_batch(target, "33") + departement_batch(target, "32"))
    pd.testing.assert_frame_equal(stored_rows(store), before)


def test_a_changed_stock_changes_the_rows_of_its_pair_only(store: str) -> None:
    """Re-ingesting different content (every 2024 polygon of Gironde artificialised) moves that pair's figures."""
    target = open_store(store)
    for departement in ("33", "32"):
        departement_batch(target, departement)
    before = stored_rows(store).set_index("id")
    stock = target.read_frame(OCCUPATION_SOL, 2154, equals={"departement": "33", "millesime": 2024})
    stock["code_cs"] = "CS1.1.1.1"
    target.replace_slice(OCCUPATION_SOL, 2154, gpd.GeoDataFrame(stock), {"departement": "33", "millesime": 2024})

    assert computed(departement_batch(target, "33")) == {(2021, 2024)}
    after = stored_rows(store).set_index("id")
    changed = after.index[after.surface_artificialisee_ha.fillna(-1) != before.surface_artificialisee_ha.fillna(-1)]
    assert len(changed) and all(code.endswith("-2021-2024") for code in changed)
    untouched = [i for i in before.index if not i.endswith("-2021-2024") or i.startswith("32")]
    pd.testing.assert_frame_equal(after.loc[untouched], before.loc[untouched])


def test_the_command_runs_each_departement_here_and_says_what_it_did(store: str) -> None:
    first = ocsge("artificialisation", "--store", store, "--departement", "33,32")
    assert "33: 2 of 2 pairs computed (2015→2018, 2021→2024), 34 rows in" in first.stdout
    assert "32: 1 of 1 pairs computed (2021→2024), 3 rows in" in first.stdout
    again = ocsge("artificialisation", "--store", store, "--departement", "32", "--departement", "33")
    assert "32: 0 of 1 pairs computed (none), 0 rows" in again.stdout
    assert "33: 0 of 2 pairs computed (none), 0 rows" in again.stdout
    missing = ocsge("artificialisation", "--store", store, "--departement", "33,40", check=False)
    assert missing.returncode == 1
    assert "not computed (run again to resume):\n40: no commune of département 40 is ingested" in missing.stderr
    assert "33: 0 of 2 pairs computed" in missing.stdout, "the other départements still run"
