"""Expensive tiles are built apart from the rest of the server, so that they can never starve it.

A zoomed-out tile over a département holds up to ~100 000 features and takes seconds to build, while listing the
collections or reading a page of items takes milliseconds. Before a tile is built its cost is estimated by counting
the features in its buffered envelope through the spatial index, stopping past ``expensive_features`` (so the
estimate reads at most that many index entries). Cheap tiles are built in the request's thread; expensive ones go
through this pool, one per web worker process:

- at most ``queue`` expensive tiles are admitted at once (waiting or building): the worker's other request threads
  (gunicorn ``gthread``, ``gunicorn_conf.threads``) stay free for every other request;
- at most ``builders`` of them build at once, the others wait for a builder up to ``queue_wait_s``;
- a GeoPackage tile is encoded in Python, CPU-bound and holding the GIL: in a thread it would slow every other
  thread of the worker, so it is built in a child process (one per builder, started on first use) running at a
  lower CPU priority, so that interactive requests get the cores first;
- a PostGIS tile is built by the database while the request thread waits on a socket (the GIL is free): the
  builder bound is enough, and it also bounds the database cores that tiles take.

A tile that finds the queue full, or waits longer than ``queue_wait_s`` for a builder, is refused with
:class:`~ocsge_processes.errors.BusyError` (a 503 with ``Retry-After``); nothing else ever is. Settings come from
the environment (``OCSGE_TILE_*``, docs/limits.md "Tiles under load").
"""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
from collections.abc import Mapping
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass

from ..errors import BusyError
from ..layers import Layer, get_layer
from ..stores import FeatureStore, open_store
from ..stores.timeout import QueryTimeoutError, query_timeout, set_query_timeout
from ..tiles.source import store_tile
from .gunicorn_conf import threads as WORKER_THREADS

#: Request threads of a web worker that expensive tiles may never hold (the default queue is the rest).
RESERVED_THREADS = 8


@dataclass(frozen=True)
class TilePoolSettings:
    """How tiles are told apart and how many expensive ones a web worker takes on."""

    #: A tile whose buffered envelope holds more features than this is expensive (≈ 0.2 s of GeoPackage encoding).
    expensive_features: int = 2000
    #: Expensive tiles built at once per web worker.
    builders: int = 1
    #: Expensive tiles admitted at once (building or waiting) per web worker.
    queue: int = max(1, WORKER_THREADS - RESERVED_THREADS)
    #: Seconds an expensive tile may wait for a builder before it is answered 503.
    queue_wait_s: float = 60.0
    #: Added to the niceness of the GeoPackage builder processes.
    niceness: int = 10

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ) -> TilePoolSettings:
        """``OCSGE_TILE_EXPENSIVE``, ``OCSGE_TILE_BUILDERS``, ``OCSGE_TILE_QUEUE``, ``OCSGE_TILE_QUEUE_WAIT``,
        ``OCSGE_TILE_NICE``; unset ones keep the defaults."""
        default = cls()
        settings = cls(
            int(environ.get("OCSGE_TILE_EXPENSIVE", default.expensive_features)),
            int(environ.get("OCSGE_TILE_BUILDERS", default.builders)),
            int(environ.get("OCSGE_TILE_QUEUE", default.queue)),
            float(environ.get("OCSGE_TILE_QUEUE_WAIT", default.queue_wait_s)),
            int(environ.get("OCSGE_TILE_NICE", default.niceness)),
        )
        if (
            settings.expensive_features < 0
            or settings.builders < 1
            or settings.queue < settings.builders
            or settings.queue_wait_s <= 0
        ):
            raise ValueError(
                f"inconsistent tile pool settings {settings}: OCSGE_TILE_EXPENSIVE >= 0, "
                "1 <= OCSGE_TILE_BUILDERS <= OCSGE_TILE_QUEUE, OCSGE_TILE_QUEUE_WAIT > 0"
            )
        return settings


@dataclass(frozen=True)
class Built:
    """An expensive tile and where its time went."""

    data: bytes
    queued_s: float
    build_s: float


