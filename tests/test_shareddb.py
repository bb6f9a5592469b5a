"""The shared SQLite database opened by several processes at once, as a web replica and a worker start together."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from ocsge_processes.shareddb import Database, SqliteDatabase

STARTS = 6  # processes opening one new file together: the web image and its workers in the scale-out test
ROUNDS = 60  # new files, so that the race between first openings is tried again


def _schema(db: Database) -> list[str]:
    return [f"CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, at {db.real_type})"]


def _open(path: str, barrier: multiprocessing.synchronize.Barrier, errors: multiprocessing.Queue[str]) -> None:
    barrier.wait()
    try:
        SqliteDatabase(Path(path), _schema).run("INSERT OR IGNORE INTO jobs VALUES (?, 0)", (path,))
    except Exception as error:  # reported to the parent, which fails the test with it
        errors.put(f"{type(error).__name__}: {error}")


def test_processes_opening_a_new_database_together_all_succeed(tmp_path: Path) -> None:
    context = multiprocessing.get_context("fork")
    errors: multiprocessing.Queue[str] = context.Queue()
    for round_ in range(ROUNDS):
        path = str(tmp_path / f"jobs-{round_}.sqlite")
        barrier = context.Barrier(STARTS)
        starts = [context.Process(target=_open, args=(path, barrier, errors)) for _ in range(STARTS)]
        for process in starts:
            process.start()
        for process in starts:
            process.join(60)
        assert [process.exitcode for process in starts] == [0] * STARTS
        found = []
        while not errors.empty():
            found.append(errors.get())
        assert found == [], f"round {round_}: {found}"
        rows, _ = SqliteDatabase(Path(path), _schema).run("SELECT id FROM jobs", fetch=True)
        assert rows == [(path,)]
        assert SqliteDatabase(Path(path), _schema).run("PRAGMA journal_mode", fetch=True)[0] == [("wal",)]
