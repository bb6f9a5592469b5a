"""`ocsge ingest` refuses what would destroy good data, and leaves the store byte for byte as it was.

Each case runs the real command against a store (GeoPackage, PostGIS) that already holds good OCCUPATION_SOL rows of
département 33, millésime 2021, and the real Gironde communes (Admin Express COG 2018, ../shared/data): a wrong
.prj, non-finite coordinates, a missing .dbf, data outside the département, overlapping polygons with --strict.
"""

from __future__ import annotations

import hashlib
import uuid
from pathlib import Path

import numpy as np
import psycopg
import pytest
import shapely
from pyproj import Transformer

from ocsge_processes.ingest import read_delivery

from ..conftest import SHARED, ocsge

GIRONDE_COMMUNES = SHARED / "communes-admin-express-2018" / "33-gironde" / "communes-33-gironde.geojson"
GOOD_NAME = "OCS-GE_2-0__GPKG_LAMB93_D033_2021-01-01"
#: Lambert-93 coordinates inside Gironde (near Arcachon).
X, Y = 400_000.0, 6_400_000.0


def rows(count: int) -> dict[str, list[object]]:
    return {
        "id": [f"B{i}" for i in range(count)],
        "code_cs": ["CS2.2.1"] * count,
        "code_us": ["US1.1"] * count,
        "millesime": [2021] * count,
    }


def grid(columns: int, rows_: int, size: float = 100.0, x: float = X, y: float = Y) -> list[shapely.Geometry]:
    """A partition: ``columns`` × ``rows_`` squares of ``size`` metres."""
    return [
        shapely.box(x + i * size, y + j * size, x + (i + 1) * size, y + (j + 1) * size)
        for j in range(rows_)
        for i in range(columns)
    ]


@pytest.fixture(params=[pytest.param("gpkg", marks=pytest.mark.slow), "postgis"])  # ingests Gironde's communes
def store(request: pytest.FixtureRequest, tmp_path: Path, write_layer) -> str:
    """A store of each kind (its own PostGIS database) holding Gironde's communes and a good 2021 layer."""
    if request.param == "gpkg":
        url = str(tmp_path / "ocsge.gpkg")
    else:
        server = request.getfixturevalue("postgis_url")
        name = f"ingest_checks_{uuid.uuid4().hex[:12]}"
        with psycopg.connect(server, autocommit=True) as connection:
            connection.execute(f"CREATE DATABASE {name}")
        url = server.rsplit("/", 1)[0] + f"/{name}"
        with psycopg.connect(url, autocommit=True) as connection:
            connection.execute("CREATE EXTENSION postgis")
    good = write_layer(tmp_path / "good" / f"{GOOD_NAME}.gpkg", rows(6), grid(3, 2), layer="occupation_sol")
    ocsge("ingest", "--store", url, str(GIRONDE_COMMUNES), str(good))
    return url


def fingerprint(url: str) -> dict[str, object]:
    """Rows per table and a checksum of all the data: the file's bytes, or every table's rows as text."""
    if not url.startswith("postgresql://"):
        return {"sha256": hashlib.sha256(Path(url).read_bytes()).hexdigest()}
    found: dict[str, object] = {}
    with psycopg.connect(url) as connection:
        tables = connection.execute(
            "SELECT table_schema, table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE' "
            "AND table_schema NOT IN ('pg_catalog', 'information_schema') ORDER BY 1, 2"
        ).fetchall()
        for schema, table in tables:
            name = f'"{schema}"."{table}"'
            count, digest = connection.execute(
                f"SELECT count(*), md5(coalesce(string_agg(t::text, '|' ORDER BY t::text), '')) FROM {name} t"
            ).fetchone()
            found[name] = (count, digest)
    assert any("occupation_sol" in name for name in found), found
    return found


def refused(url: str, *args: str) -> str:
    """Run a refused ingest; the store must be unchanged. Returns the error message."""
    before = fingerprint(url)
    result = ocsge("ingest", "--store", url, *args, check=False)
    assert result.returncode == 1, result.stdout + result.stderr
    assert fingerprint(url) == before
    assert "Traceback" not in result.stderr
    return " ".join(result.stderr.split())


