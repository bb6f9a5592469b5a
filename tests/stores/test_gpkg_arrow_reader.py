"""The GDAL reader process gives the frames the sqlite3 reader gives, never writes the file, and never shows a
commit half done (a concurrent writer process, and an open write transaction of this process)."""

from __future__ import annotations

import hashlib
import multiprocessing
import sqlite3
import time
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import shapely

from ocsge_processes.errors import StoreError
from ocsge_processes.layers import OCCUPATION_SOL
from ocsge_processes.stores import gpkg_arrow_reader
from ocsge_processes.stores.base import Box
from ocsge_processes.stores.gpkg import GpkgStore, _rows_in_box

from .test_columnar import _written

SLICE = {"departement": "33", "millesime": 2024}


@pytest.fixture
def store(tmp_path: Path) -> GpkgStore:
    store = GpkgStore(tmp_path / "s.gpkg")
    for millesime, count in ((2021, 40), (2024, 30)):
        store.replace_slice(OCCUPATION_SOL, 2154, _written(millesime, count), {**SLICE, "millesime": millesime})
    return store


def _both(store: GpkgStore, monkeypatch: pytest.MonkeyPatch, bbox, equals):
    monkeypatch.setenv(gpkg_arrow_reader.SWITCH, "0")
    rows = store.read_frame(OCCUPATION_SOL, 2154, bbox, equals)
    monkeypatch.setenv(gpkg_arrow_reader.SWITCH, "1")
    return rows, store.read_frame(OCCUPATION_SOL, 2154, bbox, equals)


@pytest.mark.parametrize(
    ("bbox", "equals"),
    [
        (None, None),
        (None, {"millesime": 2024}),
        ((700150.0, 6600050.0, 700450.0, 6600350.0), {"millesime": 2021}),  # through the R-tree
        (None, {"departement": "it's"}),  # a quote in a text literal; no row
    ],
)
def test_the_reader_process_gives_the_sqlite3_frame(store, monkeypatch, bbox, equals) -> None:
    rows, arrow = _both(store, monkeypatch, bbox, equals)
    pd.testing.assert_frame_equal(arrow, rows, check_exact=True)
    assert arrow.crs == rows.crs
    assert list(shapely.to_wkb(arrow.geometry.values)) == list(shapely.to_wkb(rows.geometry.values))
    assert (len(arrow) == 0) == (equals == {"departement": "it's"})


@pytest.mark.parametrize("fields", [("departement", "code_cs"), ()])
def test_the_reader_process_reads_only_the_fields_asked(store, monkeypatch, fields) -> None:
    monkeypatch.setenv(gpkg_arrow_reader.SWITCH, "0")
    rows = store.read_frame(OCCUPATION_SOL, 2154, None, {"millesime": 2024}, fields)
    monkeypatch.setenv(gpkg_arrow_reader.SWITCH, "1")
    arrow = store.read_frame(OCCUPATION_SOL, 2154, None, {"millesime": 2024}, fields)
    assert list(arrow.columns) == [name for name in ("code_cs", "departement") if name in fields] + ["geometry"]
    pd.testing.assert_frame_equal(arrow, rows, check_exact=True)
    assert len(arrow) == 30


@pytest.mark.parametrize(
    "bbox",
    [None, (700150.0, 6600050.0, 700450.0, 7950050.0)],  # a box across the three batches, between grid lines
)
def test_a_read_of_many_batches_keeps_each_geometry_with_its_row(tmp_path, monkeypatch, bbox) -> None:
    """The child sends 65 536 rows a batch and each batch's WKB is parsed (and kept in the box or not) apart, as
    it arrives."""
    store = GpkgStore(tmp_path / "big.gpkg")
    written = _written(2021, 140_000)
    store.replace_slice(OCCUPATION_SOL, 2154, written, {**SLICE, "millesime": 2021})
    rows, arrow = _both(store, monkeypatch, bbox, None)
    pd.testing.assert_frame_equal(arrow, rows, check_exact=True)
    expected = (
        written.geometry.values if bbox is None else written.geometry.values[written.intersects(shapely.box(*bbox))]
    )
    assert list(shapely.to_wkb(arrow.geometry.values)) == list(shapely.to_wkb(expected))
    assert len(arrow) == (140_000 if bbox is None else 3 * 13_500)  # 3 squares of each grid row 1 to 13 500


