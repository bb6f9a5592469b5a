"""Reading, computing and writing at the same time: a reader thread and a writer thread around the caller's compute.

Raster decoding and encoding release the GIL in GDAL, and so does torch, so three threads keep the device busy while
the next batch is read and the last one written. Bounded queues keep memory flat on rasters of any size. The first
error in any stage stops the others and is raised in the caller.
"""

from __future__ import annotations

import enum
import queue
import threading
from collections.abc import Callable, Iterable

#: Seconds between checks for a stopped pipeline while a queue is full or empty.
POLL_S = 0.1


class _End(enum.Enum):
    """The marker after the last item of a queue (an enum, so that its type tells it from any item)."""

    END = enum.auto()


_END = _End.END


def overlapped[In, Out](
    source: Iterable[In], compute: Callable[[In], Out], sink: Callable[[Out], None], depth: int = 2
) -> None:
    """``sink(compute(item))`` for each item of ``source``, in order; ``source`` is iterated (and closed) in a reader
    thread and ``sink`` runs in a writer thread, each holding at most ``depth`` items waiting."""
    inbox: queue.Queue[In | _End] = queue.Queue(depth)
    outbox: queue.Queue[Out | _End] = queue.Queue(depth)
    stop = threading.Event()
    errors: list[BaseException] = []

    def read() -> None:
        items = iter(source)
        try:
            for item in items:
                if not _put(inbox, item, stop):
                    return
            _put(inbox, _END, stop)
        except BaseException as exc:
            errors.append(exc)
            stop.set()
        finally:
            # A generator left half-way must close its files here: GDAL handles belong to the thread that opened them.
            if hasattr(items, "close"):
                items.close()

    def write() -> None:
        try:
            while (item := _get(outbox, stop)) is not _END:
                sink(item)
        except BaseException as exc:
            errors.append(exc)
            stop.set()

    threads = [
        threading.Thread(target=read, name="segmentation-reader", daemon=True),
        threading.Thread(target=write, name="segmentation-writer", daemon=True),
    ]
    for thread in threads:
        thread.start()
    try:
        while (item := _get(inbox, stop)) is not _END:
            if not _put(outbox, compute(item), stop):
                break
        else:
            _put(outbox, _END, stop)
    except BaseException as exc:
        errors.append(exc)
        stop.set()
    finally:
        for thread in threads:
            thread.join()
    if errors:
        raise errors[0]


def _put[T](box: queue.Queue[T | _End], item: T | _End, stop: threading.Event) -> bool:
    while not stop.is_set():
        try:
            box.put(item, timeout=POLL_S)
            return True
        except queue.Full:
            continue
    return False


def _get[T](box: queue.Queue[T | _End], stop: threading.Event) -> T | _End:
    """The next item, or the end marker once the pipeline is stopped."""
    while not stop.is_set():
        try:
            return box.get(timeout=POLL_S)
        except queue.Empty:
            continue
    return _END
