"""A cache of built vector tiles kept in the store itself, so that every replica of the server shares it and so
that it changes in the same transaction as the data it was built from.

One row per tile and millésime filter: the tile's bytes, their ETag (a digest of the bytes: it changes iff the tile
does), the tile's buffered box in the layer's CRS and a ``stale`` flag. ``replace_slice`` marks stale, in its own
transaction, every cached tile whose box meets the rows it removes or writes (:func:`stale_boxes`), so a stale tile
is never served; ``ocsge tiles build`` rebuilds those. Which zooms are cached is recorded per layer and CRS.

The SQL is written once, here, for both dialects (GeoPackage's SQLite and PostgreSQL differ only in the
placeholder, two column types and where the tables live); a store's cache only runs it.

The tile grid and the tile content are the ``tiles`` package's business: here tiles are rows.
"""

from __future__ import annotations

import hashlib
import time
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..layers import Layer
from .base import Box, Row

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


def create_sql(tiles: str, zooms: str, blob: str, real: str) -> tuple[str, str]:
    """The two tables, under their (qualified) names, with the dialect's types for bytes and floats."""
    return (
        f"CREATE TABLE IF NOT EXISTS {tiles} (collection TEXT NOT NULL, epsg INTEGER NOT NULL, z INTEGER NOT NULL, "
        f"x INTEGER NOT NULL, y INTEGER NOT NULL, filter TEXT NOT NULL, data {blob} NOT NULL, etag TEXT NOT NULL, "
        f"minx {real}, miny {real}, maxx {real}, maxy {real}, stale BOOLEAN NOT NULL DEFAULT FALSE, "
        "PRIMARY KEY (collection, epsg, z, x, y, filter))",
        f"CREATE TABLE IF NOT EXISTS {zooms} (collection TEXT NOT NULL, epsg INTEGER NOT NULL, "
        "min_zoom INTEGER NOT NULL, max_zoom INTEGER NOT NULL, PRIMARY KEY (collection, epsg))",
    )


#: A statement and its parameters.
Statement = tuple[str, Sequence[object]]