def test_the_reader_process_leaves_the_file_as_it_was(store, monkeypatch) -> None:
    before = hashlib.sha256(store.path.read_bytes()).hexdigest()
    monkeypatch.setenv(gpkg_arrow_reader.SWITCH, "1")
    assert len(store.read_frame(OCCUPATION_SOL, 2154)) == 70
    assert hashlib.sha256(store.path.read_bytes()).hexdigest() == before
    with sqlite3.connect(store.path) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_an_open_write_of_this_process_is_not_seen(store, monkeypatch) -> None:
    writer = sqlite3.connect(store.path, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("DELETE FROM occupation_sol WHERE millesime = 2024")
    try:
        monkeypatch.setenv(gpkg_arrow_reader.SWITCH, "1")
        frame = store.read_frame(OCCUPATION_SOL, 2154)
    finally:
        writer.execute("ROLLBACK")
        writer.close()
    assert (frame.millesime == 2024).sum() == 30


def _rewrite(path: str, rounds: Synchronized, stop: Event) -> None:
    """Replace the 2024 slice until ``stop``, alternating 300 rows of one code and 30 of another, with pauses
    between commits so that some reads fall between two and some across one."""
    store = GpkgStore(path)
    while not stop.is_set():
        frame = _written(2024, 30 if rounds.value % 2 else 300)
        frame["code_cs"] = "CS2.2.1" if rounds.value % 2 else "CS1.1.1.1"
        store.replace_slice(OCCUPATION_SOL, 2154, frame, SLICE)
        rounds.value += 1
        time.sleep(0.1 if rounds.value % 3 else 2.0)  # some commits close together, some far apart


@pytest.mark.slow  # a writer process and eight reads: 15 to 55 s here
def test_a_concurrent_writer_is_never_seen_half_done(store) -> None:
    """Each read the route keeps is one whole slice: 300 rows all CS1.1.1.1, 30 all CS2.2.1, or the first 30 (three
    codes); a read across a commit is given up (None), for the caller's sqlite3 route."""
    context = multiprocessing.get_context("spawn")
    rounds, stop = context.Value("i", 0), context.Event()
    writer = context.Process(target=_rewrite, args=(str(store.path), rounds, stop))
    writer.start()
    conn = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True)
    kept = 0
    try:
        while rounds.value == 0 and writer.is_alive():
            time.sleep(0.05)
        first = rounds.value
        for _ in range(8):
            frame = gpkg_arrow_reader.read_frame(
                conn, store.path, OCCUPATION_SOL, 2154, "occupation_sol", "millesime = 2024"
            )
            if frame is None:
                continue
            kept += 1
            codes = set(frame.code_cs)
            assert (len(frame), len(codes)) in {(30, 1), (300, 1), (30, 3)}, (len(frame), codes)
            assert np.all(np.diff(frame.id.str.split("_").str[1].astype(int)) > 0)  # in fid order, as written
        during = rounds.value - first
    finally:
        stop.set()
        writer.join()
        conn.close()
    assert writer.exitcode == 0
    assert during > 0  # the writer committed while the reads ran
    with sqlite3.connect(store.path) as check:
        assert check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    print(f"{kept} of 8 reads kept, {during} commits meanwhile")  # how often the route gave up: shown with -s


def test_literals_are_inlined_safely() -> None:
    assert (
        gpkg_arrow_reader.inline('"a" = ? AND b = ? AND c = ?', ["x'y", 3, 1.5])
        == "\"a\" = 'x''y' AND b = 3 AND c = 1.5"
    )
    with pytest.raises(ValueError, match="placeholders"):
        gpkg_arrow_reader.inline("a = ?", [])


def test_a_failed_reader_process_says_why(store) -> None:
    with pytest.raises(StoreError, match="reader process failed.*no_such_table"):
        gpkg_arrow_reader.read_table(store.path, "no_such_table", ["id"], "1 = 1")


def _routed_read(store: GpkgStore, bbox: Box) -> tuple[pd.DataFrame, bool]:
    """The frame of a box read, and whether this process's sqlite3 connection read its rows (the reader process
    route runs only ``PRAGMA data_version`` on it)."""
    statements: list[str] = []
    store._reader().set_trace_callback(statements.append)
    try:
        frame = store.read_frame(OCCUPATION_SOL, 2154, bbox)
    finally:
        store._reader().set_trace_callback(None)
    return frame, any(s.lstrip().upper().startswith("SELECT") and "ORDER BY fid" in s for s in statements)