@pytest.mark.filterwarnings("ignore")
def test_wgs84_prj_over_lambert_coordinates(store, tmp_path, write_layer) -> None:
    shp = write_layer(tmp_path / "bare" / "OCCUPATION_SOL.shp", rows(6), grid(3, 2), crs=4326)
    message = refused(store, str(shp), "--departement", "33")
    assert "OCCUPATION_SOL.shp" in message and "WGS 84 (EPSG:4326)" in message
    assert "6 of 6 geometries lie outside the area of use" in message
    assert "extent found x 400000 to 400300, y 6400000 to 6400200" in message


@pytest.mark.filterwarnings("ignore")
def test_utm20n_prj_over_lambert_coordinates(store, tmp_path, write_layer) -> None:
    shp = write_layer(tmp_path / "bare" / "OCCUPATION_SOL.shp", rows(6), grid(3, 2), crs=32620)
    message = refused(store, str(shp), "--departement", "33")
    assert "OCCUPATION_SOL.shp" in message and "WGS 84 / UTM zone 20N" in message
    assert "the CRS of département 33, RGF93 v1 / Lambert-93 (EPSG:2154)" in message
    assert "extent found x -292" in message  # where the reprojection put it, about 2 900 km west of Brest


#: Lambert-93 as ArcGIS writes it in a .prj: no EPSG code, so pyproj knows no area of use for it.
ESRI_LAMBERT_93 = (
    'PROJCS["RGF93_Lambert_93",GEOGCS["GCS_RGF_1993",DATUM["D_RGF_1993",SPHEROID["GRS_1980",6378137.0,'
    '298.257222101]],PRIMEM["Greenwich",0.0],UNIT["Degree",0.0174532925199433]],PROJECTION["Lambert_Conformal_Conic"],'
    'PARAMETER["False_Easting",700000.0],PARAMETER["False_Northing",6600000.0],PARAMETER["Central_Meridian",3.0],'
    'PARAMETER["Standard_Parallel_1",49.0],PARAMETER["Standard_Parallel_2",44.0],'
    'PARAMETER["Latitude_Of_Origin",46.5],UNIT["Meter",1.0]]'
)


@pytest.mark.filterwarnings("ignore")
def test_esri_lambert_prj_over_degrees(store, tmp_path, write_layer) -> None:
    """Longitudes and latitudes of Gironde under a Lambert-93 .prj that has no EPSG code (nor area of use)."""
    shp = write_layer(
        tmp_path / "bare" / "OCCUPATION_SOL.shp", rows(6), grid(3, 2, size=0.001, x=-0.5, y=44.8), crs=None
    )
    shp.with_suffix(".prj").write_text(ESRI_LAMBERT_93)
    message = refused(store, str(shp), "--departement", "33")
    assert "OCCUPATION_SOL.shp" in message and "the CRS of département 33, RGF93 v1 / Lambert-93" in message
    assert "extent found x -0.5000 to -0.4970, y 44.8000 to 44.8020" in message


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("bad", [np.inf, np.nan], ids=["inf", "nan"])
def test_non_finite_coordinates(store, tmp_path, write_layer, bad) -> None:
    polygons = grid(3, 2)
    polygons[4] = shapely.Polygon([(X, Y), (bad, Y), (X + 50, Y + 50), (X, Y)])
    gpkg = write_layer(tmp_path / f"{GOOD_NAME}.gpkg", rows(6), polygons, layer="occupation_sol")
    message = refused(store, str(gpkg))
    assert f"{GOOD_NAME}.gpkg" in message and "RGF93 v1 / Lambert-93 (EPSG:2154)" in message
    assert "1 of 6 geometries have infinite or NaN coordinates" in message


def test_missing_dbf_is_named(store, tmp_path, write_layer) -> None:
    shp = write_layer(tmp_path / "bare" / "OCCUPATION_SOL.shp", rows(6), grid(3, 2))
    shp.with_suffix(".dbf").unlink()
    message = refused(store, str(shp), "--departement", "33")
    assert "OCCUPATION_SOL.dbf is missing beside the .shp" in message and "no fields" not in message


