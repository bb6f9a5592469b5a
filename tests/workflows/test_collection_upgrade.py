"""A store whose `artificialisation_communes` table predates the imperméabilisation fields takes them at the next
write: `ocsge artificialisation` fills them, the rows written before read back null, GDAL reads the new columns."""

from __future__ import annotations

import dataclasses
import json
import subprocess
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from ocsge_processes.layers import ARTIFICIALISATION_COMMUNES
from ocsge_processes.stores import open_store
from ocsge_processes.workflows.batch import SCOPE, pair_key
from tests import services

from ..conftest import ocsge
from . import territory_data

#: The collection's fields before imperméabilisation.
OLD = dataclasses.replace(
    ARTIFICIALISATION_COMMUNES, fields={k: v for k, v in ARTIFICIALISATION_COMMUNES.fields.items() if "imperm" not in k}
)
OLD_SLICE = {"departement": "40", "millesime_avant": 2016, "millesime_apres": 2019}


@pytest.fixture(params=["gpkg", "postgis"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "gpkg":
        return str(tmp_path / "old.gpkg")
    # a database per test: the store each test opens keeps its pool to it (open_store is cached per process)
    name = f"ocsge_upgrade_{request.function.__name__.removeprefix('test_')[:30]}"
    return services.fresh_database(request.getfixturevalue("postgis_url"), name)


def test_an_old_table_gains_the_new_fields(url: str) -> None:
    store = open_store(url)
    territory_data.load(store)
    row = dict.fromkeys(OLD.fields) | {"id": "40001-2016-2019", "code_insee": "40001", **OLD_SLICE}
    old_row = gpd.GeoDataFrame([row], geometry=[shapely.MultiPolygon([shapely.box(0, 0, 1, 1)])], crs=2154)
    store.replace_slice(OLD, 2154, old_row, OLD_SLICE)  # as an earlier version wrote it

    ocsge("artificialisation", "--store", url, "--departement", "33")
    frame = store.read_frame(ARTIFICIALISATION_COMMUNES, 2154).set_index("id")
    assert frame.loc["33001-2021-2024", "impermeabilisation_nette_ha"] == -3  # hand-computed in territory_data
    assert frame.loc["33001-2021-2024", "surface_impermeabilisee_ha"] == 12
    assert frame.loc["40001-2016-2019", ["taux_impermeabilisation", "impermeabilisation_ha"]].isna().all()
    if not url.startswith("postgresql://"):
        info = subprocess.run(["ogrinfo", "-so", url, "artificialisation_communes"], capture_output=True, text=True)
        assert "impermeabilisation_nette_ha: Real" in info.stdout, info.stdout + info.stderr


def test_pairs_noted_before_the_new_fields_are_computed_again(url: str) -> None:
    store = open_store(url)
    territory_data.load(store)
    first = ocsge("artificialisation", "--store", url, "--departement", "33").stdout
    assert "2 of 2 pairs computed" in first
    notes = {
        key: note
        for key, note in store.marks(SCOPE).items()
        if key in (pair_key("33", (2018, 2021)), pair_key("33", (2021, 2024)))
    }
    assert len(notes) == 2
    for key, note in notes.items():  # as an earlier version noted them: no fields in the note
        old = {part: {k: v for k, v in values.items() if k != "fields"} for part, values in json.loads(note).items()}
        store.set_mark(SCOPE, key, json.dumps(old, sort_keys=True))
    assert "2 of 2 pairs computed" in ocsge("artificialisation", "--store", url, "--departement", "33").stdout
    assert "0 of 2 pairs computed" in ocsge("artificialisation", "--store", url, "--departement", "33").stdout
