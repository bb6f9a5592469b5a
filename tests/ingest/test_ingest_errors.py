"""Bad deliveries raise DeliveryError naming the file and the problem, before any batch is yielded."""

from __future__ import annotations

import pandas as pd
import pyogrio
import pytest

from ocsge_processes.errors import DeliveryError
from ocsge_processes.ingest import read_delivery

OCCUPATION = {"id": ["A", "B", "C"], "code_cs": ["CS2.2.1"] * 3, "code_us": ["US1.1"] * 3}
GOOD_NAME = "OCS-GE_2-0__GPKG_LAMB93_D033_2021-01-01"


def read_error(path, **kwargs) -> str:
    with pytest.raises(DeliveryError) as caught:
        list(read_delivery(path, **kwargs))
    return str(caught.value)


def test_text_file_renamed_gpkg(tmp_path):
    path = tmp_path / f"{GOOD_NAME}.gpkg"
    path.write_text("id;code_cs\n1;CS2.2.1\n")
    message = read_error(path)
    assert path.name in message and "not a readable GPKG" in message


def test_truncated_7z(tmp_path, write_layer, make_7z, squares):
    gpkg = write_layer(tmp_path / "OCCUPATION_SOL.gpkg", OCCUPATION, squares(3), layer="occupation_sol")
    archive = make_7z(tmp_path / f"{GOOD_NAME}.7z", {"OCCUPATION_SOL.gpkg": gpkg})
    archive.write_bytes(archive.read_bytes()[: archive.stat().st_size // 2])
    message = read_error(archive)
    assert archive.name in message and "7z" in message


def test_unknown_code_names_file_field_value_and_rows(tmp_path, write_layer, squares):
    path = write_layer(
        tmp_path / f"{GOOD_NAME}.gpkg",
        OCCUPATION | {"code_cs": ["CS2.2.1", "CS9.9", "CS9.9"]},
        squares(3),
        layer="occupation_sol",
    )
    message = read_error(path)
    assert path.name in message and "'code_cs'" in message and "'CS9.9' (2 rows)" in message


@pytest.mark.filterwarnings("ignore:'crs' was not provided")
def test_shapefile_without_prj_or_crs_token(tmp_path, write_layer, squares):
    path = write_layer(tmp_path / "occupation_sol_D033_2021.shp", OCCUPATION, squares(3), crs=None)
    message = read_error(path)
    assert path.name in message and "no CRS" in message


def test_gpkg_without_recognisable_layer(tmp_path, write_layer, squares):
    path = write_layer(tmp_path / "export.gpkg", {"nom": ["x"]}, squares(1), layer="parcelles")
    message = read_error(path)
    assert path.name in message and "no recognisable OCS GE layer" in message and "parcelles" in message


def test_not_a_delivery_suffix(tmp_path):
    path = tmp_path / "notes.csv"
    path.write_text("a,b\n")
    assert path.name in read_error(path)


def test_missing_required_field(tmp_path, write_layer, squares):
    path = write_layer(
        tmp_path / f"{GOOD_NAME}.gpkg", {"id": ["A"], "code_cs": ["CS2.2.1"]}, squares(1), layer="occupation_sol"
    )
    message = read_error(path)
    assert path.name in message and "code_us" in message


def test_layer_without_geometry(tmp_path):
    path = tmp_path / f"{GOOD_NAME}.gpkg"
    pyogrio.write_dataframe(pd.DataFrame({"code_cs": ["CS2.2.1"], "code_us": ["US1.1"]}), path, layer="occupation_sol")
    message = read_error(path)
    assert path.name in message and "no geometry" in message


def test_file_crs_contradicting_the_name(tmp_path, write_layer, squares):
    path = write_layer(
        tmp_path / "OCS-GE_2-0__GPKG_RGR92UTM40S_D974_2022-01-01.gpkg",
        OCCUPATION,
        squares(3),
        layer="occupation_sol",
        crs=2154,
    )
    message = read_error(path)
    assert path.name in message and "RGR92UTM40S" in message


def test_no_departement_says_to_pass_the_option(tmp_path, write_layer, squares):
    path = write_layer(tmp_path / "occupation_2021.gpkg", OCCUPATION, squares(3), layer="occupation_sol")
    message = read_error(path)
    assert path.name in message and "--departement" in message


def test_no_millesime(tmp_path, write_layer, squares):
    path = write_layer(tmp_path / "OCS-GE_2-0__GPKG_LAMB93_D033.gpkg", OCCUPATION, squares(3), layer="occupation_sol")
    message = read_error(path)
    assert path.name in message and "millésime" in message


@pytest.mark.parametrize(
    ("field", "values", "expected"),
    [
        ("artif", ["artif", "maybe", "artif"], "'artif' or 'non artif'"),
        ("crit_seuil", ["true", "peut-être", "0"], "boolean"),
        ("millesime", ["2021", "vingt", "2021"], "integer"),
    ],
)
def test_bad_values(tmp_path, write_layer, squares, field, values, expected):
    path = write_layer(
        tmp_path / f"{GOOD_NAME}.gpkg",
        OCCUPATION | {"artif": ["artif"] * 3, field: values},
        squares(3),
        layer="artif_2021_33",
    )
    message = read_error(path)
    assert path.name in message and repr(field) in message and expected in message


def test_duplicate_ids_in_one_slice(tmp_path, write_layer, squares):
    path = write_layer(
        tmp_path / f"{GOOD_NAME}.gpkg", OCCUPATION | {"id": ["A", "A", "B"]}, squares(3), layer="occupation_sol"
    )
    message = read_error(path)
    assert path.name in message and "duplicate" in message and "'A'" in message


def test_nothing_is_yielded_when_a_later_file_is_bad(tmp_path, write_layer, make_7z, squares):
    """The first file is fine, the second has an unknown code: the first batch must not reach the store."""
    good = write_layer(tmp_path / "src" / "OCCUPATION_SOL.gpkg", OCCUPATION, squares(3), layer="occupation_sol")
    bad = write_layer(
        tmp_path / "src" / "ZONE_CONSTRUITE.gpkg",
        {"id": ["Z"], "millesime": ["deux mille"]},
        squares(1),
        layer="zone_construite",
    )
    archive = make_7z(tmp_path / f"{GOOD_NAME}.7z", {"a/OCCUPATION_SOL.gpkg": good, "b/ZONE_CONSTRUITE.gpkg": bad})
    batches = read_delivery(archive)
    with pytest.raises(DeliveryError, match="ZONE_CONSTRUITE.gpkg"):
        next(batches)
