"""A task's progress note is written as soon as its share done moves, not at the next heartbeat: a département
whose pair computes in less than a beat still shows where it is."""

from __future__ import annotations

import json

from ocsge_processes.jobs.fanout import DONE, RUNNING, Reporter, progress_scope
from ocsge_processes.stores.gpkg import GpkgStore

from ..services import wait_until

#: Far longer than the test waits: only the move can have written the note.
BEAT_S = 600.0


def test_a_move_is_written_at_once_and_the_heartbeat_still_runs(tmp_path) -> None:
    store = GpkgStore(tmp_path / "batch.gpkg")

    def note() -> dict:
        return json.loads(store.marks(progress_scope("batch")).get("33", "{}"))

    with Reporter(store, "batch", "33", "run-1", BEAT_S) as reporter:
        assert note()["done"] == 0.0
        reporter.progress(0.5)
        assert wait_until(lambda: note()["done"] == 0.5, 10) < 10
        assert note()["state"] == RUNNING and note()["beat"] == 2
        reporter.progress(0.75)
        wait_until(lambda: note()["done"] == 0.75, 10)
    assert note()["beat"] == 3  # one note per move, none left to write at the end


def test_the_end_state_is_the_last_note(tmp_path) -> None:
    """The task's last move wakes the reporting thread just as the task writes its end state: the heartbeat must
    not land after it, or the run would read the key as running, then lost."""
    store = GpkgStore(tmp_path / "batch.gpkg")
    for _ in range(20):
        with Reporter(store, "batch", "33", "run-1", BEAT_S) as reporter:
            reporter.progress(1.0)
            reporter.write(DONE, "computed")
        assert json.loads(store.marks(progress_scope("batch"))["33"])["state"] == DONE
