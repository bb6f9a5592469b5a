"""The image, built once per session from the checkout (tests/deploy/image.py), and the server it runs."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from deploy.services import LOOPBACK_ONLY, free_port, wait_for_server

from ..conftest import SYBARVAL, ocsge
from . import image

#: What the build measured, printed at the end of the session (README "Container image" records it).
MEASURED: dict[str, float] = {}


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if MEASURED:
        terminalreporter.write_line(
            f"container image {image.IMAGE}: built in {MEASURED['build_s']:.0f} s, "
            f"{MEASURED['size_bytes'] / 1e9:.2f} GB"
        )


@pytest.fixture(scope="session")
def built_image() -> str:
    """The image of this checkout: Debian base debootstrapped (once per machine), then `buildah bud` with cached
    layers and pip downloads (a cold build downloads about 4 GB from PyPI)."""
    missing = [tool for tool in ("buildah", "debootstrap") if shutil.which(tool) is None]
    if missing:
        pytest.fail(f"{' and '.join(missing)} missing: `make system-deps` installs them")
    MEASURED["build_s"] = image.build()
    MEASURED["size_bytes"] = image.image_size()
    return image.IMAGE


@pytest.fixture(scope="session")
def image_container(built_image: str) -> Iterator[str]:
    with image.container(built_image) as name:
        yield name


@pytest.fixture(scope="session")
def image_user(image_container: str) -> tuple[int, int]:
    """The uid and gid the image runs as."""
    uid, gid = (int(n) for n in image.run(image_container, "sh", "-c", "id -u; id -g").split())
    return uid, gid


@pytest.fixture(scope="session")
def data_volume(
    tmp_path_factory: pytest.TempPathFactory, demo_deliveries: list[Path], image_user: tuple[int, int]
) -> Path:
    """A folder mounted at /data: a GeoPackage store of the real SYBARVAL data and the generated delivery, written
    by the host's `ocsge` and owned by the image's user (the server writes its WAL beside it)."""
    folder = tmp_path_factory.mktemp("image-data")
    store = folder / "ocsge.gpkg"
    ocsge("ingest", "--store", str(store), str(SYBARVAL), *map(str, demo_deliveries))
    ocsge("artificialisation", "--store", str(store), "--departement", "33")
    for path in [folder, *folder.iterdir()]:
        os.chown(path, *image_user)
    return folder


@pytest.fixture(scope="session")
def image_server(image_container: str, data_volume: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The image's own start command (its CMD) serving the mounted store on a free loopback port; its base URL."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {"OCSGE_HOST": "127.0.0.1", "OCSGE_PORT": str(port), "OCSGE_URL": url, "WORKERS": "2", **LOOPBACK_ONLY}
    log = tmp_path_factory.mktemp("image-server") / "server.log"
    command = image.config(image.IMAGE)["Cmd"]
    with image.started(image_container, command, env, {data_volume: "/data"}, log) as proc:
        wait_for_server(url, proc, log, timeout_s=300)
        yield url
