"""Real published data: SYBARVAL's OCS GE change layers (2015 -> 2018) and Admin Express commune contours."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from ocsge_processes.ingest import plan_delivery, read_delivery
from ocsge_processes.layers import COMMUNES, DIFFERENCE

#: Real data lives beside the checkout (never copied into it); OCSGE_SHARED_DATA points elsewhere.
DATA = Path(os.environ.get("OCSGE_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
SYBARVAL = DATA / "sybarval-ocsge-change-2015-2018" / "sybarval_ocsge_change_2015_2018.gpkg"
GIRONDE = DATA / "communes-admin-express-2018" / "33-gironde" / "communes-33-gironde.geojson"

pytestmark = pytest.mark.skipif(not SYBARVAL.exists() or not GIRONDE.exists(), reason=f"real data not in {DATA}")


@pytest.fixture(scope="module")
def sybarval() -> dict[str, object]:
    batches = list(read_delivery(SYBARVAL))
    return {batch.layer.collection_id: batch for batch in batches} | {"count": len(batches)}


def test_sybarval_change_layers_make_one_difference_batch(sybarval):
    batch = sybarval[DIFFERENCE.collection_id]
    assert sybarval["count"] == 2
    assert batch.slice == {"departement": "33", "millesime_avant": 2015, "millesime_apres": 2018}
    assert batch.epsg == 2154 and batch.frame.crs.to_epsg() == 2154
    assert len(batch.frame) == 3970 + 1296
    assert list(batch.frame.columns) == [*DIFFERENCE.fields, "geometry"]
    assert batch.frame["id"].is_unique
    assert set(batch.frame["departement"]) == {"33"}
    assert set(batch.frame["millesime_avant"]) == {2015} and set(batch.frame["millesime_apres"]) == {2018}


def test_sybarval_reversed_layer_name_still_puts_2015_before(sybarval):
    """``desartificialisation_2018_2015`` lists 2018 first; its 2015 codes (artificial) must land in "avant"."""
    frame = sybarval[DIFFERENCE.collection_id].frame
    desartif = frame[frame["id"].str.contains("-desartificialisation_2018_2015-")]
    artif = frame[frame["id"].str.contains("-artificialisation_2015_2018-")]
    assert (len(artif), len(desartif)) == (3970, 1296)
    assert desartif["code_cs_avant"].str.startswith("CS1.1").all()
    assert artif["code_cs_apres"].str.startswith("CS1.1").all()


def test_sybarval_null_and_indetermine_codes_are_null(sybarval):
    frame = sybarval[DIFFERENCE.collection_id].frame
    assert frame["code_cs_avant"].isna().sum() == 4  # 4 rows without 2015 codes in the artificialisation layer
    assert frame["code_cs_apres"].isna().sum() == 4
    assert "INDETERMINE" not in set(frame["code_us_avant"].dropna())
    assert frame["code_us_avant"].isna().sum() == 4 + 5  # plus 5 rows whose 2015 usage is INDETERMINE


def test_sybarval_geometries_keep_the_published_areas(sybarval):
    """Repairing the 3 invalid polygons must not change the areas SOURCE.md gives (349.7 ha and 123.1 ha)."""
    frame = sybarval[DIFFERENCE.collection_id].frame
    assert set(frame.geom_type) == {"MultiPolygon"} and frame.is_valid.all()
    desartif = frame["id"].str.contains("-desartificialisation_")
    # SOURCE.md gives each area to 0.1 ha: each lies within half of that of its figure.
    assert frame[~desartif].area.sum() / 10_000 == pytest.approx(349.7, abs=0.05)
    assert frame[desartif].area.sum() / 10_000 == pytest.approx(123.1, abs=0.05)


def test_sybarval_communes_carry_their_epci(sybarval):
    batch = sybarval[COMMUNES.collection_id]
    frame = batch.frame
    assert batch.slice == {"departement": "33"} and batch.epsg == 2154
    assert list(frame.columns) == [*COMMUNES.fields, "geometry"]
    assert len(frame) == 17 and frame["code_insee"].is_unique
    assert frame.set_index("code_insee").loc["33009", ["nom", "epci"]].tolist() == ["Arcachon", "243300563"]
    assert frame["epci"].str.fullmatch(r"2\d{8}").all()


def test_sybarval_urban_envelope_is_skipped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING, logger="ocsge_processes.ingest"):
        list(read_delivery(SYBARVAL))
    assert any("enveloppe_urbaine_2018" in record.getMessage() for record in caplog.records)


def test_plan_lists_every_layer_with_its_target():
    plan = {entry.source.rsplit(":", 1)[1]: entry for entry in plan_delivery(SYBARVAL)}
    assert plan["artificialisation_2015_2018"].layer is DIFFERENCE
    assert plan["desartificialisation_2018_2015"].layer is DIFFERENCE
    assert plan["communes_sybarval"].layer is COMMUNES and plan["communes_sybarval"].features == 17
    assert plan["enveloppe_urbaine_2018"].layer is None


def test_admin_express_geojson_is_reprojected_to_lambert93():
    (batch,) = read_delivery(GIRONDE)
    assert batch.layer is COMMUNES and batch.slice == {"departement": "33"}
    assert batch.epsg == 2154 and batch.frame.crs.to_epsg() == 2154
    assert len(batch.frame) == 538 and batch.frame["code_insee"].is_unique
    assert batch.frame["epci"].isna().all()
    xmin, ymin, xmax, ymax = batch.frame.total_bounds
    assert 300_000 < xmin < xmax < 500_000 and 6_300_000 < ymin < ymax < 6_550_000
    bordeaux = batch.frame.set_index("code_insee").loc["33063"]
    assert bordeaux["nom"] == "Bordeaux" and 45e6 < bordeaux.geometry.area < 55e6  # about 49 km²
