"""``parallel.each_in_thread``: every call started at once, in the background, results in order, the caller's
context kept, and no call left running once an error is raised."""

from __future__ import annotations

import contextvars
import os
import sys
import threading
import time

import numpy as np
import pytest

from ocsge_processes.parallel import BACKGROUND_NICE, each_in_thread, in_chunks

LIMIT: contextvars.ContextVar[str] = contextvars.ContextVar("limit", default="none")


def test_a_later_call_runs_while_an_earlier_one_waits_for_it() -> None:
    """The first call waits for what the second gives: one after the other, it would time out."""
    given = threading.Event()

    def first() -> str:
        assert given.wait(10), "the second call never ran while the first waited"
        return "first"

    def second() -> str:
        given.set()
        return "second"

    assert list(each_in_thread([first, second], "test")) == ["first", "second"]


def test_each_call_sees_the_callers_context() -> None:
    token = LIMIT.set("job limit")
    try:
        assert list(each_in_thread([LIMIT.get, LIMIT.get], "test")) == ["job limit", "job limit"]
    finally:
        LIMIT.reset(token)


def test_an_error_is_raised_after_the_other_calls_end() -> None:
    """The failing call fails while the other runs: its error comes once the other has ended."""
    started, ended = threading.Event(), threading.Event()

    def fails() -> None:
        assert started.wait(10)
        raise ValueError("bad millésime")

    def slow() -> None:
        started.set()
        time.sleep(0.3)
        ended.set()

    with pytest.raises(ValueError, match="bad millésime"):
        list(each_in_thread([fails, slow], "test"))
    assert ended.is_set()


def _nice() -> int:
    return os.getpriority(os.PRIO_PROCESS, threading.get_native_id())


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread CPU priority is a Linux feature")
def test_calls_run_in_the_background_and_so_do_the_threads_they_start() -> None:
    """Each call runs BACKGROUND_NICE lower than the process, as do the threads it starts (in_chunks'), once only
    however deep; the caller keeps its own priority."""
    base, caller = os.getpriority(os.PRIO_PROCESS, os.getpid()), _nice()

    def nested() -> list[int]:
        return [_nice(), *each_in_thread([_nice], "inner")]

    def started() -> list[int]:
        return [int(n) for n in in_chunks(lambda start, stop: np.array([_nice()]), 2, 1)]

    found = list(each_in_thread([_nice, nested, started], "test"))
    lowered = min(19, base + BACKGROUND_NICE)
    assert found == [lowered, [lowered, lowered], [lowered, lowered]]
    assert _nice() == caller
