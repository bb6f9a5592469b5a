"""BD ORTHO dalles as IGN delivers them: names, folders, lists, 7z archives, VRTs; pairing, grids, territory, and
what is missing. Dalles are made from the real Montpellier patch by ``ign_dalles`` into tmp_path."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from shapely.geometry import box

from ocsge_processes.errors import InvalidInputError
from ocsge_processes.segmentation.dalles import DalleName, describe, extract, list_files, pair, parse_name, product_of
from ocsge_processes.segmentation.mosaic import Territory, build
from ocsge_processes.workflows.images import ImagePolicy, server_path
from ocsge_processes.workflows.segmentation_run import dalles_cost, prepare, territory_from_text

from .ign_dalles import ORIGIN_KM, resampled, write_dalles, write_image

RGBI = ("R", "G", "B", "NIR")


def _no_codes(spec: dict) -> Territory:
    raise AssertionError(f"no store in this test: {spec}")


def test_ign_names_are_parsed() -> None:
    assert parse_name(Path("34-2021-0770-6280-LA93-0M20-E080.jp2")) == DalleName("34", 2021, 770, 6280, "LA93", 0.2)
    assert parse_name(Path("971-2020-0640-1800-U20N-0M20-E100.jp2")) == DalleName("971", 2020, 640, 1800, "U20N", 0.2)
    assert parse_name(Path("2A-2019-1180-6130-LA93-0M50-E080.tif")).departement == "2A"
    assert parse_name(Path("test_data_rgb.tif")) is None


def test_products_come_from_ign_folder_names(tmp_path: Path) -> None:
    files = write_dalles(tmp_path, 1, 1)
    assert product_of(files[("RVB", 0, 0)], tmp_path) == "RVB"
    assert product_of(files[("IRC", 0, 0)], tmp_path) == "IRC"
    assert product_of(tmp_path / "mosaic.vrt", tmp_path) == "RVB"


def test_a_folder_of_dalles_becomes_one_mosaic_on_their_grid(tmp_path: Path) -> None:
    files = write_dalles(tmp_path / "d", 3, 2)
    mosaic = prepare(tmp_path / "d", tmp_path / "d", tmp_path / "work", RGBI, None)
    assert (mosaic.stack.width, mosaic.stack.height) == (750, 500)
    assert mosaic.stack.transform == Affine(4, 0, ORIGIN_KM[0] * 1000, 0, -4, ORIGIN_KM[1] * 1000)
    assert len(mosaic.pairs) == 6 and mosaic.missing == ()
    with rasterio.open(mosaic.stack.sources[0][0]) as rvb, rasterio.open(files[("RVB", 1, 1)]) as dalle:
        np.testing.assert_array_equal(rvb.read(window=((250, 500), (250, 500))), dalle.read())
    with rasterio.open(mosaic.stack.sources[3][0]) as irc, rasterio.open(files[("IRC", 2, 0)]) as dalle:
        np.testing.assert_array_equal(irc.read(1, window=((0, 250), (500, 750))), dalle.read(1))


def test_a_list_a_7z_archive_and_a_vrt_are_accepted(tmp_path: Path) -> None:
    files = write_dalles(tmp_path / "d", 2, 1)
    listing = tmp_path / "d" / "dalles.txt"
    listing.write_text("\n".join(str(p.relative_to(listing.parent)) for p in files.values()) + "\n")
    assert sorted(list_files(listing, tmp_path, tmp_path / "w")) == sorted(files.values())
    archive = tmp_path / "BDORTHO_D034.7z"
    subprocess.run(
        ["7zz", "a", "-bso0", str(archive), "BDORTHO_2-0_RVB-0M20_JP2-E080_LAMB93_D034_2021-01-01"],
        cwd=tmp_path / "d",
        check=True,
    )
    extracted = list_files(archive, tmp_path, tmp_path / "w")
    assert sorted(p.name for p in extracted) == sorted(p.name for k, p in files.items() if k[0] == "RVB")
    assert all(p.is_relative_to(tmp_path / "w") for p in extracted)
    vrt = prepare(tmp_path / "d", tmp_path / "d", tmp_path / "w2", ("R", "G", "B"), None).stack.sources[0][0]
    mosaic = prepare(vrt, tmp_path, tmp_path / "w3", ("R", "G", "B"), None)
    assert (mosaic.stack.width, mosaic.stack.height) == (500, 250)


def test_an_archive_member_going_up_is_refused(tmp_path: Path) -> None:
    (tmp_path / "inner").mkdir()
    write_image(tmp_path / "evil.tif", np.zeros((3, 4, 4), np.uint8), Affine(1, 0, 0, 0, -1, 0), "EPSG:2154")
    archive = tmp_path / "a.7z"
    subprocess.run(["7zz", "a", "-bso0", "-spf", str(archive), "../evil.tif"], cwd=tmp_path / "inner", check=True)
    with pytest.raises(InvalidInputError, match="goes up"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_server_paths_stay_in_the_data_directory(tmp_path: Path) -> None:
    (tmp_path / "data" / "dalles").mkdir(parents=True)
    assert server_path("dalles", "dalles", tmp_path / "data") == (tmp_path / "data" / "dalles").resolve()
    with pytest.raises(InvalidInputError, match="outside the server's data directory"):
        server_path("../", "dalles", tmp_path / "data")
    listing = tmp_path / "data" / "list.txt"
    listing.write_text("../../etc/passwd\n")
    with pytest.raises(InvalidInputError, match="lies outside the server's data directory"):
        list_files(listing, tmp_path / "data", tmp_path / "w")


def test_a_missing_irc_and_a_missing_dalle_are_reported_not_invented(tmp_path: Path) -> None:
    write_dalles(tmp_path / "d", 3, 2, skip=frozenset({("IRC", 1, 0), ("RVB", 2, 1), ("IRC", 2, 1)}))
    territory = territory_from_text(
        f"{ORIGIN_KM[0] * 1000 + 10},6277010,{ORIGIN_KM[0] * 1000 + 2990},6278990", _no_codes
    )
    mosaic = prepare(tmp_path / "d", tmp_path / "d", tmp_path / "w", RGBI, territory)
    assert len(mosaic.pairs) == 5
    assert any("IRC dalle of 34-2021-0771-6279" in line for line in mosaic.missing)
    assert any("dalle at 772 km, 6278 km" in line for line in mosaic.missing)
    # The coverage leaves out the dalle without IRC and the one not delivered: their pixels become nodata.
    assert len(mosaic.stack.coverage) == 4


def test_dalles_of_two_grids_are_refused(tmp_path: Path) -> None:
    files = write_dalles(tmp_path / "d", 2, 1, driver="GTiff")
    image, crs = resampled("RVB", 250)
    shifted = Affine(4, 0, (ORIGIN_KM[0] + 1) * 1000 + 1.5, 0, -4, ORIGIN_KM[1] * 1000)
    write_image(files[("RVB", 1, 0)], image, shifted, crs)
    with pytest.raises(InvalidInputError, match="not on .* pixel grid .* dalles of two grids"):
        prepare(tmp_path / "d", tmp_path / "d", tmp_path / "w", ("R", "G", "B"), None)
    write_image(files[("RVB", 1, 0)], image[:, :125, :125], Affine(8, 0, 771000, 0, -8, 6279000), crs)
    with pytest.raises(InvalidInputError, match="8 m pixels, .* 4 m: dalles of two grids"):
        prepare(tmp_path / "d", tmp_path / "d", tmp_path / "w", ("R", "G", "B"), None)


def test_an_irc_without_rvb_and_a_name_against_its_corner_are_refused(tmp_path: Path) -> None:
    files = write_dalles(tmp_path / "d", 2, 1, skip=frozenset({("RVB", 1, 0)}), driver="GTiff")
    with pytest.raises(InvalidInputError, match="IRC dalle 34-2021-0771-6279.* has no RVB dalle"):
        prepare(tmp_path / "d", tmp_path / "d", tmp_path / "w", RGBI, None)
    wrong = files[("RVB", 0, 0)].with_name("34-2021-0775-6279-LA93-4M00-E080.tif")
    shutil.copy(files[("RVB", 0, 0)], wrong)
    with pytest.raises(InvalidInputError, match="its name says a corner at \\(775 km, 6279 km\\)"):
        describe(wrong, tmp_path, "RVB")


def test_a_territory_outside_the_dalles_is_refused(tmp_path: Path) -> None:
    write_dalles(tmp_path / "d", 1, 1, driver="GTiff")
    far = territory_from_text("700000,6600000,701000,6601000", _no_codes)
    with pytest.raises(InvalidInputError, match="lies outside the dalles given"):
        prepare(tmp_path / "d", tmp_path / "d", tmp_path / "w", RGBI, far)


def test_a_territory_in_another_crs_keeps_the_dalles_it_touches(tmp_path: Path) -> None:
    write_dalles(tmp_path / "d", 3, 1, driver="GTiff")
    # A small square inside the middle dalle, given in longitude and latitude.
    import pyproj

    to_wgs84 = pyproj.Transformer.from_crs(2154, 4326, always_xy=True)
    lon0, lat0 = to_wgs84.transform(771400, 6278400)
    lon1, lat1 = to_wgs84.transform(771600, 6278600)
    territory = Territory(box(lon0, lat0, lon1, lat1), "EPSG:4326", "square")
    pairs, _ = pair([describe(p, tmp_path, product_of(p, tmp_path)) for p in sorted((tmp_path / "d").rglob("*.tif"))])
    mosaic = build(pairs, RGBI, tmp_path / "w", territory)
    assert [p.rvb.name.x_km for p in mosaic.pairs] == [771]


def test_the_cost_of_a_run_counts_the_dalles_its_territory_touches(tmp_path: Path) -> None:
    write_dalles(tmp_path / "data" / "d", 3, 1, driver="GTiff")
    policy = ImagePolicy(data_dir=tmp_path / "data")
    whole = dalles_cost({"dalles": {"path": "d"}, "device": "cpu"}, policy, tmp_path / "w1")
    one = {"dalles": {"path": "d"}, "device": "cpu", "territoire": {"bbox": [771100, 6278100, 771900, 6278900]}}
    part = dalles_cost(one, policy, tmp_path / "w2")
    assert whole is not None and part is not None
    assert whole.seconds == pytest.approx(3 * part.seconds)
    assert "3 dalles" in whole.what and "1 dalles" in part.what
    assert dalles_cost({"dalles": {"path": "../"}}, policy, tmp_path / "w3") is None


def test_an_archive_holding_a_link_is_refused(tmp_path: Path) -> None:
    (tmp_path / "in").mkdir()
    (tmp_path / "in" / "34-2021-0770-6279-LA93-4M00-E080.jp2").symlink_to("/etc/passwd")
    archive = tmp_path / "links.7z"
    subprocess.run(["7zz", "a", "-bso0", "-snl", str(archive), "."], cwd=tmp_path / "in", check=True)
    with pytest.raises(InvalidInputError, match="is a link"):
        extract(archive, tmp_path / "out")
    assert not (tmp_path / "out").exists()
