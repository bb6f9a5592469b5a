"""CNIG ZONE_URBA layers as the Géoportail de l'Urbanisme publishes them (a plan's shapefile with upper-case DBF fields,
the ``zone_urba`` layer of its WFS GeoPackage beside other layers) are read into the zonage-urbanisme collection; a
layer not in the standard is refused with the field and the values at fault, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from ocsge_processes.errors import DeliveryError
from ocsge_processes.ingest import read_delivery
from ocsge_processes.ingest.zoning import cnig_dates
from ocsge_processes.layers import ZONE_URBA
from ocsge_processes.stores import open_store

from ..conftest import ocsge

#: A plan's zones as the CNIG standard names its fields (the shapefile of a PLU's archive).
CNIG = {
    "IDURBA": ["33001_PLU_20230115"] * 3,
    "LIBELLE": ["UA", "1AUh", "Nzh"],
    "LIBELONG": ["Zone urbaine centrale", "Zone à urbaniser", "Zone naturelle humide"],
    "TYPEZONE": ["U", "AUC", "Nh"],
    "DESTDOMI": ["01", "02", "00"],
    "NOMFIC": ["33001_reglement_20230115.pdf"] * 3,
    "URLFIC": [None] * 3,
    "INSEE": ["33001"] * 3,
    "DATVALID": ["20230301"] * 3,
}
SHAPEFILE = "33001_ZONE_URBA_20230115.shp"


def read(path: Path, **kwargs: str) -> list:
    return list(read_delivery(path, **kwargs))


def read_error(path: Path) -> str:
    with pytest.raises(DeliveryError) as caught:
        read(path)
    return str(caught.value)


def test_cnig_shapefile(tmp_path, write_layer, squares):
    # DATAPPRO as GDAL writes a datetime into a DBF text field
    rows = CNIG | {"DATAPPRO": ["2023/01/15 00:00:00"] * 3}
    [batch] = read(write_layer(tmp_path / SHAPEFILE, rows, squares(3)))
    assert batch.layer is ZONE_URBA and batch.slice == {"departement": "33"} and batch.epsg == 2154
    frame = batch.frame
    assert list(frame.columns) == [*ZONE_URBA.fields, "geometry"]
    assert list(frame["typezone"]) == ["U", "AUc", "Nh"], "spelled as the standard spells them"
    assert list(frame["libelle"]) == CNIG["LIBELLE"] and set(frame["idurba"]) == {"33001_PLU_20230115"}
    assert set(frame["datappro"]) == {"20230115"} and set(frame["datvalid"]) == {"20230301"}
    assert frame["id"].is_unique and frame["urlfic"].isna().all()


def test_gpu_geopackage_zone_urba_beside_other_layers(tmp_path, write_layer, squares):
    path = tmp_path / "wfs_du.gpkg"
    write_layer(path, {"typesect": ["01"], "libelle": ["ZC"], "idurba": ["33002_CC"]}, squares(1), layer="secteur_cc")
    gpu = {
        "gid": [101, 102],
        "gpu_doc_id": ["abc", "abc"],
        "partition": ["DU_200000001", "DU_200000001"],
        "libelle": ["UB", "2AU"],
        "libelong": ["", "Zone à urbaniser fermée"],
        "typezone": ["U", "AUs"],
        "destdomi": ["", ""],
        "nomfic": ["reglement.pdf"] * 2,
        "urlfic": ["https://www.geoportail-urbanisme.gouv.fr/document/abc"] * 2,
        "insee": ["", ""],  # a PLUi's zones may name no commune
        "datappro": ["20220610"] * 2,
        "datvalid": ["20220701"] * 2,
        "idurba": ["200000001_PLUI_20220610"] * 2,
        "idzone": ["", ""],
    }
    write_layer(path, gpu, squares(2), layer="zone_urba")
    with pytest.raises(DeliveryError, match="pass --departement"):
        read(path)
    [batch] = read(path, departement="33")
    assert batch.layer is ZONE_URBA and batch.source.endswith(":zone_urba")
    frame = batch.frame
    assert list(frame["id"]) == ["101", "102"], "the GPU's gid identifies a zone"
    assert list(frame["typezone"]) == ["U", "AUs"] and set(frame["partition"]) == {"DU_200000001"}
    assert frame["libelong"].isna().iloc[0] and frame["insee"].isna().all()


@pytest.mark.parametrize(
    ("change", "hints"),
    [
        ({"TYPEZONE": ["UA", "U", "UA"]}, ["'TYPEZONE' is not in the CNIG standard", "'UA' (2 rows)", "LIBELLE"]),
        ({"TYPEZONE": ["U", None, "N"]}, ["'TYPEZONE'", "1 row(s) without a value"]),
        ({"DATVALID": ["01/03/2023"] * 3}, ["'DATVALID' must hold CNIG dates (AAAAMMJJ)", "'01/03/2023'"]),
    ],
    ids=["libelle-as-type", "no-type", "date"],
)
def test_values_not_in_the_standard(tmp_path, write_layer, squares, change, hints):
    message = read_error(write_layer(tmp_path / SHAPEFILE, CNIG | change, squares(3)))
    assert SHAPEFILE in message
    for hint in hints:
        assert hint in message, message


@pytest.mark.parametrize("missing", ["TYPEZONE", "LIBELLE", "IDURBA"])
def test_a_missing_field_is_named(tmp_path, write_layer, squares, missing):
    rows = {name: values for name, values in CNIG.items() if name != missing}
    message = read_error(write_layer(tmp_path / SHAPEFILE, rows, squares(3)))
    assert f"missing field(s) for zonage-urbanisme: {missing.lower()}" in message, message


def test_ocsge_ingest_refuses_the_file_and_writes_nothing(tmp_path, write_layer, squares):
    store = tmp_path / "store.gpkg"
    good = write_layer(tmp_path / "good" / SHAPEFILE, CNIG, squares(3))
    ocsge("ingest", "--store", str(store), str(good))
    bad = write_layer(tmp_path / "bad" / SHAPEFILE, CNIG | {"TYPEZONE": ["U", "AU", "N"]}, squares(3))
    result = ocsge("ingest", "--store", str(store), str(bad), check=False)
    assert result.returncode != 0 and "'AU' (1 row)" in result.stderr + result.stdout
    opened = open_store(str(store))
    try:
        kept = opened.read_frame(ZONE_URBA, 2154)
    finally:
        opened.close()
    assert sorted(kept["typezone"]) == ["AUc", "Nh", "U"], "the earlier zones are kept whole"


def test_dates_typed_by_the_source_are_written_as_the_standard_does() -> None:
    typed = pd.Series(pd.to_datetime(["2023-01-15", None]))
    assert list(cnig_dates(typed, "f.shp", "DATAPPRO").fillna("-")) == ["20230115", "-"]
    text = pd.Series(["20230115", "2023-01-15", " ", None])
    assert list(cnig_dates(text, "f.shp", "DATAPPRO").fillna("-")) == ["20230115", "20230115", "-", "-"]
