"""A batch over a feature store as one Celery task per key (a département), and the progress of each key.

A task carries only the store URL, the key, the batch's options and a run id. Its state, its share done and a
heartbeat are notes in the store itself (``FeatureStore.set_mark``, scope ``<batch>/progress``): the command that
sent the tasks reads them to draw a bar per key, whether the tasks run on workers or, without a broker, one after
the other in the command's own process (``run_key``, the same function). A worker that dies mid-task stops beating:
the sender reports the key lost after ``stale_after_s``, and the next run of the batch resumes it (the batch itself
is idempotent: this module only carries it). A key is computed by one run at a time: a task holds the key's lease
(``lease``), renewed at each heartbeat, and a second run's task for the same key fails at once saying who holds it.

Cancel: a note per cancelled run (scope ``<batch>/cancel``, keyed by the run id), written by the sender or, for a run
a job started (``note_job``), by whoever dismisses the job (``cancel_job``: the job's own process may be killed). A
task of a cancelled run ends before writing any note, so a task left in the queue never touches the notes of a later
run of the same batch; the keys still queued are noted failed by the canceller itself. A later run of the batch
cancels the earlier runs whose notes it replaces (``Fanout.queue``): their sender may have died with no one to cancel
them (a SIGKILLed job or command), and their queued tasks would otherwise end the later run's keys as they start.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from celery import Celery

from ..errors import BusyError, OcsgeError
from ..stores import FeatureStore, open_store
from .distributed import DEFAULT_QUEUE
from .lease import Lease, LeaseTakenError

LOGGER = logging.getLogger(__name__)

#: The work of one key: (store, key, options, progress as a share done) → a line that says what it did.
Work = Callable[[FeatureStore, str, Mapping[str, object], Callable[[float], None]], str]
#: A key's states, in the order they are reached.
QUEUED, RUNNING, DONE, FAILED = "queued", "running", "done", "failed"
#: Scope of the notes naming the fan-out a job started, followed by the job id.
JOBS_SCOPE = "fanout-jobs"


class NoWorkerError(BusyError):
    """Tasks stayed queued with none of the run's keys moving for the bounded wait: no worker takes that queue
    (a job failing with it says ServiceUnavailable: retry once a worker runs)."""


@dataclass(frozen=True)
class KeyState:
    """One key of one run, as its last note says."""

    state: str
    done: float = 0.0
    #: Moves at every heartbeat of the task: the sender tells a live task from a dead one by it.
    beat: int = 0
    message: str = ""


def progress_scope(scope: str) -> str:
    """Where the progress notes of batch ``scope`` go (apart from the batch's own notes)."""
    return f"{scope}/progress"


class Reporter:
    """Inside a task: writes the key's state from a thread, at once when the share done moves and at least every
    ``beat_s`` (a heartbeat), so that a long read with no progress still says the task is alive; the key's
    ``lease`` is renewed every ``beat_s``."""

    def __init__(
        self, store: FeatureStore, scope: str, key: str, run_id: str, beat_s: float, lease: Lease | None = None
    ) -> None:
        self.store, self.scope, self.key, self.run_id, self.beat_s = store, progress_scope(scope), key, run_id, beat_s
        self.lease = lease
        self.done = 0.0
        self._beat = 0
        self._ended = False
        self._stop = threading.Event()
        self._moved = threading.Event()
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._beating, name=f"ocsge-beat-{key}", daemon=True)

    def __enter__(self) -> Reporter:
        self.write(RUNNING)
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._moved.set()
        self._thread.join()

    def progress(self, done: float) -> None:
        """Record the share done; the reporting thread writes it at once (the task does not wait on the store)."""
        self.done = done
        self._moved.set()

    def write(self, state: str, message: str = "") -> None:
        """Write the key's note; a heartbeat written after the task's end state would hide it, and is dropped."""
        with self._lock:
            if state == RUNNING and self._ended:
                return
            self._ended = state != RUNNING
            self._beat += 1
            note = {"run": self.run_id, "state": state, "done": self.done, "beat": self._beat, "message": message}
            self.store.set_mark(self.scope, self.key, json.dumps(note))

    def _beating(self) -> None:
        renewed = time.monotonic()
        while True:
            self._moved.wait(max(0.0, renewed + self.beat_s - time.monotonic()))
            self._moved.clear()  # moves recorded while the note below is written make one more note, not one each
            if self._stop.is_set():
                return
            try:
                if time.monotonic() - renewed >= self.beat_s:
                    renewed = time.monotonic()
                    if self.lease is not None and not self.lease.renew():
                        LOGGER.warning("lease of %s lost: it lapsed and another run took it", self.key)
            except Exception as err:  # the note below still says the task is alive
                LOGGER.warning("lease of %s not renewed: %s", self.key, err)
            try:
                self.write(RUNNING)
            except Exception as err:  # a missed beat (store busy) is not the task's failure; the next one may pass
                LOGGER.warning("heartbeat of %s not written: %s", self.key, err)


