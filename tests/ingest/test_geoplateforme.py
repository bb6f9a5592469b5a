"""``ocsge ingest --geoplateforme``: editions found in paged Atom feeds, downloaded with resume and checked, then
ingested; against the loopback stand-in (tests/geoplateforme_standin.py), never the real service."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from pathlib import Path

import py7zr
import pytest
from click.testing import CliRunner

from ocsge_processes.cli import main
from ocsge_processes.errors import DeliveryError, UnknownCodeError
from ocsge_processes.generate import GeneratedOcsge, generate, read_communes, write_delivery
from ocsge_processes.ingest.geoplateforme import editions, parse_feed, select, zone_token
from ocsge_processes.layers import DIFFERENCE, OCCUPATION_SOL, ZONE_CONSTRUITE
from ocsge_processes.outbound.download import DownloadError
from ocsge_processes.stores import open_store
from ocsge_processes.workflows.geoplateforme_download import fetch_editions
from tests.geoplateforme_standin import Standin, StandinEdition, StandinFile, serve

SHARED_DATA = Path(os.environ.get("OCSGE_SHARED_DATA", Path(__file__).resolve().parents[3] / "shared" / "data"))
SYBARVAL = SHARED_DATA / "sybarval-ocsge-change-2015-2018" / "sybarval_ocsge_change_2015_2018.gpkg"
#: The edition names the stand-in lists: the double underscore and the malformed date ``2025-11_04`` as published.
OCS_2021 = "OCS-GE_2-0__GPKG_LAMB93_D033_2021-01-01"
OCS_2024 = "OCS-GE_2-0__GPKG_LAMB93_D033_2024-01-01"
DIFF = "OCS-GE_2-0_DIFF-2021-2024_GPKG_LAMB93_D033_2025-11_04"
SHP_2024 = "OCS-GE_2-0__SHP_LAMB93_D033_2024-01-01"


@pytest.fixture(scope="module")
def generated(tmp_path_factory: pytest.TempPathFactory) -> tuple[GeneratedOcsge, dict[str, bytes]]:
    """One small generated département (one commune, large cells) as IGN-shaped 7z archives, by edition name."""
    if not SYBARVAL.exists():
        pytest.skip(f"real commune contours {SYBARVAL} not found; set OCSGE_SHARED_DATA")
    data = generate(
        read_communes(SYBARVAL, codes=["33009"]), departement="33", cell_size_m=400.0, seed=5, progress=False
    )
    out = tmp_path_factory.mktemp("deliveries")
    archives = {path.stem: path.read_bytes() for path in write_delivery(data, out)}
    by_edition = {
        OCS_2021: archives[OCS_2021],
        OCS_2024: archives[OCS_2024],
        DIFF: archives["OCS-GE_2-0_DIFF-2021-2024_GPKG_LAMB93_D033_2025-01-01"],
    }
    return data, by_edition


@pytest.fixture
def loopback_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """The outbound policy refuses anything but loopback, so no test can reach the real service."""
    monkeypatch.setenv("OCSGE_OUTBOUND_LOOPBACK_ONLY", "1")


def _edition(
    name: str,
    data: bytes,
    *,
    zone: str = "D033",
    fmt: str = "GPKG",
    date: str = "2025-01-01",
    md5_in_content: bool = True,
    md5: str | None = None,
) -> StandinEdition:
    produit = "OCSGE-ARTIFICIALISATION" if "ARTIFICIALISATION" in name else "OCSGE"
    files = [StandinFile(f"{name}.7z", data, md5_in_content=md5_in_content, md5=md5)]
    return StandinEdition(produit, name, zone, fmt, date, files)


@pytest.fixture
def standin(generated: tuple[GeneratedOcsge, dict[str, bytes]], loopback_only: None) -> Iterator[Standin]:
    """D033 with 50 older SHP editions listed first, so the editions wanted are on page 2 of 50 entries."""
    _, archives = generated
    fillers = [_edition(f"OCS-GE_2-0__SHP_LAMB93_D033_{1960 + i}-01-01", b"", fmt="SHP") for i in range(50)]
    content = Standin(
        fillers
        + [_edition(name, data) for name, data in archives.items()]
        + [_edition(SHP_2024, archives[OCS_2024], fmt="SHP", date="2026-01-01")]
        + [_edition("OCS-GE_2-0__GPKG_LAMB93_D040_2024-01-01", b"", zone="D040")]
    )
    with serve(content) as served:
        yield served


def _ingest(standin: Standin, tmp_path: Path, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(
        main,
        [
            "ingest",
            "--store",
            str(tmp_path / "store.gpkg"),
            "--geoplateforme-url",
            standin.base_url,
            "--download-dir",
            str(tmp_path / "downloads"),
            *args,
        ],
    )
    return result.exit_code, result.output


def test_ingest_resumes_a_dropped_download_and_loads_the_editions(
    standin: Standin, generated: tuple[GeneratedOcsge, dict[str, bytes]], tmp_path: Path
) -> None:
    data, archives = generated
    whole = len(archives[OCS_2024])
    half = whole // 2
    standin.cut[f"{OCS_2024}.7z"] = half

    code, output = _ingest(standin, tmp_path, "--geoplateforme", "D033", "--millesime", "2024")
    assert code != 0
    assert "next run resumes" in output
    partial = tmp_path / "downloads" / OCS_2024 / f"{OCS_2024}.7z.part"
    assert partial.stat().st_size == half
    assert not (tmp_path / "store.gpkg").exists()  # nothing is written before every edition is whole

    code, output = _ingest(standin, tmp_path, "--geoplateforme", "D033", "--millesime", "2024")
    assert code == 0, output
    first, second = standin.downloads(f"{OCS_2024}.7z")
    assert (first.range, first.sent) == (None, half)
    assert (second.status, second.range, second.sent) == (206, f"bytes={half}-", whole - half)
    # page 2 of 50 was read; the SHP edition (newer, but a Shapefile), 2021 and the other zone were not downloaded
    pages = [s.query.get("page") for s in standin.served if s.path.endswith("/resource/OCSGE")]
    assert pages[:2] == ["1", "2"] and all(s.query.get("limit") == "50" for s in standin.served if s.query)
    fetched = {s.path.rsplit("/", 1)[-1] for s in standin.served if "/download/" in s.path}
    assert fetched == {f"{OCS_2024}.7z", f"{DIFF}.7z", f"{OCS_2024}.md5", f"{DIFF}.md5"}

    store = open_store(str(tmp_path / "store.gpkg"))
    occupation = store.read_frame(OCCUPATION_SOL, 2154, equals={"millesime": 2024})
    built = store.read_frame(ZONE_CONSTRUITE, 2154, equals={"millesime": 2024})
    diff = store.read_frame(DIFFERENCE, 2154)
    assert len(occupation) == len(data.occupation[2024]) > 0
    assert len(built) == len(data.zone_construite[2024]) > 0
    assert len(diff) == len(data.diffs[(2021, 2024)]) > 0
    assert set(diff["millesime_avant"]) == {2021} and set(diff["millesime_apres"]) == {2024}
    assert set(occupation["departement"]) == {"33"}
    store.close()


def test_a_downloaded_edition_is_not_fetched_again(
    standin: Standin, generated: tuple[GeneratedOcsge, dict[str, bytes]], tmp_path: Path
) -> None:
    folder = tmp_path / "downloads"
    fetch_editions(standin.base_url, "33", ["OCSGE"], 2021, folder)
    again = fetch_editions(standin.base_url, "D033", ["OCSGE"], 2021, folder)
    assert [item.edition.name for item in again] == [OCS_2021]
    assert again[0].received == 0 and again[0].checked == "md5"
    assert len(standin.downloads(f"{OCS_2021}.7z")) == 1


def test_a_server_without_ranges_makes_the_download_start_over(loopback_only: None, tmp_path: Path) -> None:
    data = _tiny_7z()
    name = "OCS-GE_2-0__GPKG_LAMB93_D033_2021-01-01"
    content = Standin([_edition(name, data)], cut={f"{name}.7z": len(data) // 3}, ranges=False)
    with serve(content) as served:
        with pytest.raises(DownloadError, match="next run resumes"):
            fetch_editions(served.base_url, "33", ["OCSGE"], None, tmp_path)
        fetched = fetch_editions(served.base_url, "33", ["OCSGE"], None, tmp_path)
    first, second = content.downloads(f"{name}.7z")
    assert first.sent == len(data) // 3
    assert (second.range, second.status, second.sent) == (f"bytes={len(data) // 3}-", 200, len(data))
    assert (fetched[0].resumed_from, fetched[0].received) == (0, len(data))
    assert fetched[0].archive.read_bytes() == data


def test_a_whole_part_file_is_kept_when_the_server_has_nothing_more(loopback_only: None, tmp_path: Path) -> None:
    data = _tiny_7z()
    name = "OCS-GE_2-0__GPKG_LAMB93_D033_2021-01-01"
    (tmp_path / name).mkdir()
    (tmp_path / name / f"{name}.7z.part").write_bytes(data)  # a run stopped between the last byte and the rename
    content = Standin([_edition(name, data)])
    with serve(content) as served:
        fetched = fetch_editions(served.base_url, "33", ["OCSGE"], None, tmp_path)
    assert [(s.range, s.status) for s in content.served if s.path.endswith(".7z")] == [(f"bytes={len(data)}-", 416)]
    assert (fetched[0].resumed_from, fetched[0].received) == (len(data), 0)
    assert fetched[0].archive.read_bytes() == data


def test_unknown_zone_is_named_before_any_request(standin: Standin, tmp_path: Path) -> None:
    code, output = _ingest(standin, tmp_path, "--geoplateforme", "D099")
    assert code != 0
    assert "unknown Géoplateforme zone 'D099'" in output and "D02A" in output
    assert standin.served == []
    with pytest.raises(UnknownCodeError, match="D0999"):
        zone_token("D0999")


def test_missing_millesime_lists_what_the_feed_has(standin: Standin, tmp_path: Path) -> None:
    code, output = _ingest(standin, tmp_path, "--geoplateforme", "D033", "--millesime", "2019")
    assert code != 0
    assert "no OCSGE edition of zone D033 for millésime 2019" in output
    assert "2021, 2024" in output and "DIFF 2021-2024" in output


def _tiny_7z() -> bytes:
    buffer = io.BytesIO()
    with py7zr.SevenZipFile(buffer, "w") as archive:
        archive.writestr(b"generated stand-in content " * 400, "OCS-GE/README.txt")
    return buffer.getvalue()


def test_overseas_names_with_d0971_and_odd_dates_are_found(loopback_only: None, tmp_path: Path) -> None:
    data = _tiny_7z()
    one = "OCS-GE_2-0_ARTIFICIALISATION_GPKG_RGAF09UTM20_D0971_2021-01-01"
    diff = "OCS-GE-ARTIFICIALISATION_2-0_DIFF-2018-2021_GPKG_RGAF09UTM20_D971_2025-11_04"
    content = Standin([_edition(one, data, zone="D0971"), _edition(diff, data, zone="D971", date="2025-11_04")])
    with serve(content) as served:
        fetched = fetch_editions(served.base_url, "971", ["OCSGE-ARTIFICIALISATION"], 2021, tmp_path)
    assert [(f.edition.name, f.edition.departement, f.edition.millesimes) for f in fetched] == [
        (one, "971", (2021,)),
        (diff, "971", (2018, 2021)),
    ]
    zones = {s.query.get("zone") for s in content.served if s.path.endswith("/resource/OCSGE-ARTIFICIALISATION")}
    assert zones == {"D971", "D0971"}


def test_without_a_published_md5_length_and_crcs_are_checked(loopback_only: None, tmp_path: Path) -> None:
    good = _tiny_7z()
    name = "OCS-GE_2-0__GPKG_LAMB93_D033_2021-01-01"
    edition = _edition(name, good, md5_in_content=False)
    edition.md5_file = False
    with serve(Standin([edition])) as served:
        fetched = fetch_editions(served.base_url, "33", ["OCSGE"], None, tmp_path / "ok")
        assert fetched[0].checked == "length and 7z CRCs"
        corrupt = bytearray(good)
        corrupt[len(good) // 2] ^= 0xFF
        edition.files[0].data = bytes(corrupt)
        with pytest.raises(DownloadError, match="CRC|not a readable 7z"):
            fetch_editions(served.base_url, "33", ["OCSGE"], None, tmp_path / "bad")


def test_split_volumes_are_joined_and_checked_by_the_md5_file(loopback_only: None, tmp_path: Path) -> None:
    data = _tiny_7z()
    name = "OCS-GE_2-0__GPKG_LAMB93_D033_2021-01-01"
    cut = len(data) // 2
    volumes = [
        StandinFile(f"{name}.7z.{i:03d}", chunk, rel="section", md5_in_content=False)
        for i, chunk in enumerate((data[:cut], data[cut:]), start=1)
    ]
    content = Standin([StandinEdition("OCSGE", name, "D033", "GPKG", "2025-01-01", volumes)])
    with serve(content) as served:
        fetched = fetch_editions(served.base_url, "33", ["OCSGE"], None, tmp_path)
        assert fetched[0].checked == "md5"  # from the .md5 file: the entries carry none
        assert fetched[0].archive.read_bytes() == data
        volumes[1].md5 = "f" * 32
        (tmp_path / name / f"{name}.7z.002").unlink()
        with pytest.raises(DownloadError, match=f"{name}.7z.002: MD5 .* publishes f{{32}}"):
            fetch_editions(served.base_url, "33", ["OCSGE"], None, tmp_path)


def test_an_md5_mismatch_removes_the_file(loopback_only: None, tmp_path: Path) -> None:
    name = "OCS-GE_2-0__GPKG_LAMB93_D033_2021-01-01"
    served = Standin([_edition(name, _tiny_7z(), md5="0" * 32)])
    with serve(served), pytest.raises(DownloadError, match="MD5 .* where the Géoplateforme publishes 0{32}"):
        fetch_editions(served.base_url, "33", ["OCSGE"], None, tmp_path)
    assert not (tmp_path / name / f"{name}.7z").exists()


def test_selection_prefers_geopackage_then_the_latest_edition() -> None:
    feed = (
        b"<feed xmlns='http://www.w3.org/2005/Atom' xmlns:gpf_dl='https://data.geopf.fr/annexes/ressources/xsd/gpf_dl.xsd'"
        b" gpf_dl:page='1' gpf_dl:pagecount='1' gpf_dl:totalentries='4'>"
        + b"".join(
            f"<entry><title>{name}</title><link rel='alternate' type='application/atom+xml' href='http://x/{name}'/>"
            f"<gpf_dl:zone term='D011'/><gpf_dl:editionDate>{date}</gpf_dl:editionDate></entry>".encode()
            for name, date in (
                ("OCS-GE_2-0__SHP_LAMB93_D011_2021-01-01", "2023-01-01"),
                ("OCS-GE_2-0__GPKG_LAMB93_D011_2021-01-01", "2022-01-01"),
                ("OCS-GE_2-0__SHP_LAMB93_D011_DIFF_2018-2021", "2022-06-01"),
                ("OCS-GE_2-0_DIFF-2018-2021_GPKG_LAMB93_D011_2025-06-30", "2025-06-30"),
            )
        )
        + b"</feed>"
    )
    page = parse_feed(feed, "test feed")
    chosen = select(editions("OCSGE", page.entries, "D011"), None)
    assert [e.name for e in chosen] == [
        "OCS-GE_2-0__GPKG_LAMB93_D011_2021-01-01",
        "OCS-GE_2-0_DIFF-2018-2021_GPKG_LAMB93_D011_2025-06-30",
    ]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"<html>maintenance</html>", "not an Atom feed"), (b"<!DOCTYPE x [<!ENTITY a 'b'>]><feed/>", "document type")],
)
def test_a_page_that_is_not_a_feed_is_refused(content: bytes, message: str) -> None:
    with pytest.raises(DeliveryError, match=message):
        parse_feed(content, "http://stand-in/resource/OCSGE")
