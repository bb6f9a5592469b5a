"""Shared fixtures: real data from ../shared/data, a generated delivery, both stores, a live gunicorn server."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from deploy.services import web_server

from . import services

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("OCSGE_SHARED_DATA", ROOT.parent / "shared" / "data"))
SYBARVAL = SHARED / "sybarval-ocsge-change-2015-2018" / "sybarval_ocsge_change_2015_2018.gpkg"
BIN = Path(sys.executable).parent
#: Three SYBARVAL communes of different sizes for the generated stock (Arcachon, Le Teich, Lanton).
DEMO_COMMUNES = ["33009", "33527", "33229"]
#: Rows of the real SYBARVAL change layers (3970 artificialisation + 1296 désartificialisation).
SYBARVAL_DIFF_ROWS = 5266
#: Fixtures that start a database, build the demo stores (most live servers sit on one of them) or start a server
#: of their own (`live`: the hardening modules' servers on an empty store): a test that uses one, directly or
#: through other fixtures, is marked slow, since the first such test of a session waits seconds to tens of seconds
#: for it (`make test-fast` leaves them out).
SLOW_FIXTURES = frozenset({"postgis_url", "demo_deliveries", "live"})
#: Fixture parameters that fetch ``postgis_url`` on demand (``request.getfixturevalue``), which the fixture closure
#: does not show.
SLOW_PARAMS = frozenset({"postgis", "postgis-arrow", "postgresql"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark slow the tests that need a database or the demo stores (see SLOW_FIXTURES); the tests slow by their
    own work carry the mark themselves."""
    for item in items:
        callspec = getattr(item, "callspec", None)
        params = {str(value) for value in callspec.params.values()} if callspec else set()
        if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())) or SLOW_PARAMS & params:
            item.add_marker(pytest.mark.slow)


def ocsge(*args: str, check: bool = True, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run the installed ``ocsge`` command, as a user would."""
    return subprocess.run(
        [str(BIN / "ocsge"), *args], capture_output=True, text=True, check=check, env={**os.environ, **(env or {})}
    )


@pytest.fixture(scope="session")
def demo_deliveries(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """A generated OCS GE delivery (two millésimes and their DIFF) for three real communes."""
    out = tmp_path_factory.mktemp("deliveries")
    ocsge(
        "generate",
        "--communes",
        str(SYBARVAL),
        "--codes",
        ",".join(DEMO_COMMUNES),
        "--departement",
        "33",
        "--cell-size",
        "250",
        "--out",
        str(out),
    )
    archives = sorted(out.glob("*.7z"))
    assert len(archives) == 3, archives
    return archives


@pytest.fixture(scope="session")
def postgis_url() -> str:
    with services.postgis() as url:
        yield url


@pytest.fixture(scope="session", params=["gpkg", "postgis"])
def store_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, demo_deliveries: list[Path]
) -> str:
    """A store of each kind holding the real SYBARVAL data and the generated delivery, loaded by `ocsge ingest`."""
    if request.param == "gpkg":
        url = str(tmp_path_factory.mktemp("gpkg") / "ocsge.gpkg")
    else:
        url = request.getfixturevalue("postgis_url")
    ocsge("ingest", "--store", url, str(SYBARVAL), *map(str, demo_deliveries))
    ocsge("artificialisation", "--store", url, "--departement", "33")
    return url


@pytest.fixture(scope="session")
def server(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A live gunicorn server (2 workers) on the store; yields its base URL."""
    with web_server(
        store_url, tmp_path_factory.mktemp("server"), BIN, OCSGE_DATA_DIR=str(SHARED), OCSGE_TRUSTED_HOSTS="localhost"
    ) as url:
        yield url