class TileCache(ABC):
    """The tile cache of one store: the queries, run by the store's dialect (:meth:`_fetch`, :meth:`_write`) on its
    tables ``tiles`` and ``zooms`` with its ``placeholder``."""

    def __init__(self, placeholder: str, tiles: str, zooms: str) -> None:
        self._zooms_read: dict[tuple[str, int], tuple[float, tuple[int, int] | None]] = {}
        self._tiles, self._zooms_table = tiles, zooms
        self._p = p = placeholder
        self._layer = f"collection = {p} AND epsg = {p}"
        self._tile = f"{self._layer} AND z = {p} AND x = {p} AND y = {p}"
        self._marks = ", ".join([p] * len(TILE_COLUMNS))
        self._zoom_marks = ", ".join([p] * 4)

    @abstractmethod
    def _fetch(self, sql: str, params: Sequence[object]) -> list[Row]:
        """The rows of a query; none while the cache tables do not exist."""

    @abstractmethod
    def _write(self, statements: list[Statement], many: tuple[str, list[Row]] | None = None) -> None:
        """Run ``statements`` then ``many`` (one statement, many rows) in one transaction, the tables created first."""

    def cached_zooms(self, layer: Layer, epsg: int) -> tuple[int, int] | None:
        """:meth:`zooms`, read again at most every :data:`ZOOMS_TRUSTED_S` seconds: a tile of a live zoom then costs
        no cache lookup at all."""
        key, now = (layer.collection_id, epsg), time.monotonic()
        read = self._zooms_read.get(key)
        if read is None or now - read[0] > ZOOMS_TRUSTED_S:
            read = (now, self.zooms(layer, epsg))
            self._zooms_read[key] = read
        return read[1]

    def zooms(self, layer: Layer, epsg: int) -> tuple[int, int] | None:
        """The cached zoom range of ``layer`` in ``epsg`` (None when no build ever started)."""
        rows = self._fetch(
            f"SELECT min_zoom, max_zoom FROM {self._zooms_table} WHERE {self._layer}", [layer.collection_id, epsg]
        )
        return (int(rows[0][0]), int(rows[0][1])) if rows else None

    def start(self, layer: Layer, epsg: int, zooms: tuple[int, int], empty: bool = False) -> None:
        """Record ``zooms`` as the cached range, dropping the tiles outside it, or every tile of the layer when
        ``empty`` (the caller knows they were made for another range or by another method)."""
        if self.zooms(layer, epsg) == zooms and not empty:
            return
        outside = "" if empty else f" AND (z < {self._p} OR z > {self._p})"
        self._write(
            [
                (
                    f"DELETE FROM {self._tiles} WHERE {self._layer}{outside}",
                    [layer.collection_id, epsg, *(() if empty else zooms)],
                ),
                (
                    f"INSERT INTO {self._zooms_table} VALUES ({self._zoom_marks}) ON CONFLICT (collection, epsg) "
                    "DO UPDATE SET min_zoom = excluded.min_zoom, max_zoom = excluded.max_zoom",
                    [layer.collection_id, epsg, *zooms],
                ),
            ]
        )
        self._zooms_read[(layer.collection_id, epsg)] = (time.monotonic(), zooms)

    def get(self, layer: Layer, epsg: int, z: int, x: int, y: int, key: str) -> CachedTile | None:
        """The cached tile for filter ``key`` (:func:`filter_key`), None when absent or stale."""
        rows = self._fetch(
            f"SELECT data, etag FROM {self._tiles} WHERE {self._tile} AND filter = {self._p} AND NOT stale",
            [layer.collection_id, epsg, z, x, y, key],
        )
        return CachedTile(bytes(rows[0][0]), rows[0][1]) if rows else None

    def fresh(self, layer: Layer, epsg: int, z: int, x: int, y: int) -> bool:
        """Whether tile z/x/y was built and nothing under it was written since, judged by its unfiltered variant."""
        return self.get(layer, epsg, z, x, y, "") is not None

    def fresh_tiles(self, layer: Layer, epsg: int, z: int) -> set[tuple[int, int]]:
        """(x, y) of every fresh tile of zoom ``z``: :meth:`fresh` for a whole zoom in one query."""
        rows = self._fetch(
            f"SELECT x, y FROM {self._tiles} WHERE {self._layer} AND z = {self._p} AND filter = '' AND NOT stale",
            [layer.collection_id, epsg, z],
        )
        return {(int(x), int(y)) for x, y in rows}

    def put(self, layer: Layer, epsg: int, slot: TileSlot, variants: Mapping[str, bytes]) -> None:
        """Store a tile's variants (filter key → bytes, b"" for an empty tile), replacing what was cached there."""
        self.put_many(layer, epsg, [(slot, variants)])

    def put_many(self, layer: Layer, epsg: int, tiles: Sequence[tuple[TileSlot, Mapping[str, bytes]]]) -> None:
        """:meth:`put` for several tiles, in one transaction."""
        self._write(
            [
                (f"DELETE FROM {self._tiles} WHERE {self._tile}", [layer.collection_id, epsg, slot.z, slot.x, slot.y])
                for slot, _ in tiles
            ],
            (
                f"INSERT INTO {self._tiles} ({', '.join(TILE_COLUMNS)}) VALUES ({self._marks})",
                [row for slot, variants in tiles for row in tile_rows(layer, epsg, slot, variants)],
            ),
        )

    def counts(self, layer: Layer, epsg: int) -> tuple[int, int]:
        """(fresh, stale) tiles cached for ``layer`` (unfiltered variants)."""
        rows = self._fetch(
            f"SELECT stale, count(*) FROM {self._tiles} WHERE {self._layer} AND filter = '' GROUP BY stale",
            [layer.collection_id, epsg],
        )
        found = {bool(stale): int(count) for stale, count in rows}
        return found.get(False, 0), found.get(True, 0)
