"""The shared SQLite database opened by several processes at once, as a web replica and a worker start together."""

from __future__ import annotations

from pathlib import Path

from ocsge_processes.shareddb import Database, SqliteDatabase

from .together import together

STARTS = 6  # processes opening one new file together: the web image and its workers in the scale-out test
ROUNDS = 60  # new files, so that the race between first openings is tried again


def _schema(db: Database) -> list[str]:
    return [f"CREATE TABLE IF NOT EXISTS jobs (id TEXT PRIMARY KEY, at {db.real_type})"]


def test_processes_opening_a_new_database_together_all_succeed(tmp_path: Path) -> None:
    for round_ in range(ROUNDS):
        path = tmp_path / f"jobs-{round_}.sqlite"

        def open_and_write(_rank: int, path: Path = path) -> None:
            SqliteDatabase(path, _schema).run("INSERT OR IGNORE INTO jobs VALUES (?, 0)", (str(path),))

        assert together(open_and_write, STARTS) == [], f"round {round_}"
        rows, _ = SqliteDatabase(path, _schema).run("SELECT id FROM jobs", fetch=True)
        assert rows == [(str(path),)]
        assert SqliteDatabase(path, _schema).run("PRAGMA journal_mode", fetch=True)[0] == [("wal",)]
