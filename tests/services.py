"""Real services for tests and benchmarks, started from Debian's packages: PostgreSQL 15 + PostGIS 3, Redis, MapServer.

Each runs in its own temporary directory on a free loopback port and is stopped at the end; nothing is mocked.
How PostgreSQL and Redis are started is shared with the local topology (``deploy/services.py``).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from deploy.services import free_port, start_postgis, start_redis, stop_postgis, wait_for_server

__all__ = [
    "free_port",
    "fresh_database",
    "mapserver",
    "postgis",
    "redis",
    "wait_for_job",
    "wait_for_server",
    "wait_until",
]


@contextmanager
def postgis() -> Iterator[str]:
    """A fresh PostgreSQL cluster with PostGIS; yields its connection URL."""
    root = Path(tempfile.mkdtemp(prefix="ocsge-pg-"))
    try:
        yield start_postgis(root, free_port())
    finally:
        stop_postgis(root, "immediate")
        shutil.rmtree(root, ignore_errors=True)


def fresh_database(postgis_url: str, name: str) -> str:
    """An empty PostGIS database ``name`` in the cluster of ``postgis_url`` (dropped first if it exists), for tests
    whose data must not meet the session database's other deliveries; returns its URL."""
    import psycopg

    with psycopg.connect(postgis_url, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name}")
        conn.execute(f"CREATE DATABASE {name}")
    url = postgis_url.rsplit("/", 1)[0] + f"/{name}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION postgis")
    return url


@contextmanager
def redis() -> Iterator[str]:
    """A Redis server without persistence; yields its URL."""
    port = free_port()
    proc = start_redis(port)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)


MAPSERV = Path("/usr/lib/cgi-bin/mapserv")

_MAPFILE = """MAP
  NAME "ocsge-test"
  EXTENT {extent}
  SIZE 256 256
  PROJECTION "init=epsg:{epsg}" END
  OUTPUTFORMAT NAME "png" DRIVER "AGG/PNG" MIMETYPE "image/png" IMAGEMODE RGB EXTENSION "png" END
  WEB METADATA "wms_title" "ocsge test WMS" "wms_srs" "EPSG:{epsg} EPSG:3857" "wms_enable_request" "*"
    "wms_onlineresource" "{url}?" END END
{layers}END
"""

_LAYER = """  LAYER NAME "{name}" TYPE RASTER STATUS ON DATA "{path}"
    PROJECTION "init=epsg:{epsg}" END
    PROCESSING "RESAMPLE=NEAREST"
    METADATA "wms_title" "{name}" END
  END
"""


@contextmanager
def mapserver(layers: dict[str, Path], epsg: int = 2154) -> Iterator[str]:
    """Debian's MapServer (cgi-mapserver) serving each raster as a WMS layer named like the Géoplateforme's, behind
    a small CGI gateway (tests/wms_gateway.py) on a free loopback port; yields the WMS URL (on ``localhost``)."""
    import rasterio

    if not MAPSERV.exists():
        raise RuntimeError(f"{MAPSERV} not found: apt-get install cgi-mapserver")
    root = Path(tempfile.mkdtemp(prefix="ocsge-wms-"))
    port = free_port()
    url = f"http://localhost:{port}/wms"
    bounds = []
    for path in layers.values():
        with rasterio.open(path) as dataset:
            bounds.append(dataset.bounds)
    extent = (
        min(b.left for b in bounds),
        min(b.bottom for b in bounds),
        max(b.right for b in bounds),
        max(b.top for b in bounds),
    )
    mapfile = root / "wms.map"
    mapfile.write_text(
        _MAPFILE.format(
            extent=" ".join(map(str, extent)),
            epsg=epsg,
            url=url,
            layers="".join(
                _LAYER.format(name=name, path=Path(path).resolve(), epsg=epsg) for name, path in layers.items()
            ),
        )
    )
    config = root / "mapserver.conf"  # MapServer 8 reads its map file only from a configuration file
    config.write_text(f'CONFIG\n  ENV\n    MS_MAPFILE "{mapfile}"\n  END\nEND\n')
    log = (root / "http.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, str(Path(__file__).with_name("wms_gateway.py")), str(port), str(MAPSERV), str(config)],
        stdout=log,
        stderr=log,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                with urllib.request.urlopen(f"{url}?SERVICE=WMS&REQUEST=GetCapabilities", timeout=10) as response:
                    if response.status == 200:
                        break
            except (urllib.error.URLError, ConnectionError) as err:
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        f"the test WMS did not start:\n{(root / 'http.log').read_text()[-2000:]}"
                    ) from err
                time.sleep(0.2)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
        log.close()
        shutil.rmtree(root, ignore_errors=True)


def wait_for_job(server: str, job_id: str, timeout_s: float = 120) -> dict:
    """The status document of an OGC API job once it has ended (or the last one seen at the deadline)."""
    import json

    deadline = time.monotonic() + timeout_s
    while True:
        with urllib.request.urlopen(f"{server}/jobs/{job_id}?f=json", timeout=30) as response:
            status = json.load(response)
        if status["status"] in ("successful", "failed", "dismissed") or time.monotonic() > deadline:
            return status
        time.sleep(0.3)


def wait_until(predicate, timeout_s: float = 20) -> float:
    """Seconds it took for ``predicate()`` to hold; fail at the deadline."""
    start = time.monotonic()
    while not predicate():
        assert time.monotonic() - start < timeout_s, "condition not met in time"
        time.sleep(0.05)
    return time.monotonic() - start
