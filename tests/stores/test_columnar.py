"""The columnar reads give the frames the row-by-row reader gave: same rows, order, dtypes, nulls, geometries, CRS.

The expected frames are built here as the former reader built them (a list per column, pandas' inference, then
``astype`` to ``PANDAS_TYPES``), from the rows written, so that a difference in nulls or dtypes shows.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from ocsge_processes.errors import StoreError
from ocsge_processes.layers import OCCUPATION_SOL
from ocsge_processes.stores import gpkg_arrow_reader, open_store, postgis, postgis_arrow
from ocsge_processes.stores.base import PANDAS_TYPES
from ocsge_processes.stores.gpkg import GpkgStore
from ocsge_processes.stores.timeout import QueryTimeoutError, set_query_timeout

#: A square of 10 m at (x, y).
SQUARE = 10.0


def _written(millesime: int, count: int) -> gpd.GeoDataFrame:
    """OCCUPATION_SOL rows with nulls (text and integer), a text value with a quote, multipolygons of one and two
    parts, an empty one; polygons on a 100 m grid, so that a box between grid lines splits them exactly."""
    rng = np.random.default_rng(millesime)
    geoms = []
    for k in range(count):
        x, y = 700000.0 + 100 * (k % 10), 6600000.0 + 100 * (k // 10)
        parts = [shapely.box(x, y, x + SQUARE, y + SQUARE)]
        if k % 3 == 0:
            parts.append(shapely.box(x + 20, y + 20, x + 20 + SQUARE, y + 25))
        geoms.append(shapely.MultiPolygon(parts) if k != 7 else shapely.MultiPolygon())  # one empty geometry
    codes = rng.choice(["CS1.1.1.1", "CS2.2.1", "CS1.1.2.1"], count)
    return gpd.GeoDataFrame(
        {
            "id": [f"OCS{millesime}_{k}" for k in range(count)],
            "code_cs": codes,
            "code_us": [None if k % 4 == 0 else "US235" for k in range(count)],
            "millesime": millesime,
            "source": "l'IGN" if millesime == 2021 else None,  # a quote, and a column without any value
            "ossature": pd.array([None if k % 5 == 0 else k % 2 for k in range(count)], dtype="Int64"),
            "id_origine": [f"o{k}" for k in range(count)],
            "code_or": None,
            "departement": "33",
            "libelle_cs": [f"libellé {c}" for c in codes],
            "libelle_us": "Activités",
        },
        geometry=geoms,
        crs=2154,
    )


def _as_rows_reader_built(rows: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The frame the row-by-row reader built from these rows."""
    names = list(OCCUPATION_SOL.fields)
    records = rows[names].astype(object).where(rows[names].notna(), None)
    frame = gpd.GeoDataFrame({n: list(records[n]) for n in names}, geometry=list(rows.geometry.values), crs="EPSG:2154")
    return frame.astype({n: PANDAS_TYPES[t] for n, t in OCCUPATION_SOL.fields.items()})


@pytest.fixture(params=["gpkg", "postgis", "postgis-arrow"])
def filled(request: pytest.FixtureRequest, tmp_path, monkeypatch):
    """A store of each kind holding two millésimes, and the rows written in store order; PostGIS read by psycopg,
    then by ADBC's binary COPY (``postgis_arrow``)."""
    if request.param == "gpkg":
        store = GpkgStore(tmp_path / "s.gpkg")
    else:
        monkeypatch.setenv(postgis_arrow.SWITCH, "1" if request.param == "postgis-arrow" else "0")
        store = open_store(request.getfixturevalue("postgis_url"))
        with store._conn() as conn:
            conn.execute("DROP SCHEMA IF EXISTS ocsge CASCADE")
    slices = [_written(2021, 40), _written(2024, 30)]
    for frame in slices:
        store.replace_slice(OCCUPATION_SOL, 2154, frame, {"departement": "33", "millesime": int(frame.millesime[0])})
    return store, pd.concat(slices, ignore_index=True)