def test_outside_the_departement_communes(store, tmp_path, write_layer) -> None:
    """Lambert-93 is right but the data lies in Hérault (Montpellier): outside Gironde's communes."""
    gpkg = write_layer(
        tmp_path / f"{GOOD_NAME}.gpkg", rows(6), grid(3, 2, x=770_000, y=6_277_000), layer="occupation_sol"
    )
    message = refused(store, str(gpkg))
    assert f"{GOOD_NAME}.gpkg" in message
    assert "6 of 6 geometries of ocsge-occupation-sol lie outside département 33" in message
    assert "2 km margin" in message and "extent found x 770000 to 770300, y 6277000 to 6277200" in message


@pytest.mark.slow
def test_outside_the_communes_of_the_same_delivery(tmp_path, write_layer) -> None:
    """With no store communes, those given in the same command place the département."""
    url = str(tmp_path / "fresh.gpkg")
    ocsge(
        "ingest",
        "--store",
        url,
        str(write_layer(tmp_path / "ok" / f"{GOOD_NAME}.gpkg", rows(6), grid(3, 2), layer="occupation_sol")),
    )
    far = write_layer(
        tmp_path / f"{GOOD_NAME}.gpkg", rows(6), grid(3, 2, x=770_000, y=6_277_000), layer="occupation_sol"
    )
    message = refused(url, str(GIRONDE_COMMUNES), str(far))
    assert "lie outside département 33" in message


def test_western_french_guiana_is_inside_its_crs(tmp_path, write_layer) -> None:
    """EPSG's area of RGFG95 / UTM 22N stops at 54°W; IGN delivers all of Guyane in it, down to 54.6°W."""
    x, y = Transformer.from_crs(4326, 2972, always_xy=True).transform(-54.5, 5.3)  # Maroni river, west of 54°W
    gpkg = write_layer(
        tmp_path / "OCS-GE_2-0__GPKG_RGFG95UTM22_D973_2021-01-01.gpkg",
        rows(6),
        grid(3, 2, x=x, y=y),
        layer="occupation_sol",
        crs=2972,
    )
    (batch,) = read_delivery(gpkg)
    assert batch.epsg == 2972 and len(batch.frame) == 6


def test_overlaps_and_gaps_are_reported_and_strict_refuses(store, tmp_path, write_layer) -> None:
    """A 4 × 3 grid of 1 ha squares: one more square overlaps two cells by half each; one cell is missing."""
    polygons = grid(4, 3)
    del polygons[5]  # second row, second column: a 1 ha hole
    polygons.append(shapely.box(X + 250, Y + 200, X + 350, Y + 300))  # over cells (2, 2) and (3, 2)
    gpkg = write_layer(tmp_path / f"{GOOD_NAME}.gpkg", rows(len(polygons)), polygons, layer="occupation_sol")
    summary = (
        "12 polygons, overlaps 1.0000 ha (8.333 % of the polygons' area) in 2 pair(s), gaps 1.0000 ha "
        "(8.333 % of the covered extent) in 1 hole(s), 10 polygon(s) involved"
    )
    message = refused(store, "--strict", str(gpkg))
    assert "--strict: 1 layer(s) are not partitions" in message and summary in message
    result = ocsge("ingest", "--store", store, str(gpkg))
    assert (
        f"not a partition: ocsge-occupation-sol from {gpkg.name}:occupation_sol (departement=33, millesime=2021): "
        f"{summary}" in " ".join(result.stdout.split())
    )


def test_a_partition_reports_nothing_to_fix(store, tmp_path, write_layer) -> None:
    gpkg = write_layer(tmp_path / f"{GOOD_NAME}.gpkg", rows(12), grid(4, 3), layer="occupation_sol")
    result = ocsge("ingest", "--store", store, "--strict", str(gpkg))
    assert result.stdout.startswith("partition: ocsge-occupation-sol from")
    assert (
        "12 polygons, overlaps 0.0000 ha (0.000 % of the polygons' area) in 0 pair(s), gaps 0.0000 ha "
        "(0.000 % of the covered extent) in 0 hole(s), 0 polygon(s) involved"
    ) in " ".join(result.stdout.split())
