"""A cache of built vector tiles kept in the store itself, so that every replica of the server shares it and so
that it changes in the same transaction as the data it was built from.

One row per tile and millésime filter: the tile's bytes, their ETag (a digest of the bytes: it changes iff the tile
does), the tile's buffered box in the layer's CRS and a ``stale`` flag. ``replace_slice`` marks stale, in its own
transaction, every cached tile whose box meets the rows it removes or writes (:func:`stale_boxes`), so a stale tile
is never served; ``ocsge tiles build`` rebuilds those. Which zooms are cached is recorded per layer and CRS.

The tile grid and the tile content are the ``tiles`` package's business: here tiles are rows.
"""

from __future__ import annotations

import hashlib
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass

from ..layers import Layer
from .base import Box

#: Table names (the PostGIS store puts them in its schema).
TILES_TABLE = "ocsge_tile_cache"
ZOOMS_TABLE = "ocsge_tile_cache_zooms"
#: Seconds a process trusts a cached zoom range it read (:meth:`TileCache.cached_zooms`). A range changes only by
#: ``ocsge tiles build --zooms``, and a tile outside the range a server trusts is built live, which is always right:
#: a stale range costs speed for this long, never correctness.
ZOOMS_TRUSTED_S = 30.0
#: The columns of :data:`TILES_TABLE`, in the order :meth:`TileCache.put` writes them.
TILE_COLUMNS = ("collection", "epsg", "z", "x", "y", "filter", "data", "etag", "minx", "miny", "maxx", "maxy")


@dataclass(frozen=True)
class CachedTile:
    data: bytes
    #: A strong ETag value, quotes included.
    etag: str


@dataclass(frozen=True)
class TileSlot:
    """Where a tile goes in the cache: its address and its buffered box in the layer's CRS."""

    z: int
    x: int
    y: int
    box: Box


def filter_key(equals: Mapping[str, object]) -> str:
    """The cache key of a millésime filter: ``name=value`` pairs sorted by name, joined by ``&`` ("" for none)."""
    return "&".join(f"{name}={equals[name]}" for name in sorted(equals))


def etag_of(data: bytes) -> str:
    """A strong ETag of a tile's bytes."""
    return '"' + hashlib.sha256(data).hexdigest()[:32] + '"'


def tile_rows(layer: Layer, epsg: int, slot: TileSlot, variants: Mapping[str, bytes]) -> list[tuple[object, ...]]:
    """The rows of :data:`TILES_TABLE` for one tile's variants (filter key → bytes), in :data:`TILE_COLUMNS` order."""
    return [
        (layer.collection_id, epsg, slot.z, slot.x, slot.y, key, data, etag_of(data), *slot.box)
        for key, data in variants.items()
    ]


def stale_sql(placeholder: str, qualified: str) -> str:
    """The UPDATE that marks stale the tiles of one layer and CRS whose box meets a box (eight parameters:
    collection, epsg, then the box's minx, maxx, miny, maxy as :func:`stale_params` orders them)."""
    p = placeholder
    return (
        f"UPDATE {qualified} SET stale = TRUE WHERE collection = {p} AND epsg = {p} AND maxx >= {p} AND minx <= {p} "
        f"AND maxy >= {p} AND miny <= {p}"
    )


def stale_params(layer: Layer, epsg: int, box: Box) -> list[object]:
    return [layer.collection_id, epsg, box[0], box[2], box[1], box[3]]


def real_boxes(boxes: list[Box | None]) -> list[Box]:
    """The boxes that are not None nor NaN (an empty slice has no extent)."""
    return [b for b in boxes if b is not None and all(v == v for v in b)]


class TileCache(ABC):
    """The tile cache of one store."""

    def __init__(self) -> None:
        self._zooms_read: dict[tuple[str, int], tuple[float, tuple[int, int] | None]] = {}

    def cached_zooms(self, layer: Layer, epsg: int) -> tuple[int, int] | None:
        """:meth:`zooms`, read again at most every :data:`ZOOMS_TRUSTED_S` seconds: a tile of a live zoom then costs
        no cache lookup at all."""
        key, now = (layer.collection_id, epsg), time.monotonic()
        read = self._zooms_read.get(key)
        if read is None or now - read[0] > ZOOMS_TRUSTED_S:
            read = (now, self.zooms(layer, epsg))
            self._zooms_read[key] = read
        return read[1]

    @abstractmethod
    def zooms(self, layer: Layer, epsg: int) -> tuple[int, int] | None:
        """The cached zoom range of ``layer`` in ``epsg`` (None when no build ever started)."""

    def start(self, layer: Layer, epsg: int, zooms: tuple[int, int]) -> bool:
        """Record ``zooms`` as the cached range; a different range than the recorded one empties the layer's cache
        first (its tiles were generalised from another deepest zoom). Returns whether it was emptied."""
        emptied = self._record(layer, epsg, zooms)
        self._zooms_read[(layer.collection_id, epsg)] = (time.monotonic(), zooms)
        return emptied

    @abstractmethod
    def _record(self, layer: Layer, epsg: int, zooms: tuple[int, int]) -> bool:
        """:meth:`start` in the store."""

    @abstractmethod
    def get(self, layer: Layer, epsg: int, z: int, x: int, y: int, key: str) -> CachedTile | None:
        """The cached tile for filter ``key`` (:func:`filter_key`), None when absent or stale."""

    def fresh(self, layer: Layer, epsg: int, z: int, x: int, y: int) -> bool:
        """Whether tile z/x/y was built and nothing under it was written since, judged by its unfiltered variant."""
        return self.get(layer, epsg, z, x, y, "") is not None

    @abstractmethod
    def put(self, layer: Layer, epsg: int, slot: TileSlot, variants: Mapping[str, bytes]) -> None:
        """Store a tile's variants (filter key → bytes, b"" for an empty tile), replacing what was cached there."""

    @abstractmethod
    def counts(self, layer: Layer, epsg: int) -> tuple[int, int]:
        """(fresh, stale) tiles cached for ``layer`` (unfiltered variants)."""