class TilePool:
    """The bounded queue and builders of expensive tiles in one web worker process."""

    def __init__(self, settings: TilePoolSettings) -> None:
        self.settings = settings
        self._builders = threading.Semaphore(settings.builders)
        self._lock = threading.Lock()
        self._admitted = 0
        self._mean_build_s = 1.0
        self._processes: ProcessPoolExecutor | None = None

    def is_expensive(self, features: int | None) -> bool:
        """Whether a tile with ``features`` in its envelope (None: more than the threshold) goes through the pool."""
        return features is None or features > self.settings.expensive_features

    def build(
        self, store: FeatureStore, layer: Layer, epsg: int, z: int, x: int, y: int, equals: Mapping[str, str]
    ) -> Built:
        """Tile z/x/y built by one of the builders once one is free; BusyError when the queue is full or the
        wait for a builder runs past ``queue_wait_s``."""
        with self._lock:
            if self._admitted >= self.settings.queue:
                raise BusyError(
                    f"{self._admitted} expensive tiles are already queued in this server process "
                    f"(at most {self.settings.queue}); retry later",
                    self._retry_after(),
                )
            self._admitted += 1
        try:
            start = time.monotonic()
            if not self._builders.acquire(timeout=self.settings.queue_wait_s):
                raise BusyError(
                    f"no tile builder became free within {self.settings.queue_wait_s:g} s (this "
                    "tile is expensive: many features); retry later",
                    self._retry_after(),
                )
            queued = time.monotonic() - start
            try:
                data = self._run(store, layer, epsg, z, x, y, equals)
            finally:
                self._builders.release()
            built = time.monotonic() - start - queued
            with self._lock:
                self._mean_build_s = 0.8 * self._mean_build_s + 0.2 * built
            return Built(data, queued, built)
        finally:
            with self._lock:
                self._admitted -= 1

    def _retry_after(self) -> int:
        """Seconds for the tiles admitted now to be built, by the recent mean build time (at least 1)."""
        return max(1, math.ceil(self._mean_build_s * self._admitted / self.settings.builders))

    def _run(
        self, store: FeatureStore, layer: Layer, epsg: int, z: int, x: int, y: int, equals: Mapping[str, str]
    ) -> bytes:
        if store.builds_tiles_in_database:
            return store_tile(store, layer, epsg, z, x, y, dict(equals))
        try:
            result = (
                self._process_pool()
                .submit(_build_in_child, store.url, layer.collection_id, epsg, z, x, y, tuple(equals.items()))
                .result()
            )
        except BrokenProcessPool:
            with self._lock:
                self._processes = None  # the next expensive tile starts fresh builders
            raise BusyError("the tile builder process stopped while building this tile; retry", 1) from None
        if isinstance(result, _Timeout):
            raise QueryTimeoutError(result.seconds)
        return result

    def _process_pool(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._processes is None:
                # spawn, not fork: this process runs threads, and a fork copies their locks in whatever state
                self._processes = ProcessPoolExecutor(
                    self.settings.builders,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=_start_builder,
                    initargs=(self.settings.niceness, query_timeout(), os.getpid()),
                )
            return self._processes


@dataclass(frozen=True)
class _Timeout:
    """A builder's query timed out (QueryTimeoutError itself does not survive pickling)."""

    seconds: float


def _start_builder(niceness: int, timeout_s: float | None, parent: int) -> None:
    """Set up a builder process: lower priority, the web's query time limit, and an exit when its worker is gone
    (a killed worker cannot shut its pool down)."""
    os.nice(niceness)
    set_query_timeout(timeout_s)
    threading.Thread(target=_exit_without, args=(parent,), daemon=True, name="tile-builder-watch").start()


def _exit_without(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(1)
    os._exit(0)


def _build_in_child(
    url: str, collection_id: str, epsg: int, z: int, x: int, y: int, equals: tuple[tuple[str, str], ...]
) -> bytes | _Timeout:
    try:
        return store_tile(open_store(url), get_layer(collection_id), epsg, z, x, y, dict(equals))
    except QueryTimeoutError as err:
        return _Timeout(err.seconds)
