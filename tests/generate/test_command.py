"""``ocsge generate`` on the command line: deliveries written, clear errors for bad options."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from ocsge_processes.generate.command import generate_command


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(generate_command, list(args))
    return result.exit_code, result.output


def test_writes_unarchived_delivery(sybarval_path: Path, tmp_path: Path) -> None:
    code, output = run(
        "--communes",
        str(sybarval_path),
        "--codes",
        "33009",
        "--millesimes",
        "2019,2022",
        "--cell-size",
        "300",
        "--seed",
        "3",
        "--no-archive",
        "--out",
        str(tmp_path),
    )
    assert code == 0, output
    assert "OCS-GE_2-0__GPKG_LAMB93_D033_2019-01-01" in output
    assert (
        tmp_path
        / "OCS-GE_2-0_DIFF-2019-2022_GPKG_LAMB93_D033_2023-01-01/OCS-GE/1_DONNEES_LIVRAISON"
        / "DIFF_2019_2022.gpkg"
    ).exists()
    assert "changed between 2019 and 2022" in output


def test_writes_archives_by_default(sybarval_path: Path, tmp_path: Path) -> None:
    code, output = run(
        "--communes",
        str(sybarval_path),
        "--codes",
        "33009",
        "--cell-size",
        "400",
        "--departement",
        "33",
        "--out",
        str(tmp_path),
    )
    assert code == 0, output
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "OCS-GE_2-0_DIFF-2021-2024_GPKG_LAMB93_D033_2025-01-01.7z",
        "OCS-GE_2-0__GPKG_LAMB93_D033_2021-01-01.7z",
        "OCS-GE_2-0__GPKG_LAMB93_D033_2024-01-01.7z",
    ]


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--codes", "33009,99999"], "99999"),
        (["--codes", " , "], "INSEE codes"),
        (["--millesimes", "2024,2021"], "millésimes"),
        (["--millesimes", "2021"], "millésimes"),
        (["--departement", "34"], "no commune selected"),
        (["--departement", "XY"], "unknown département"),
        (["--cell-size", "5"], "cell size"),
        (["--seed", "-2"], "seed"),
    ],
)
def test_bad_options_fail_with_a_clear_message(
    sybarval_path: Path, tmp_path: Path, options: list[str], message: str
) -> None:
    code, output = run("--communes", str(sybarval_path), *options, "--out", str(tmp_path))
    assert code == 2, output
    assert message in output
    assert not any(tmp_path.iterdir())
