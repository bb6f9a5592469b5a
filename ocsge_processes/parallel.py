"""Vectorised shapely operations spread over the machine's cores.

shapely releases the GIL inside its vectorised functions and tree queries, so threads over slices of the input
arrays scale with the cores, without copying a million geometries into other processes.
"""

from __future__ import annotations

import contextvars
import os
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

import numpy as np
import shapely

if TYPE_CHECKING:
    from shapely.strtree import _BinaryPredicate  # the stubs' name for STRtree.query's predicates

#: Threads used: one per core the process may run on.
WORKERS = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1

#: How much lower the CPU priority (``nice``) of a run's computing threads is than their caller's.
BACKGROUND_NICE = 10

#: Fewest items per thread for cheap per-item work (below this, threads cost more than they save).
MIN_CHUNK = 5_000


def threaded(func: Callable[..., np.ndarray], *arrays: np.ndarray, min_chunk: int = MIN_CHUNK) -> np.ndarray:
    """``func(*arrays)`` computed on slices of the arrays (all of one length) in threads, joined on the last axis.

    ``func`` must work item by item (a shapely ufunc), so that slicing does not change the answer, and must not use
    prepared geometries that appear in two slices.
    """
    return in_chunks(lambda start, stop: func(*(a[start:stop] for a in arrays)), len(arrays[0]), min_chunk)


def query_pairs(
    tree: shapely.STRtree, geometries: np.ndarray, predicate: _BinaryPredicate | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """``tree.query(geometries, predicate)`` in threads: (index in ``geometries``, index in the tree).

    Each query geometry can be costly (a commune against a million polygons), so even a few are split.
    """

    def query(start: int, stop: int) -> np.ndarray:
        found = tree.query(geometries[start:stop], predicate=predicate)
        found[0] += start
        return found

    found = in_chunks(query, len(geometries), 1)
    return found[0], found[1]


def in_chunks(work: Callable[[int, int], np.ndarray], count: int, min_chunk: int = MIN_CHUNK) -> np.ndarray:
    """``work(start, stop)`` over consecutive slices of ``count`` items in threads, joined on the last axis.

    A prepared geometry (GEOS builds its indexes lazily) must not be used by two threads at once: give each thread
    its own, as the slices here do.
    """
    chunks = max(1, min(WORKERS, count // min_chunk))
    if chunks == 1:
        return work(0, count)
    bounds = np.linspace(0, count, chunks + 1).astype(np.int64)
    with ThreadPoolExecutor(chunks) as pool:
        parts = list(pool.map(work, bounds[:-1], bounds[1:]))
    return np.concatenate(parts, axis=-1)


def each_in_thread[T](calls: Sequence[Callable[[], T]], name: str) -> Iterator[T]:
    """The result of each of ``calls``, in order, the calls all started at once (a thread each, in the background:
    :func:`in_background`).

    Steps that wait on different inputs (a millésime's read, its status) then each go on as soon as theirs is
    there, instead of after the step before. Each runs in a copy of the caller's context (a job's store time limit,
    ``stores/timeout.py``). When one fails, a call not started yet is dropped and the running ones are waited for
    before its error is raised, so nothing runs on after the caller has given up.
    """
    pool = ThreadPoolExecutor(max(1, len(calls)), thread_name_prefix=name)
    try:
        futures = [pool.submit(contextvars.copy_context().run, in_background, call) for call in calls]
        for future in futures:
            yield future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def in_background[T](call: Callable[[], T]) -> T:
    """``call()`` on this thread at a lower CPU priority (:data:`BACKGROUND_NICE`), which the threads it starts
    inherit (Linux; elsewhere at the same priority).

    The reads that feed a computation (a reader process, the thread parsing its batches) are the run's critical
    path: computing beside them at the same priority slowed the read of the next millésime by a quarter. A thread
    cannot take its priority back: use this only on threads that end with the work, never on the caller's own.
    """
    if sys.platform == "linux":
        thread = threading.get_native_id()
        # the process's priority is its main thread's: lowered from there once, however deep the nesting
        lowered = min(19, os.getpriority(os.PRIO_PROCESS, os.getpid()) + BACKGROUND_NICE)
        if os.getpriority(os.PRIO_PROCESS, thread) < lowered:
            os.setpriority(os.PRIO_PROCESS, thread, lowered)
    return call()
