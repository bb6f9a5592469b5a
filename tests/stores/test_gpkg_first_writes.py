"""Processes writing a new GeoPackage together (two batch workers' first results, an ingest beside them) all
succeed: the switch to WAL, which two first openings would deadlock on, is taken in turns (``wal_connection``)."""

from __future__ import annotations

import multiprocessing
import sqlite3
from collections.abc import Callable
from pathlib import Path

from ocsge_processes.layers import OCCUPATION_SOL
from ocsge_processes.stores.gpkg import GpkgStore

from .test_columnar import _written

WRITERS = 4  # processes writing one new file together
ROUNDS = 15  # new files, so that the race between first openings is tried again


def _slice(path: str, writer: int) -> None:
    """One département's slice of three polygons."""
    frame = _written(2021, 3).assign(departement=f"{writer:02d}")
    GpkgStore(Path(path)).replace_slice(
        OCCUPATION_SOL, 2154, frame, {"departement": f"{writer:02d}", "millesime": 2021}
    )


def _mark(path: str, writer: int) -> None:
    GpkgStore(Path(path)).set_mark("batch", f"{writer:02d}", "done")


def _write(
    write: Callable[[str, int], None],
    path: str,
    writer: int,
    barrier: multiprocessing.synchronize.Barrier,
    errors: multiprocessing.Queue[str],
) -> None:
    barrier.wait()
    try:
        write(path, writer)
    except Exception as error:  # reported to the parent, which fails the test with it
        errors.put(f"{type(error).__name__}: {error}")


def _together(tmp_path: Path, write: Callable[[str, int], None]) -> list[Path]:
    """``write`` by WRITERS processes at once on each of ROUNDS new files; the files."""
    context = multiprocessing.get_context("fork")
    errors: multiprocessing.Queue[str] = context.Queue()
    paths = []
    for round_ in range(ROUNDS):
        path = tmp_path / f"store-{round_}.gpkg"
        barrier = context.Barrier(WRITERS)
        writers = [
            context.Process(target=_write, args=(write, str(path), writer, barrier, errors))
            for writer in range(WRITERS)
        ]
        for process in writers:
            process.start()
        for process in writers:
            process.join(120)
        assert [process.exitcode for process in writers] == [0] * WRITERS
        found = []
        while not errors.empty():
            found.append(errors.get())
        assert found == [], f"round {round_}: {found}"
        paths.append(path)
    return paths


def test_slices_written_together_into_a_new_file_are_all_kept(tmp_path: Path) -> None:
    for path in _together(tmp_path, _slice):
        frame = GpkgStore(path).read_frame(OCCUPATION_SOL, 2154)
        assert sorted(frame.departement) == sorted(f"{writer:02d}" for writer in range(WRITERS) for _ in range(3))
        with sqlite3.connect(path) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_marks_written_together_into_a_new_file_are_all_kept(tmp_path: Path) -> None:
    for path in _together(tmp_path, _mark):
        assert GpkgStore(path).marks("batch") == {f"{writer:02d}": "done" for writer in range(WRITERS)}