@pytest.mark.parametrize(
    ("bbox", "equals"),
    [
        (None, None),
        (None, {"millesime": 2024}),
        ((700150.0, 6600050.0, 700450.0, 6600350.0), None),  # between grid lines: no polygon's box on an edge
        ((700150.0, 6600050.0, 700450.0, 6600350.0), {"millesime": 2021}),
        ((600000.0, 6600000.0, 600100.0, 6600100.0), None),  # nothing there
        (None, {"millesime": 1999}),
    ],
)
def test_read_frame_equals_the_row_reader(filled, bbox, equals) -> None:
    store, written = filled
    keep = np.ones(len(written), dtype=bool)
    if bbox is not None:
        keep &= written.intersects(shapely.box(*bbox)).to_numpy()
    for name, value in (equals or {}).items():
        keep &= (written[name] == value).to_numpy()
    expected = _as_rows_reader_built(written[keep].reset_index(drop=True))

    frame = store.read_frame(OCCUPATION_SOL, 2154, bbox, equals)

    assert (len(frame) > 0) == bool(keep.any())
    pd.testing.assert_frame_equal(frame, expected, check_exact=True)
    assert frame.crs == expected.crs
    assert list(shapely.to_wkb(frame.geometry.values)) == list(shapely.to_wkb(expected.geometry.values))
    if len(frame):
        assert {1, 2} <= set(shapely.get_num_geometries(frame.geometry.values))  # both kinds of multipolygon read
        assert frame.source.isna().any() or equals == {"millesime": 2021}
    if bbox is None and equals is None:
        assert shapely.is_empty(frame.geometry.values).sum() == 2  # one empty geometry in each millésime


def test_gpkg_read_stops_at_the_time_limit(tmp_path) -> None:
    store = GpkgStore(tmp_path / "s.gpkg")
    store.replace_slice(OCCUPATION_SOL, 2154, _written(2021, 2000), {"departement": "33", "millesime": 2021})
    set_query_timeout(1e-9)
    try:
        with pytest.raises(QueryTimeoutError):
            store.read_frame(OCCUPATION_SOL, 2154)
    finally:
        set_query_timeout(None)
    assert len(store.read_frame(OCCUPATION_SOL, 2154)) == 2000


def test_the_postgis_bulk_read_stops_at_the_time_limit(postgis_url) -> None:
    """Under this process's query time limit, as ``PostgisStore.read_frame`` passes it (the pool's
    ``statement_timeout``), a bulk read that runs past it is the client's QueryTimeout."""
    sql = "SELECT pg_sleep(2), ST_AsBinary(ST_Point(0, 0)) AS wkb"
    set_query_timeout(0.2)
    try:
        with pytest.raises(QueryTimeoutError, match="longer than 0.2 s"):
            postgis_arrow.read_table(postgis_url, sql, "wkb", postgis._timeout_ms())
    finally:
        set_query_timeout(None)
    table, shapes = postgis_arrow.read_table(postgis_url, sql.replace("2)", "0)"), "wkb", 0)
    assert table.num_rows == 1 and shapes[0].equals(shapely.Point(0, 0))


def test_a_failed_postgis_bulk_read_says_why(postgis_url) -> None:
    with pytest.raises(StoreError, match="no_such_table.*does not exist"):
        postgis_arrow.read_table(postgis_url, "SELECT * FROM no_such_table", "wkb", 0)


@pytest.mark.parametrize("route", [gpkg_arrow_reader, postgis_arrow])
def test_a_bulk_route_is_taken_for_large_reads_unless_switched(route, monkeypatch) -> None:
    monkeypatch.delenv(route.SWITCH, raising=False)
    assert not route.wanted(route.MIN_ROWS - 1)
    assert route.wanted(route.MIN_ROWS)
    monkeypatch.setenv(route.SWITCH, "0")
    assert not route.wanted(10**9)
    monkeypatch.setenv(route.SWITCH, "1")
    assert route.wanted(1)


@pytest.mark.parametrize("fields", [("code_cs", "code_us", "millesime", "departement"), ("departement", "code_cs"), ()])
def test_read_frame_of_some_fields_is_those_columns_of_the_whole(filled, fields) -> None:
    store, _ = filled
    whole = store.read_frame(OCCUPATION_SOL, 2154, None, {"millesime": 2024})
    some = store.read_frame(OCCUPATION_SOL, 2154, None, {"millesime": 2024}, fields)
    expected = whole[[name for name in OCCUPATION_SOL.fields if name in fields] + ["geometry"]]
    pd.testing.assert_frame_equal(some, expected, check_exact=True)
    assert len(some) == 30


def test_read_frame_of_an_unknown_field_says_which(filled) -> None:
    store, _ = filled
    with pytest.raises(ValueError, match="ocsge-occupation-sol has no field nom"):
        store.read_frame(OCCUPATION_SOL, 2154, fields=("code_cs", "nom"))
