"""The result store on SQLite and PostgreSQL: whole files and byte ranges read back exactly, lifetimes end in
410-style tombstones, a dismissed job's files go, a file being replaced is never seen half-written."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ocsge_processes.results import ResultGone, ResultNotFound, ResultStore, open_results
from ocsge_processes.results.ranges import UnsatisfiableRange, byte_range
from ocsge_processes.results.store import CHUNK_BYTES, CHUNKS
from tests import services


@pytest.fixture(params=["sqlite", "postgresql"])
def results(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ResultStore]:
    if request.param == "sqlite":
        yield open_results(str(tmp_path / "jobs.sqlite"))
    else:
        url = services.fresh_database(request.getfixturevalue("postgis_url"), "ocsge_results_test")
        yield open_results(url)


def _file(tmp_path: Path, size: int) -> tuple[Path, bytes]:
    data = os.urandom(size)
    path = tmp_path / f"file-{size}.bin"
    path.write_bytes(data)
    return path, data


def test_a_file_and_its_ranges_read_back_exactly(results: ResultStore, tmp_path: Path) -> None:
    # Two and a half chunks: ranges inside one chunk, across a chunk boundary, and at the end.
    size = 2 * CHUNK_BYTES + CHUNK_BYTES // 2
    path, data = _file(tmp_path, size)
    stored = results.put("job-1", "data.bin", path, "application/octet-stream", 3600, "job-1")
    assert stored.size == size and stored.etag == f'"{hashlib.sha256(data).hexdigest()}"'
    assert b"".join(results.read(stored)) == data
    for first, last in [(0, 0), (10, 5000), (CHUNK_BYTES - 3, CHUNK_BYTES + 3), (size - 7, size - 1), (5, size + 99)]:
        assert b"".join(results.read(stored, first, last)) == data[first : last + 1], (first, last)
    assert [f.name for f in results.files("job-1")] == ["data.bin"]


def test_an_empty_file_is_stored(results: ResultStore, tmp_path: Path) -> None:
    path, _ = _file(tmp_path, 0)
    stored = results.put("r", "empty", path, "text/plain", 60)
    assert stored.size == 0 and b"".join(results.read(stored)) == b""


def test_replacing_a_file_serves_the_new_bytes(results: ResultStore, tmp_path: Path) -> None:
    first, _ = _file(tmp_path, CHUNK_BYTES + 10)
    second, data = _file(tmp_path, 100)
    results.put("r", "f", first, "a/b", 60)
    stored = results.put("r", "f", second, "a/b", 60)
    assert results.info("r", "f").etag == stored.etag and b"".join(results.read(stored)) == data


def test_unknown_file_is_not_found(results: ResultStore) -> None:
    with pytest.raises(ResultNotFound):
        results.info("nobody", "nothing")


def test_an_expired_file_is_gone_before_and_after_the_sweep(results: ResultStore, tmp_path: Path) -> None:
    path, _ = _file(tmp_path, 1000)
    results.put("short", "f", path, "a/b", 0.5)
    results.put("long", "f", path, "a/b", 3600)
    time.sleep(0.7)  # past the short lifetime on the database's clock
    with pytest.raises(ResultGone, match="expired"):
        results.info("short", "f")
    assert results.sweep() == 1
    with pytest.raises(ResultGone, match="expired"):  # a tombstone, not a 404
        results.info("short", "f")
    assert results.info("long", "f").size == 1000
    assert results._run(f"SELECT count(*) FROM {CHUNKS} WHERE result_id = 'short'", fetch=True)[0][0] == 0
    assert results.sweep() == 0


def test_removing_a_job_removes_its_files_only(results: ResultStore, tmp_path: Path) -> None:
    path, _ = _file(tmp_path, 1000)
    results.put("job-a", "one", path, "a/b", 60, "job-a")
    results.put("job-a", "two", path, "a/b", 60, "job-a")
    results.put("job-b", "one", path, "a/b", 60, "job-b")
    assert results.remove_job("job-a") == 2
    with pytest.raises(ResultGone, match="dismissed"):
        results.info("job-a", "two")
    assert results.info("job-b", "one").size == 1000
    assert results._run(f"SELECT count(*) FROM {CHUNKS} WHERE result_id = 'job-a'", fetch=True)[0][0] == 0


def test_a_writer_that_died_leaves_no_file_and_its_chunks_are_swept(results: ResultStore) -> None:
    # Chunks without a file row: a writer killed mid-file. Nobody sees a file; the sweep drops them once old.
    results._run(f"INSERT INTO {CHUNKS} (result_id, name, seq, data, written) VALUES ('dead', 'f', 0, ?, 0)", (b"x",))
    with pytest.raises(ResultNotFound):
        results.info("dead", "f")
    results.sweep()
    assert results._run(f"SELECT count(*) FROM {CHUNKS} WHERE result_id = 'dead'", fetch=True)[0][0] == 0


def test_a_positive_lifetime_is_required(results: ResultStore, tmp_path: Path) -> None:
    path, _ = _file(tmp_path, 1)
    with pytest.raises(ValueError, match="lifetime"):
        results.put("r", "f", path, "a/b", 0)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("bytes=0-99", (0, 99)),
        ("bytes=100-", (100, 999)),
        ("bytes=-10", (990, 999)),
        ("bytes=-5000", (0, 999)),
        ("bytes=900-5000", (900, 999)),
        ("bytes=0-1, 5-6", None),  # several ranges: the whole file
        ("bytes=9-3", None),  # invalid: ignored
        ("items=0-3", None),
    ],
)
def test_byte_ranges(header: str | None, expected: tuple[int, int] | None) -> None:
    assert byte_range(header, 1000) == expected


@pytest.mark.parametrize("header", ["bytes=1000-", "bytes=-0"])
def test_unsatisfiable_ranges(header: str) -> None:
    with pytest.raises(UnsatisfiableRange):
        byte_range(header, 1000)