def run_key(
    store_url: str,
    scope: str,
    key: str,
    run_id: str,
    options: Mapping[str, object],
    beat_s: float,
    work: Work,
    on_progress: Callable[[float], None] | None = None,
) -> KeyState:
    """Run ``work`` for ``key`` with its progress notes, holding the key's lease; its end state (``failed`` with the
    error's text when it raised or another run holds the key: the batch goes on with the other keys).

    The lease lasts four heartbeats: three may be missed (a store busy for a moment) before another run may take it.
    """
    store = open_store(store_url)
    started, cpu = time.monotonic(), time.process_time()
    lease = Lease(store, scope, key, 4 * beat_s)
    try:
        lease.take()
    except LeaseTakenError as err:
        note = {"run": run_id, "state": FAILED, "done": 0.0, "beat": 1, "message": str(err)}
        store.set_mark(progress_scope(scope), key, json.dumps(note))
        return KeyState(FAILED, message=str(err))
    try:
        with Reporter(store, scope, key, run_id, beat_s, lease) as reporter:

            def progress(done: float) -> None:
                reporter.progress(done)
                if on_progress is not None:
                    on_progress(done)

            try:
                message = work(store, key, options, progress)
            except Exception as err:
                if isinstance(err, OcsgeError):  # what is wrong with the data: said as it is
                    text = str(err)
                else:
                    LOGGER.exception("batch %s: %s failed", scope, key)
                    text = f"{type(err).__name__}: {err}"
                reporter.write(FAILED, text)
                return KeyState(FAILED, reporter.done, message=text)
            # CPU seconds too: on shared cores the wall time also counts the waits for a core
            message = f"{message} in {time.monotonic() - started:.1f} s ({time.process_time() - cpu:.1f} s CPU)"
            reporter.progress(1.0)
            reporter.write(DONE, message)
    finally:
        lease.release()
    return KeyState(DONE, 1.0, message=message)


def cancel_scope(scope: str) -> str:
    """Where the cancel notes of the runs of batch ``scope`` go."""
    return f"{scope}/cancel"


def is_cancelled(store: FeatureStore, scope: str, run_id: str) -> bool:
    """Whether run ``run_id`` of batch ``scope`` was cancelled."""
    return run_id in store.marks(cancel_scope(scope))


def cancel(store: FeatureStore, scope: str, run_id: str) -> None:
    """Note run ``run_id`` cancelled (its tasks not started end without work, running ones when their work reads
    the note), then note failed each of its keys still queued: their tasks will write nothing."""
    store.set_mark(cancel_scope(scope), run_id, "cancelled")
    for key, text in store.marks(progress_scope(scope)).items():
        note = json.loads(text)
        if note.get("run") == run_id and note.get("state") == QUEUED:
            note.update(state=FAILED, message="cancelled before it started")
            store.set_mark(progress_scope(scope), key, json.dumps(note))


def note_job(store: FeatureStore, job_id: str, scope: str, run_id: str) -> None:
    """Note that job ``job_id`` started run ``run_id`` of batch ``scope``, so that its dismissal cancels it."""
    store.set_mark(f"{JOBS_SCOPE}/{job_id}", "run", json.dumps({"scope": scope, "run": run_id}))


def cancel_job(store: FeatureStore, job_id: str) -> bool:
    """Cancel the fan-out job ``job_id`` started (``note_job``), if any; whether there was one."""
    text = store.marks(f"{JOBS_SCOPE}/{job_id}").get("run")
    if text is None:
        return False
    note = json.loads(text)
    cancel(store, str(note["scope"]), str(note["run"]))
    return True


def register(app: Celery, name: str, work: Work) -> None:
    """Add the task ``name`` running ``work`` per key to a worker's ``app``; a task of a cancelled run ends at once,
    before writing any note."""

    def task(store_url: str, scope: str, key: str, run_id: str, options: dict[str, object], beat_s: float) -> None:
        if is_cancelled(open_store(store_url), scope, run_id):
            LOGGER.info("batch %s: %s of cancelled run %s skipped", scope, key, run_id)
            return
        run_key(store_url, scope, key, run_id, options, beat_s, work)

    app.task(name=name, ignore_result=True)(task)


