"""Several processes started at one instant on the same new file: the race between first openings that a web
replica and its workers, or two batch workers, run into."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from multiprocessing.synchronize import Barrier


def _released(call: Callable[[int], None], rank: int, barrier: Barrier, errors: multiprocessing.Queue[str]) -> None:
    barrier.wait()
    try:
        call(rank)
    except Exception as error:  # reported to the parent, which fails the test with it
        errors.put(f"{type(error).__name__}: {error}")


def together(call: Callable[[int], None], processes: int, timeout_s: float = 120) -> list[str]:
    """``call(rank)`` in ``processes`` forked processes released at once; the errors they met, as text."""
    context = multiprocessing.get_context("fork")
    errors: multiprocessing.Queue[str] = context.Queue()
    barrier = context.Barrier(processes)
    started = [context.Process(target=_released, args=(call, rank, barrier, errors)) for rank in range(processes)]
    for process in started:
        process.start()
    for process in started:
        process.join(timeout_s)
    assert [process.exitcode for process in started] == [0] * processes
    found = []
    while not errors.empty():
        found.append(errors.get())
    return found