def test_a_box_over_most_of_the_layer_goes_to_the_reader_process(
    store: GpkgStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As a département's box does: it overruns the extent on three sides and cuts a little off the fourth, so the
    R-tree still narrows the read, yet most rows come back."""
    monkeypatch.delenv(gpkg_arrow_reader.SWITCH, raising=False)
    monkeypatch.setattr(gpkg_arrow_reader, "MIN_ROWS", 50)  # the fixture's 70 rows stand for a département's
    extent = store.extent(OCCUPATION_SOL, 2154)
    assert extent is not None
    minx, miny, maxx, maxy = extent
    large = (minx - 10, miny - 10, maxx - 50, maxy + 10)  # cuts the last column of squares in half
    frame, by_sqlite3 = _routed_read(store, large)
    assert not by_sqlite3
    assert 50 <= len(frame) < 70
    monkeypatch.setenv(gpkg_arrow_reader.SWITCH, "0")
    pd.testing.assert_frame_equal(frame, store.read_frame(OCCUPATION_SOL, 2154, large), check_exact=True)
    monkeypatch.delenv(gpkg_arrow_reader.SWITCH)
    small = (minx, miny, minx + 250, miny + 150)  # a commune's or a tile's
    frame, by_sqlite3 = _routed_read(store, small)
    assert by_sqlite3 and 0 < len(frame) < 50


@pytest.mark.parametrize(
    ("bbox", "rows"),
    [
        ((0.0, 0.0, 10.0, 10.0), 1000),  # the extent itself
        ((-5.0, -5.0, 15.0, 5.0), 500),  # the lower half, overrun on three sides
        ((2.0, 2.0, 4.0, 7.0), 100),  # inside: a tenth
        ((20.0, 0.0, 30.0, 10.0), 0),  # beside it
        ((10.0, 0.0, 30.0, 10.0), 0),  # touching one edge: no area
    ],
)
def test_rows_in_a_box_are_its_share_of_the_extent(bbox: Box, rows: int) -> None:
    assert _rows_in_box(1000, bbox, (0.0, 0.0, 10.0, 10.0)) == rows


def test_rows_in_a_box_of_a_flat_extent() -> None:
    """One point, or one line of rows: no area to share, the box meets all rows or none."""
    assert _rows_in_box(7, (0.0, 0.0, 1.0, 1.0), (0.5, 0.5, 0.5, 0.5)) == 7
    assert _rows_in_box(7, (0.0, 0.0, 1.0, 1.0), (2.0, 2.0, 2.0, 2.0)) == 0
    assert _rows_in_box(8, (0.0, 0.0, 5.0, 1.0), (0.0, 0.5, 10.0, 0.5)) == 4


def test_a_box_keeps_the_rows_the_rtree_finds(tmp_path, monkeypatch) -> None:
    """The reader process reads without the R-tree clause and keeps the rows whose bounds, rounded to 32-bit floats
    as SQLite's R-tree stores them (half a metre apart at Lambert-93's 6.6 million metres), meet the box: the same
    rows as the clause, for boxes whose edges fall within that rounding of the polygons' own bounds."""
    rng = np.random.default_rng(7)
    x, y = rng.uniform(700_000, 701_000, 3000), rng.uniform(6_600_000, 6_601_000, 3000)
    sizes = rng.uniform(0.01, 3.0, (3000, 2))
    geoms = shapely.box(x, y, x + sizes[:, 0], y + sizes[:, 1])
    written = _written(2021, 3000).set_geometry(list(geoms))
    store = GpkgStore(tmp_path / "float.gpkg")
    store.replace_slice(OCCUPATION_SOL, 2154, written, {**SLICE, "millesime": 2021})
    bounds = shapely.bounds(geoms)

    def edge(column: int, low: float, high: float) -> float:
        """A polygon's own bound between ``low`` and ``high`` (offsets from the area's corner), nudged a little."""
        origin = 700_000 if column % 2 == 0 else 6_600_000
        values = bounds[:, column][(bounds[:, column] > origin + low) & (bounds[:, column] < origin + high)]
        return float(rng.choice(values) + rng.uniform(-0.4, 0.4))

    for k in range(25):
        # each edge on a polygon's far side (the R-tree rounds it outward), where the rounding decides
        box = (edge(2, 100, 400), edge(3, 100, 400), edge(0, 600, 900), edge(1, 600, 900))
        rows, arrow = _both(store, monkeypatch, box, None)
        assert list(arrow.id) == list(rows.id), k
        assert 0 < len(rows) < 3000
