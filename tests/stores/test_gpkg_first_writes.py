"""Processes writing a new GeoPackage together (two batch workers' first results, an ingest beside them) all
succeed: the switch to WAL, which two first openings would deadlock on, is taken in turns (``wal_connection``)."""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from pathlib import Path

from ocsge_processes.layers import OCCUPATION_SOL
from ocsge_processes.stores.gpkg import GpkgStore

from ..together import together
from .test_columnar import _written

WRITERS = 4  # processes writing one new file together
ROUNDS = 15  # new files, so that the race between first openings is tried again


def _slice(path: Path, writer: int) -> None:
    """One département's slice of three polygons."""
    departement = f"{writer:02d}"
    frame = _written(2021, 3).assign(departement=departement)
    GpkgStore(path).replace_slice(OCCUPATION_SOL, 2154, frame, {"departement": departement, "millesime": 2021})


def _mark(path: Path, writer: int) -> None:
    GpkgStore(path).set_mark("batch", f"{writer:02d}", "done")


def _rounds(tmp_path: Path, write: Callable[[Path, int], None]) -> list[Path]:
    """``write`` by WRITERS processes at once on each of ROUNDS new files; the files."""
    paths = []
    for round_ in range(ROUNDS):
        path = tmp_path / f"store-{round_}.gpkg"
        assert together(functools.partial(write, path), WRITERS) == [], f"round {round_}"
        paths.append(path)
    return paths


def test_slices_written_together_into_a_new_file_are_all_kept(tmp_path: Path) -> None:
    for path in _rounds(tmp_path, _slice):
        frame = GpkgStore(path).read_frame(OCCUPATION_SOL, 2154)
        assert sorted(frame.departement) == sorted(f"{writer:02d}" for writer in range(WRITERS) for _ in range(3))
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_marks_written_together_into_a_new_file_are_all_kept(tmp_path: Path) -> None:
    for path in _rounds(tmp_path, _mark):
        assert GpkgStore(path).marks("batch") == {f"{writer:02d}": "done" for writer in range(WRITERS)}
