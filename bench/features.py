"""Features benchmark of the foundation issue: our server against tipg and stock pygeoapi, under real HTTP load.

One command does everything: ``.venv/bin/python bench/features.py [--polygons N] [--duration S] [--connections C]``.

1. Data: ``ocsge generate`` on the real Gironde communes with a cell size that gives ≥ N OCCUPATION_SOL polygons for
   one millésime, then ``ocsge ingest`` of that millésime into a GeoPackage (both cached in bench/.cache, keyed on
   the cell size) and into a fresh PostGIS (tests/services.py).
2. Servers, each with the same number of gunicorn workers on loopback (ours with the settings of ``make serve``:
   threaded workers): ours on each store, pygeoapi 0.24's stock
   PostgreSQL, SQLiteGPKG and OGR providers on the same table and file, tipg on the same PostGIS.
3. Queries: 1 000-item bbox pages in towns and countryside, CQL2 attribute queries (= and IN) and S_INTERSECTS,
   the same logical query in each server's URL dialect; every server's counts are compared before any timing.
4. Load: wrk rotating through the URLs of one kind; req/s, p50, p95; ratios against the issue's targets.
5. Where the time of one request of ours goes (bench/profile_request.py), for the lead to act on misses.

Results go to bench/results/features-<date>.md and .json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import math
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from urllib.parse import urlencode

import pyproj
import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from common import host, say, write_results  # noqa: E402

from deploy.services import GUNICORN_CONF, config_command, in_venv  # noqa: E402
from tests.services import free_port, postgis, wait_for_server  # noqa: E402

BENCH = ROOT / "bench"
CACHE = BENCH / ".cache"
PROJECT_BIN = Path(sys.executable).parent
SHARED = Path(os.environ.get("OCSGE_SHARED_DATA", ROOT.parent / "shared" / "data"))
COMMUNES = SHARED / "communes-admin-express-2018" / "33-gironde" / "communes-33-gironde.geojson"
MILLESIME = 2021
PAGE = 1000
TABLE = "occupation_sol"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
LAMBERT93 = "http://www.opengis.net/def/crs/EPSG/0/2154"
MOD_SPATIALITE = Path("/usr/lib/x86_64-linux-gnu/mod_spatialite.so")

STOCK_VENV = BENCH / ".venv-stock"
TIPG_VENV = BENCH / ".venv-tipg"
STOCK_REQUIREMENTS = [
    "pygeoapi==0.24.0",
    "SQLAlchemy==2.1.9",
    "GeoAlchemy2==0.20.0",
    "psycopg2-binary==2.9.13",
    "gunicorn==27.0.1",
    "pysqlite3-binary==0.5.4.post2",
]
TIPG_REQUIREMENTS = ["tipg==1.6.1", "uvicorn==0.54.0", "gunicorn==27.0.1"]
APT_PACKAGES = ["wrk", "postgresql-15-postgis-3", "libsqlite3-mod-spatialite", "libgdal-dev"]

#: Places for the bbox pages and S_INTERSECTS polygons (lon, lat): towns, suburbs and countryside of Gironde.
PLACES = [
    ("Bordeaux centre", -0.5760, 44.8400),
    ("Mérignac", -0.6460, 44.8390),
    ("Pessac", -0.6310, 44.8060),
    ("Libourne", -0.2420, 44.9160),
    ("Arcachon", -1.1680, 44.6590),
    ("Langon", -0.2480, 44.5530),
    ("Pauillac (Médoc vineyards)", -0.7480, 45.1990),
    ("Hostens (Landes forest)", -0.6400, 44.4930),
    ("Sauveterre (Entre-deux-Mers)", -0.0860, 44.6930),
    ("Blaye", -0.6620, 45.1280),
]
#: Candidate box sides in metres: each place gets the smallest whose page is full.
BOX_SIDES_M = (1000, 1500, 2000, 3000, 4000, 6000, 8000)

#: Req/s ratios the issue asks for: ours over each baseline.
TARGETS = {"tipg": 2.0, "stock-postgresql": 5.0, "stock-sqlitegpkg": 5.0, "stock-ogr": 5.0}
GPKG_VS_POSTGIS = 1.5


# -- small helpers ---------------------------------------------------------------------------------------------


@contextmanager
def step(name: str) -> Iterator[None]:
    """Print how long a setup step took: generation and ingest take minutes, and users want to know which."""
    start = time.monotonic()
    say(f"… {name}")
    yield
    say(f"✓ {name}: {time.monotonic() - start:.1f} s")


def run(args: list, **kwargs) -> subprocess.CompletedProcess:
    """A command that must succeed; its output is shown only when it fails."""
    result = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(map(str, args))} failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}")
    return result


# -- environment ------------------------------------------------------------------------------------------------


def ensure_apt(packages: list[str]) -> None:
    """Install the Debian packages the compared servers need (wrk, mod_spatialite, GDAL headers)."""
    missing = [p for p in packages if subprocess.run(["dpkg", "-s", p], capture_output=True).returncode != 0]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    with step(f"apt-get install {' '.join(missing)}"):
        run([*sudo, "apt-get", "update", "-qq"])
        run(
            [*sudo, "apt-get", "install", "-y", "-qq", *missing],
            env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"},
        )


def ensure_venv(path: Path, requirements: list[str]) -> Path:
    """A Python 3.12 virtualenv with ``requirements``, rebuilt only when they change; returns its bin folder."""
    marker = path / ".bench-requirements"
    if marker.exists() and marker.read_text() == "\n".join(requirements):
        return path / "bin"
    with step(f"virtualenv {path.relative_to(ROOT)}"):
        shutil.rmtree(path, ignore_errors=True)
        run(["python3.12", "-m", "venv", path])
        run([path / "bin" / "pip", "install", "-q", "--upgrade", "pip"])
        run([path / "bin" / "pip", "install", "-q", *requirements])
        marker.write_text("\n".join(requirements))
    return path / "bin"


def ensure_gdal_bindings(bin_dir: Path) -> str | None:
    """GDAL's Python bindings for the stock OGR provider, built against Debian's libgdal; the reason if impossible."""
    check = [bin_dir / "python", "-c", "from osgeo import ogr"]
    if subprocess.run(check, capture_output=True).returncode == 0:
        return None
    try:
        version = run(["gdal-config", "--version"]).stdout.strip()
        with step(f"pip install gdal=={version} (built against Debian's libgdal)"):
            run([bin_dir / "pip", "install", "-q", f"gdal=={version}"])
    except (RuntimeError, FileNotFoundError) as err:
        return f"GDAL Python bindings could not be installed: {str(err).strip().splitlines()[-1]}"
    return None


def machine() -> dict:
    """What the numbers were measured on, PostgreSQL included."""
    postgres = run(["/usr/lib/postgresql/15/bin/postgres", "--version"]).stdout.strip()
    return {**host(), "postgres": postgres}


# -- data -------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dataset:
    """The generated millésime, its GeoPackage, and how many polygons it holds."""

    delivery: Path
    gpkg: Path
    polygons: int
    cell_size_m: int


def cell_size_for(polygons: int) -> int:
    """Rural seed spacing giving about ``polygons`` cells over Gironde; built-up areas are denser, so it is a floor."""
    import geopandas as gpd

    area_m2 = float(gpd.read_file(COMMUNES).to_crs(2154).area.sum())
    return max(50, int(math.sqrt(area_m2 / polygons) // 5 * 5))


def generated_deliveries(polygons: int) -> tuple[Path, int]:
    """Generated Gironde deliveries (two millésimes and their DIFF) with ≥ ``polygons`` per millésime, made once per
    cell size in bench/.cache; returns their folder and the cell size."""
    cell = cell_size_for(polygons)
    delivery_root = CACHE / f"gironde-cell{cell}-seed0" / "delivery"
    if not (delivery_root / ".done").exists():
        shutil.rmtree(delivery_root, ignore_errors=True)
        with step(f"ocsge generate (Gironde, cell size {cell} m)"):
            run(
                [
                    PROJECT_BIN / "ocsge",
                    "generate",
                    "--communes",
                    COMMUNES,
                    "--departement",
                    "33",
                    "--cell-size",
                    cell,
                    "--no-archive",
                    "--out",
                    delivery_root,
                ]
            )
        (delivery_root / ".done").touch()
    return delivery_root, cell


def prepare_data(polygons: int) -> Dataset:
    """Generate and ingest once per cell size; later runs reuse bench/.cache."""
    delivery_root, cell = generated_deliveries(polygons)
    folder = delivery_root.parent
    delivery = next(p for p in sorted(delivery_root.iterdir()) if p.is_dir() and p.name.endswith(f"_{MILLESIME}-01-01"))
    gpkg = folder / "ocsge.gpkg"
    if not (folder / ".gpkg-done").exists():
        gpkg.unlink(missing_ok=True)
        with step(f"ocsge ingest {delivery.name} into the GeoPackage"):
            run([PROJECT_BIN / "ocsge", "ingest", "--store", gpkg, delivery])
        (folder / ".gpkg-done").touch()
    with sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True) as conn:
        count = conn.execute(f"SELECT count(*) FROM {TABLE}").fetchone()[0]
    if count < polygons:
        raise SystemExit(
            f"only {count} polygons at cell size {cell} m (wanted {polygons}): raise --polygons a little "
            "for smaller cells"
        )
    return Dataset(delivery, gpkg, count, cell)


def ingest_postgis(url: str, dataset: Dataset) -> None:
    """The same millésime into the fresh PostGIS, by the same command users run."""
    with step(f"ocsge ingest {dataset.delivery.name} into PostGIS"):
        run([PROJECT_BIN / "ocsge", "ingest", "--store", url, dataset.delivery])
        run(["psql", url, "-qc", f"VACUUM ANALYZE ocsge.{TABLE}"])


# -- queries ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Query:
    """One logical request: the OGC API parameters every server gets (plus its own dialect's)."""

    kind: str
    label: str
    params: dict[str, str]


KINDS = {
    "bbox": "1 000-item bbox pages (CRS84 boxes sized from the data so that pages are full)",
    "cql-eq": "CQL2 code_cs = … AND millesime = …, limit 1 000",
    "cql-in": "CQL2 code_us IN (…) AND millesime = …, limit 1 000",
    "s-intersects": "CQL2 S_INTERSECTS(geom, hexagon), limit 1 000",
}


def box_crs84(lon: float, lat: float, side_m: float) -> tuple[float, float, float, float]:
    """A square of ``side_m`` around a place, in Lambert-93, returned as its CRS84 bounds."""
    to_l93 = pyproj.Transformer.from_crs("OGC:CRS84", 2154, always_xy=True)
    x, y = to_l93.transform(lon, lat)
    half = side_m / 2
    back = pyproj.Transformer.from_crs(2154, "OGC:CRS84", always_xy=True)
    return tuple(round(v, 6) for v in back.transform_bounds(x - half, y - half, x + half, y + half))


def hexagon_wkt(lon: float, lat: float, side_m: float) -> str:
    """A non-rectangular CRS84 polygon (hexagon of diameter ``side_m``), so S_INTERSECTS cannot shortcut as a bbox."""
    to_l93 = pyproj.Transformer.from_crs("OGC:CRS84", 2154, always_xy=True)
    back = pyproj.Transformer.from_crs(2154, "OGC:CRS84", always_xy=True)
    x, y = to_l93.transform(lon, lat)
    corners = [
        back.transform(x + side_m / 2 * math.cos(a), y + side_m / 2 * math.sin(a))
        for a in (i * math.pi / 3 for i in range(7))
    ]
    return "POLYGON((" + ", ".join(f"{cx:.6f} {cy:.6f}" for cx, cy in corners) + "))"


def build_queries(gpkg: Path) -> list[Query]:
    """The same queries for every server: boxes sized from the data so that pages are full, common codes."""
    conn = sqlite3.connect(f"file:{gpkg}?mode=ro", uri=True)
    l93 = pyproj.Transformer.from_crs("OGC:CRS84", 2154, always_xy=True)

    def in_box(bounds: tuple[float, float, float, float]) -> int:
        minx, miny, maxx, maxy = l93.transform_bounds(*bounds)
        return conn.execute(
            f"SELECT count(*) FROM rtree_{TABLE}_geom WHERE maxx >= ? AND minx <= ? AND maxy >= ? AND miny <= ?",
            [minx, maxx, miny, maxy],
        ).fetchone()[0]

    queries = []
    for name, lon, lat in PLACES:
        side = next((s for s in BOX_SIDES_M if in_box(box_crs84(lon, lat, s)) >= 1.5 * PAGE), BOX_SIDES_M[-1])
        bbox = ",".join(map(str, box_crs84(lon, lat, side)))
        queries.append(Query("bbox", f"{name}, {side / 1000:g} km", {"bbox": bbox, "limit": str(PAGE)}))
        queries.append(
            Query(
                "s-intersects",
                f"{name}, {side / 1000:g} km hexagon",
                cql(f"S_INTERSECTS(geom, {hexagon_wkt(lon, lat, side * 1.2)})"),
            )
        )
    codes_cs = [c for (c,) in conn.execute(f"SELECT code_cs FROM {TABLE} GROUP BY code_cs ORDER BY count(*) DESC")]
    codes_us = [c for (c,) in conn.execute(f"SELECT code_us FROM {TABLE} GROUP BY code_us ORDER BY count(*) DESC")]
    conn.close()
    queries.extend(Query("cql-eq", code, cql(f"code_cs='{code}' AND millesime={MILLESIME}")) for code in codes_cs[:6])
    for start in range(0, 6, 2):
        chosen = ", ".join(f"'{c}'" for c in codes_us[start : start + 3])
        queries.append(Query("cql-in", chosen, cql(f"code_us IN ({chosen}) AND millesime={MILLESIME}")))
    return queries


def cql(text: str) -> dict[str, str]:
    return {"filter": text, "filter-lang": "cql2-text", "limit": str(PAGE)}


# -- servers ----------------------------------------------------------------------------------------------------


@dataclass
class Server:
    """One server under test: how to reach its items and what it honours."""

    key: str
    label: str
    items: str
    #: Parameters of this server's dialect added to every request (pygeoapi: f=json).
    extra: dict[str, str] = field(default_factory=dict)
    #: False for providers that silently ignore `filter` (their answers to CQL2 queries are not answers).
    cql: bool = True
    port: int = 0
    skipped: str | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def path(self, query: Query) -> str:
        return f"{self.items}?{urlencode({**query.params, **self.extra})}"


class Fleet:
    """Starts the servers, and stops every one of them on exit, even when a later one fails."""

    def __init__(self, workers: int, run_dir: Path, stack: ExitStack) -> None:
        self.workers = workers
        self.run_dir = run_dir
        self.stack = stack
        self.servers: list[Server] = []
        #: Process ids whose trees are the system under test (gunicorn masters, the PostgreSQL postmaster).
        self.roots: list[int] = []

    def start(self, server: Server, command: list, env: dict[str, str], cwd: Path = ROOT) -> None:
        server.port = free_port()
        folder = self.run_dir / server.key
        folder.mkdir(parents=True, exist_ok=True)
        log_path = folder / "server.log"
        log = self.stack.enter_context(log_path.open("w"))
        command = [str(c).replace("{port}", str(server.port)) for c in command]
        proc = subprocess.Popen(command, env={**os.environ, **env}, cwd=cwd, stdout=log, stderr=log)
        self.stack.callback(_stop, proc)
        self.roots.append(proc.pid)
        wait_for_server(server.base, proc, log_path)
        self.servers.append(server)
        say(f"✓ {server.key} on {server.base} ({self.workers} workers)")

    def skip(self, server: Server, reason: str) -> None:
        server.skipped = reason
        self.servers.append(server)
        say(f"✗ {server.key}: {reason}")

    def gunicorn(self, bin_dir: Path, app: str, *worker_class: str) -> list:
        """Identical gunicorn settings for every server; a long timeout so slow baselines finish, not die."""
        return [
            bin_dir / "gunicorn",
            "--workers",
            self.workers,
            *worker_class,
            "--bind",
            "127.0.0.1:{port}",
            "--timeout",
            "300",
            "--log-level",
            "warning",
            app,
        ]

    def ours(self, bin_dir: Path) -> list:
        """Our WSGI app with the settings ``make serve`` and the image use (gthread workers, their threads), so a
        slow request holds a thread, not a worker; the rest as :meth:`gunicorn` gives every server."""
        return self.gunicorn(bin_dir, "ocsge_processes.server.app:APP", "-c", GUNICORN_CONF)


def _stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(20)
    except subprocess.TimeoutExpired:
        proc.kill()


def start_ours(fleet: Fleet, key: str, store: str) -> None:
    """Our server exactly as `make serve` runs it: `ocsge config`, then gunicorn on the WSGI app."""
    server = Server(
        key,
        f"ours ({'GeoPackage' if key.endswith('gpkg') else 'PostGIS'} store)",
        "/collections/ocsge-occupation-sol/items",
        {"f": "json"},
    )
    folder = fleet.run_dir / key
    config, openapi = folder / "pygeoapi-config.yml", folder / "openapi.yml"
    run(in_venv(config_command(store, ROOT / "pygeoapi-config.yml", config, openapi), PROJECT_BIN))
    env = {"PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)}
    fleet.start(server, fleet.ours(PROJECT_BIN), env)


def stock_config(provider: dict) -> dict:
    """Our template's server settings (same limits, no gzip, no pretty print) with one stock-provider collection."""
    template = yaml.safe_load((ROOT / "pygeoapi-config.yml").read_text(encoding="utf-8"))
    config = {k: v for k, v in template.items() if not k.startswith("x-") and k != "resources"}
    config["server"]["url"] = "http://127.0.0.1"
    config["server"]["bind"] = {"host": "127.0.0.1", "port": 5000}
    config["server"].pop("manager", None)  # ours: stock pygeoapi has no ocsge_processes to import it from
    config["logging"] = {"level": "ERROR"}
    provider = {"type": "feature", "storage_crs": LAMBERT93, "crs": [CRS84, LAMBERT93], **provider}
    config["resources"] = {
        TABLE: {
            "type": "collection",
            "title": "OCS GE occupation du sol",
            "description": "Benchmark table",
            "keywords": ["OCS GE"],
            "links": [],
            "extents": {"spatial": {"bbox": [-1.3, 44.2, 0.4, 45.6], "crs": CRS84}},
            "providers": [provider],
        }
    }
    return config


def start_stock(
    fleet: Fleet, bin_dir: Path, key: str, label: str, provider: dict, env: dict[str, str] | None = None
) -> None:
    """Stock pygeoapi 0.24 (its own virtualenv, its own Flask app) with one of its providers."""
    server = Server(key, label, f"/collections/{TABLE}/items", {"f": "json"}, cql=provider["name"] == "PostgreSQL")
    folder = fleet.run_dir / key
    folder.mkdir(parents=True, exist_ok=True)
    config, openapi = folder / "pygeoapi-config.yml", folder / "openapi.yml"
    config.write_text(yaml.safe_dump(stock_config(provider), allow_unicode=True, sort_keys=False), encoding="utf-8")
    run(
        [bin_dir / "pygeoapi", "openapi", "generate", config, "--output-file", openapi],
        env={**os.environ, **(env or {}), "PYGEOAPI_CONFIG": str(config)},
    )
    env = {**(env or {}), "PYGEOAPI_CONFIG": str(config), "PYGEOAPI_OPENAPI": str(openapi)}
    fleet.start(server, fleet.gunicorn(bin_dir, "pygeoapi.flask_app:APP"), env)


def start_tipg(fleet: Fleet, bin_dir: Path, url: str) -> None:
    """tipg on the same PostGIS table, under gunicorn with uvicorn workers (its documented deployment)."""
    server = Server("tipg", "tipg 1.6.1 (PostGIS)", f"/collections/ocsge.{TABLE}/items")
    folder = fleet.run_dir / "tipg"
    folder.mkdir(parents=True, exist_ok=True)
    env = {"DATABASE_URL": url, "TIPG_DB_SCHEMAS": '["ocsge"]', "TIPG_MAX_FEATURES_PER_QUERY": "10000"}
    fleet.start(
        server,
        fleet.gunicorn(bin_dir, "tipg.main:app", "--worker-class", "uvicorn.workers.UvicornWorker"),
        env,
        cwd=folder,
    )


def fleet_on_postgis(stack: ExitStack, dataset: Dataset, workers: int, run_dir: Path) -> tuple[str, Fleet]:
    """A fresh PostGIS holding ``dataset``, and a fleet whose measured processes include its postmaster."""
    pg_url = stack.enter_context(postgis())
    ingest_postgis(pg_url, dataset)
    fleet = Fleet(workers, run_dir, stack)
    fleet.roots.append(postmaster_pid(pg_url))
    return pg_url, fleet


def postmaster_pid(url: str) -> int:
    """The PostgreSQL server's process id, so that its CPU (all backends) counts as the system under test."""
    data = run(["psql", url, "-tAc", "SHOW data_directory"]).stdout.strip()
    return int((Path(data) / "postmaster.pid").read_text().split()[0])


def sqlite_extension_problem(bin_dir: Path) -> str | None:
    """Why pygeoapi's SQLiteGPKG provider cannot run on the stock venv's own sqlite3, or None."""
    probe = "import sqlite3; sqlite3.connect(':memory:').enable_load_extension(True)"
    result = subprocess.run([bin_dir / "python", "-c", probe], capture_output=True, text=True)
    return None if result.returncode == 0 else result.stderr.strip().splitlines()[-1]


def start_all(fleet: Fleet, dataset: Dataset, pg_url: str) -> None:
    """Every compared server, or the reason one cannot run (then it is listed as not run, and the rest goes on)."""
    stock_bin = ensure_venv(STOCK_VENV, STOCK_REQUIREMENTS)
    tipg_bin = ensure_venv(TIPG_VENV, TIPG_REQUIREMENTS)
    start_ours(fleet, "ours-gpkg", str(dataset.gpkg))
    start_ours(fleet, "ours-postgis", pg_url)
    start_tipg(fleet, tipg_bin, pg_url)
    pg = re.match(r"postgresql://(\w+)@([\d.]+):(\d+)/(\w+)", pg_url)
    start_stock(
        fleet,
        stock_bin,
        "stock-postgresql",
        "pygeoapi 0.24 PostgreSQL provider",
        {
            "name": "PostgreSQL",
            "table": TABLE,
            "id_field": "fid",
            "geom_field": "geom",
            "data": {
                "host": pg[2],
                "port": int(pg[3]),
                "dbname": pg[4],
                "user": pg[1],
                "password": "",
                "search_path": ["ocsge", "public"],
            },
        },
    )
    # SpatiaLite's AutoGPKGStart adds virtual tables to the file it opens: give it a copy, not our cached store.
    sqlite_copy = dataset.gpkg.with_name("stock-sqlitegpkg.gpkg")
    if not sqlite_copy.exists() or sqlite_copy.stat().st_mtime < dataset.gpkg.stat().st_mtime:
        with step("copy of the GeoPackage for the SQLiteGPKG provider"):
            shutil.copyfile(dataset.gpkg, sqlite_copy)
    sqlite_server = ("stock-sqlitegpkg", "pygeoapi 0.24 SQLiteGPKG provider")
    sqlite_provider = {"name": "SQLiteGPKG", "data": str(sqlite_copy), "table": TABLE, "id_field": "fid"}
    problem = sqlite_extension_problem(stock_bin)
    if not MOD_SPATIALITE.exists():
        fleet.skip(Server(*sqlite_server, ""), f"{MOD_SPATIALITE} is missing (libsqlite3-mod-spatialite)")
    elif problem is None:
        start_stock(fleet, stock_bin, *sqlite_server, sqlite_provider)
    else:
        say(
            f"! pygeoapi's SQLiteGPKG provider cannot load mod_spatialite with this Python's sqlite3 ({problem}: "
            "pyenv built it without loadable extensions); it runs on pysqlite3-binary's sqlite3 instead, provider "
            "code unchanged (bench/stock_sqlite/sitecustomize.py)"
        )
        start_stock(fleet, stock_bin, *sqlite_server, sqlite_provider, env={"PYTHONPATH": str(BENCH / "stock_sqlite")})
    ogr_server = ("stock-ogr", "pygeoapi 0.24 OGR provider (GPKG)")
    gdal_problem = ensure_gdal_bindings(stock_bin)
    if gdal_problem:
        fleet.skip(Server(*ogr_server, ""), gdal_problem)
    else:
        start_stock(
            fleet,
            stock_bin,
            *ogr_server,
            {
                "name": "OGR",
                "id_field": "id",
                "layer": TABLE,
                "data": {"source_type": "GPKG", "source": str(dataset.gpkg)},
            },
        )


# -- correctness ------------------------------------------------------------------------------------------------


@dataclass
class Answer:
    """What one server returned for one query: counts to compare, size and time of one cold-ish request."""

    returned: int | None
    matched: int | None
    size: int
    seconds: float
    error: str | None = None


def fetch(server: Server, query: Query) -> Answer:
    start = time.monotonic()
    try:
        with urllib.request.urlopen(server.base + server.path(query), timeout=600) as response:
            body = response.read()
    except urllib.error.HTTPError as err:
        return Answer(None, None, 0, time.monotonic() - start, f"HTTP {err.code}: {err.read()[:200]!r}")
    seconds = time.monotonic() - start
    document = json.loads(body)
    return Answer(len(document.get("features", [])), document.get("numberMatched"), len(body), seconds)


def check(servers: list[Server], queries: list[Query]) -> tuple[dict[str, dict[str, list[Answer]]], list[str]]:
    """Every server answers every query it supports once; differing counts, errors and short pages are warned
    about (and listed in the results), before anything is timed."""
    answers: dict[str, dict[str, list[Answer]]] = {s.key: {} for s in servers}
    warnings = []
    for query in queries:
        got = {s.key: fetch(s, query) for s in servers if s.skipped is None and (s.cql or query.kind == "bbox")}
        for key, answer in got.items():
            answers[key].setdefault(query.kind, []).append(answer)
            if answer.error:
                warnings.append(f"{key} {query.kind} [{query.label}]: {answer.error}")
        fine = {k: a for k, a in got.items() if a.error is None}
        for what in ("returned", "matched"):
            values = {k: getattr(a, what) for k, a in fine.items() if getattr(a, what) is not None}
            if len(set(values.values())) > 1:
                warnings.append(f"{query.kind} [{query.label}]: number{what.capitalize()} differs: {values}")
        if any(a.returned != PAGE for a in fine.values()):
            warnings.append(
                f"{query.kind} [{query.label}]: a page is not full: { {k: a.returned for k, a in fine.items()} }"
            )
    for warning in warnings:
        say(f"! {warning}")
    return answers, warnings


# -- load -------------------------------------------------------------------------------------------------------


@dataclass
class Load:
    """One wrk run: throughput and latency percentiles (latencies in ms)."""

    requests: int
    seconds: float
    rps: float
    p50_ms: float | None
    p95_ms: float | None
    errors: int
    #: CPU cores used on average by the servers and PostgreSQL, by other processes at normal priority (noise that
    #: competes with the servers), and by niced processes (which mostly take only what the servers leave idle).
    server_cores: float
    other_cores: float
    niced_cores: float


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def tree_ticks(roots: list[int]) -> int:
    """CPU ticks used so far by these processes and all their descendants, the exited ones included (through
    their parents' children times): PostgreSQL's parallel workers live for one query only."""
    total, todo = 0, list(roots)
    while todo:
        pid = todo.pop()
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
            tasks = list(Path(f"/proc/{pid}/task").iterdir())
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = stat.rsplit(")", 1)[1].split()
        total += sum(int(ticks) for ticks in fields[11:15])
        # every thread's children: a process started from a thread other than the main one is listed there
        todo.extend(child for task in tasks for child in _children(task))
    return total


def _children(task: Path) -> list[int]:
    """The processes a thread started, none once it has ended (its time is in its process's already)."""
    try:
        return [int(pid) for pid in (task / "children").read_text().split()]
    except (FileNotFoundError, ProcessLookupError):
        return []


def machine_ticks() -> tuple[int, int]:
    """CPU ticks the whole machine spent so far at normal priority (user, system, interrupts, steal) and niced."""
    user, nice, system, _, _, irq, softirq, steal = map(int, Path("/proc/stat").read_text().split()[1:9])
    return user + system + irq + softirq + steal, nice


def children_seconds() -> float:
    """CPU seconds of this script's finished children: wrk's own cost, to leave out of the other load."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def wait_idle(roots: list[int], limit_s: float = 300) -> None:
    """Wait until the servers and PostgreSQL are idle: requests a slow server still has queued after wrk closed
    its connections must not eat into the next run's CPU (2 cores)."""
    deadline = time.monotonic() + limit_s
    while time.monotonic() < deadline:
        before = tree_ticks(roots)
        time.sleep(0.5)
        if (tree_ticks(roots) - before) / CLOCK_TICKS < 0.025:
            return


def wrk(server: Server, queries: list[Query], args: argparse.Namespace, roots: list[int], run_dir: Path) -> Load:
    """wrk rotating through the query paths, after a short unrecorded warm-up. Other engineers' processes share
    this machine: a run during which they used more than --max-other-load cores is taken again (twice at most) and
    the quietest run is kept; its table row shows that load."""
    paths = run_dir / server.key / f"{queries[0].kind}.paths"
    paths.write_text("\n".join(server.path(q) for q in queries) + "\n")
    _wrk_once(server, paths, min(3, args.duration), args, roots)
    best = None
    for _ in range(3):
        load = _wrk_once(server, paths, args.duration, args, roots)
        best = load if best is None or load.other_cores < best.other_cores else best
        if load.other_cores <= args.max_other_load:
            break
        say(f"  other processes used {load.other_cores:.2f} cores at normal priority meanwhile: measuring again")
    return best


def _wrk_once(server: Server, paths: Path, seconds: int, args: argparse.Namespace, roots: list[int]) -> Load:
    """One wrk run, with the CPU used by the servers and PostgreSQL and by anything else on the machine."""
    wait_idle(roots)
    start = (tree_ticks(roots), machine_ticks(), children_seconds())
    result = run(
        [
            "wrk",
            f"-t{args.threads}",
            f"-c{args.connections}",
            f"-d{seconds}s",
            "--timeout",
            "300s",
            "-s",
            BENCH / "rotate.lua",
            server.base,
            "--",
            paths,
        ]
    )
    end = (tree_ticks(roots), machine_ticks(), children_seconds())
    line = next(line for line in result.stdout.splitlines() if line.startswith("WRK_RESULT"))
    values = {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}
    elapsed = values["duration_us"] / 1e6
    done = values["requests"]
    errors = values["status_errors"] + values["timeouts"] + values["connect_errors"] + values["read_errors"]
    tested = (end[0] - start[0]) / CLOCK_TICKS
    other = (end[1][0] - start[1][0]) / CLOCK_TICKS - tested - (end[2] - start[2])
    niced = (end[1][1] - start[1][1]) / CLOCK_TICKS
    return Load(
        done,
        elapsed,
        done / elapsed,
        values["p50_us"] / 1000 if done else None,
        values["p95_us"] / 1000 if done else None,
        errors,
        round(tested / elapsed, 2),
        round(max(0.0, other) / elapsed, 2),
        round(niced / elapsed, 2),
    )


# -- report -----------------------------------------------------------------------------------------------------


def cell(load: Load | str | None) -> list[str]:
    if load is None:
        return ["–", "–", "–"]
    if isinstance(load, str):
        return [load, "", ""]
    if load.requests == 0:
        return ["0 (none finished)", "–", "–"]
    return [f"{load.rps:.1f}", f"{load.p50_ms:.0f}", f"{load.p95_ms:.0f}"]


def ratio_lines(loads: dict[str, Load | str | None]) -> list[str]:
    """Ours over each baseline with the issue's targets, and GeoPackage against PostGIS; honest PASS/MISS."""
    lines = []
    for ours in ("ours-gpkg", "ours-postgis"):
        mine = loads.get(ours)
        if not isinstance(mine, Load):
            continue
        for base, target in TARGETS.items():
            other = loads.get(base)
            if not isinstance(other, Load):
                continue
            if other.rps == 0:
                lines.append(f"{ours} / {base}: ∞ (baseline finished no request) – target ≥ {target:g}×: PASS")
                continue
            r = mine.rps / other.rps
            lines.append(f"{ours} / {base}: {r:.2f}× – target ≥ {target:g}×: {'PASS' if r >= target else 'MISS'}")
    gpkg, pg = loads.get("ours-gpkg"), loads.get("ours-postgis")
    if isinstance(gpkg, Load) and isinstance(pg, Load) and gpkg.rps > 0:
        r = pg.rps / gpkg.rps
        verdict = "PASS" if r <= GPKG_VS_POSTGIS else "MISS"
        lines.append(
            f"ours-postgis / ours-gpkg: {r:.2f}× – target GPKG within {GPKG_VS_POSTGIS:g}× of PostGIS: {verdict}"
        )
    return lines


def markdown_table(
    servers: list[Server], loads: dict[str, Load | str | None], answers: dict[str, dict[str, list[Answer]]], kind: str
) -> list[str]:
    """One row per server; CPU columns show what the servers used and whether anything else ran meanwhile."""
    rows = [
        "| server | req/s | p50 ms | p95 ms | KiB/response | errors | server+PG cores | other cores |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for server in servers:
        load = loads.get(server.key)
        sizes = [a.size for a in answers.get(server.key, {}).get(kind, []) if a.error is None]
        size = f"{sum(sizes) / len(sizes) / 1024:.0f}" if sizes and isinstance(load, Load) else ""
        extra = (
            [str(load.errors), f"{load.server_cores:.2f}", f"{load.other_cores:.2f} (+{load.niced_cores:.2f} niced)"]
            if isinstance(load, Load)
            else ["", "", ""]
        )
        rows.append(f"| {server.key} ({server.label}) | " + " | ".join([*cell(load), size, *extra]) + " |")
    return rows


def profile(dataset: Dataset, pg_url: str, queries: list[Query], run_dir: Path) -> list[str]:
    """Where one request of ours spends its time, per store and query kind (bench/profile_request.py)."""
    lines = []
    for store_key, store in (("ours-gpkg", str(dataset.gpkg)), ("ours-postgis", pg_url)):
        for kind in KINDS:
            query = next(q for q in queries if q.kind == kind)
            path = Server("", "", "/collections/ocsge-occupation-sol/items", {"f": "json"}).path(query)
            result = run(
                [
                    sys.executable,
                    BENCH / "profile_request.py",
                    "--store",
                    store,
                    "--path",
                    path,
                    "--work",
                    run_dir / "profile" / f"{store_key}-{kind}",
                ]
            )
            lines += [f"### {store_key}, {kind} ({query.label})", "", "```", result.stdout.rstrip(), "```", ""]
    return lines


# -- main -------------------------------------------------------------------------------------------------------


def load_arguments(parser: argparse.ArgumentParser, duration: int, per: str) -> argparse.ArgumentParser:
    """The options every benchmark under wrk load shares: data size, load, servers, tolerated noise."""
    parser.add_argument("--polygons", type=int, default=1_000_000, help="minimum OCCUPATION_SOL polygons")
    parser.add_argument("--duration", type=int, default=duration, help=f"seconds of load per {per}")
    parser.add_argument("--connections", type=int, default=8, help="wrk connections")
    parser.add_argument("--threads", type=int, default=2, help="wrk threads")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn workers of every server")
    parser.add_argument(
        "--max-other-load",
        type=float,
        default=0.25,
        help="CPU cores other processes may use during a run before it is measured again",
    )
    return parser


def main() -> None:
    parser = load_arguments(argparse.ArgumentParser(description=__doc__.split("\n\n")[0]), 20, "server and query kind")
    args = parser.parse_args()

    ensure_apt(APT_PACKAGES)
    dataset = prepare_data(args.polygons)
    say(f"data: {dataset.polygons} polygons (millésime {MILLESIME}, cell size {dataset.cell_size_m} m)")
    run_dir = CACHE / "runs" / dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    queries = build_queries(dataset.gpkg)
    with ExitStack() as stack:
        pg_url, fleet = fleet_on_postgis(stack, dataset, args.workers, run_dir)
        with step("servers"):
            start_all(fleet, dataset, pg_url)
        servers = fleet.servers
        with step("same counts from every server"):
            answers, warnings = check(servers, queries)
        results: dict[str, dict[str, Load | str | None]] = {}
        for kind in KINDS:
            kind_queries = [q for q in queries if q.kind == kind]
            results[kind] = {}
            for server in servers:
                if server.skipped:
                    results[kind][server.key] = "not run"
                elif kind != "bbox" and not server.cql:
                    results[kind][server.key] = "not supported (ignored filter)"
                else:
                    with step(f"load {kind} on {server.key}"):
                        results[kind][server.key] = wrk(server, kind_queries, args, fleet.roots, run_dir)
        with step("profile of one request of ours"):
            profiles = profile(dataset, pg_url, queries, run_dir)

    about = machine()
    lines = [
        f"# Features benchmark, {dt.date.today().isoformat()}",
        "",
        f"Machine: {about['cpus']} CPUs ({about['cpu_model']}), {about['ram_gib']} GiB RAM, Linux "
        f"{about['kernel']}, {about['postgres']}; everything on this one machine over loopback.",
        "",
        f"Data: generated OCS GE of Gironde (`ocsge generate`, cell size {dataset.cell_size_m} m), millésime "
        f"{MILLESIME}: {dataset.polygons} OCCUPATION_SOL polygons.",
        "",
        f"Load: wrk -t{args.threads} -c{args.connections} -d{args.duration}s per server and kind (after a 3 s "
        f"warm-up), rotating through the kind's URLs; every server under gunicorn with {args.workers} workers.",
        "Columns: latencies as wrk measured them under that load; *server+PG cores*: CPU the server and "
        "PostgreSQL used on average; *other cores*: CPU unrelated processes used meanwhile at normal priority "
        f"(the machine is shared; runs above {args.max_other_load:g} were taken again, up to 3 times, keeping "
        "the quietest), and niced ones, which mostly take only the CPU the servers leave idle.",
        "",
    ]
    lines.extend(f"- {server.key}: not run – {server.skipped}" for server in servers if server.skipped)
    for kind, title in KINDS.items():
        lines += [
            "",
            f"## {kind}: {title}",
            "",
            *markdown_table(servers, results[kind], answers, kind),
            "",
            *(f"- {line}" for line in ratio_lines(results[kind])),
        ]
    lines += ["", "## Correctness check (each query once on each server, before timing)", ""]
    lines += [f"- {w}" for w in warnings] or ["- every server returned the same numberReturned and numberMatched"]
    lines += [
        "",
        "tipg reprojects a CRS84 bbox to the storage CRS with densified bounds (pyproj transform_bounds); "
        "pygeoapi, and so ours and the stock providers, transforms its two corners only. tipg's Lambert-93 "
        "box is thus slightly larger and matches more polygons; pages are full (1 000) everywhere. Stock "
        "providers that ignore `filter` are not asked the CQL2 queries.",
    ]
    lines += ["", "## Queries", ""]
    lines += [f"- {q.kind} [{q.label}]: `{urlencode(q.params)}`" for q in queries]
    lines += ["", "## Where one request of ours spends its time", "", *profiles]
    text = "\n".join(lines) + "\n"
    print(text)
    report = {
        "date": dt.date.today().isoformat(),
        "machine": about,
        "args": vars(args),
        "data": {**asdict(dataset), "delivery": str(dataset.delivery), "gpkg": str(dataset.gpkg)},
        "servers": [asdict(s) for s in servers],
        "queries": [asdict(q) for q in queries],
        "single_requests": {s: {k: [asdict(a) for a in v] for k, v in kinds.items()} for s, kinds in answers.items()},
        "results": {k: {s: asdict(v) if isinstance(v, Load) else v for s, v in r.items()} for k, r in results.items()},
        "ratios": {k: ratio_lines(r) for k, r in results.items()},
    }
    say(f"results: {write_results('features', report, text).relative_to(ROOT)}")


if __name__ == "__main__":
    main()