class Fanout:
    """The sender's side of one run: notes every key queued, sends the tasks, reads their states."""

    def __init__(self, store: FeatureStore, scope: str, keys: Iterable[str]) -> None:
        self.store, self.scope, self.keys = store, scope, list(keys)
        self.run_id = uuid.uuid4().hex
        #: Earlier runs of the batch cancelled by ``queue``: a note of theirs is from a task that started before the
        #: cancel note (the key's lease keeps this run's task from running beside it), not this run's end.
        self._superseded: set[str] = set()
        self._seen: dict[str, tuple[int, float]] = {}
        self._moved = time.monotonic()

    def cancel(self) -> None:
        """Cancel this run (``cancel``)."""
        cancel(self.store, self.scope, self.run_id)

    def follow(
        self,
        stale_after_s: float,
        take_wait_s: float,
        on_end: Callable[[str, KeyState], None],
        stop: Callable[[], bool],
        cancel_wait_s: float,
        poll_s: float = 0.5,
        consumed: Callable[[], bool] = lambda: False,
    ) -> bool:
        """Read the keys' states until each has ended, calling ``on_end`` once per key; whether the run was
        cancelled. Once ``stop()`` says yes the run is cancelled and followed ``cancel_wait_s`` more, so that the
        caller goes on once the workers have let go; ``stop`` raising cancels the run too, then the error goes on.
        Keys still queued while none of the run's keys moved for ``take_wait_s`` raise ``NoWorkerError`` (the run
        cancelled first) unless ``consumed()`` says a live worker takes their queue (busy with other work: the wait
        starts again): a sender never waits forever for a queue that no worker takes."""
        ended: set[str] = set()
        deadline = float("inf")
        self._moved = time.monotonic()
        while len(ended) < len(self.keys) and time.monotonic() < deadline:
            try:
                stopping = deadline == float("inf") and stop()
            except BaseException:
                self.cancel()
                raise
            if stopping:
                self.cancel()
                deadline = time.monotonic() + cancel_wait_s
            states = self.states(stale_after_s)
            for key, state in states.items():
                if key not in ended and state.state in (DONE, FAILED):
                    ended.add(key)
                    on_end(key, state)
            queued = any(state.state == QUEUED for state in states.values())
            if deadline == float("inf") and queued and time.monotonic() - self._moved > take_wait_s:
                if consumed():
                    self._moved = time.monotonic()
                    continue
                self.cancel()
                raise NoWorkerError(
                    f"no worker took a task of {self.scope} for {take_wait_s:g} s "
                    f"({len(self.keys) - len(ended)} of {len(self.keys)} not ended): is a worker of its queue running?",
                    int(take_wait_s),
                )
            time.sleep(poll_s)
        return deadline != float("inf")

    def queue(self) -> None:
        """Note every key queued for this run. The earlier runs whose notes these replace are cancelled: their
        sender died (a SIGKILLed job or command) or gave up, and their tasks still queued would otherwise replace
        this run's notes as they start, ending its keys before its own tasks ran."""
        notes = self.store.marks(progress_scope(self.scope))
        for key in self.keys:
            earlier = json.loads(notes.get(key, "null")) or {}
            if earlier.get("run") not in (None, self.run_id) and earlier["run"] not in self._superseded:
                self._superseded.add(str(earlier["run"]))
                cancel(self.store, self.scope, str(earlier["run"]))
        for key in self.keys:
            note = {"run": self.run_id, "state": QUEUED, "done": 0.0, "beat": 0, "message": ""}
            self.store.set_mark(progress_scope(self.scope), key, json.dumps(note))

    def send(
        self,
        app: Celery,
        task: str,
        store_url: str,
        options: Mapping[str, object],
        beat_s: float,
        queue: str = DEFAULT_QUEUE,
    ) -> None:
        """One task per key on ``queue`` (the workers' default one unless the work needs a GPU)."""
        for key in self.keys:
            app.send_task(task, args=[store_url, self.scope, key, self.run_id, dict(options), beat_s], queue=queue)

    def states(self, stale_after_s: float) -> dict[str, KeyState]:
        """Each key's state in this run; a running key whose heartbeat has not moved for ``stale_after_s`` (as
        this process's clock measures it) is ``failed``: its worker died."""
        notes = self.store.marks(progress_scope(self.scope))
        now = time.monotonic()
        states = {}
        for key in self.keys:
            note = json.loads(notes.get(key, "null")) or {}
            if note.get("run") in self._superseded:
                states[key] = KeyState(QUEUED)
                continue
            if note.get("run") != self.run_id:
                states[key] = KeyState(FAILED, message="its progress note was replaced by another run")
                continue
            state = KeyState(note["state"], float(note["done"]), int(note["beat"]), str(note["message"]))
            beat, since = self._seen.get(key, (-1, now))
            if beat != state.beat:
                self._seen[key] = (state.beat, now)
                if beat != -1:
                    self._moved = now
            elif state.state == RUNNING and now - since > stale_after_s:
                state = KeyState(FAILED, state.done, state.beat, f"no heartbeat for {stale_after_s:g} s: worker lost")
            states[key] = state
        return states
