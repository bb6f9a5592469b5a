"""PMTiles v3 archives of a layer's vector tiles, for static maps: one file that MapLibre (through the pmtiles
protocol) or GDAL reads with range requests, with no tile server.

The tiles are the ones the server serves (:func:`layer_tile`), gzipped, in tile-id order (the Hilbert order of the
PMTiles spec, zoom by zoom) so that the archive is clustered; identical tiles are stored once. Written here rather
than through the ``pmtiles`` package: its writer is unannotated, keys contents by Python's ``hash`` and the format
needs a header, two varint directories and a JSON document.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import math
import os
import shutil
import struct
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import pyproj

from .. import __version__
from ..errors import InvalidInputError
from ..layers import BOOLEAN, INTEGER, NUMBER, Layer
from ..stores.base import FeatureStore
from ..styles import MAX_ZOOM
from .pbf import varint
from .pyramid import served_tile
from .source import tile_fields, typed_equals

MAGIC = b"PMTiles"
VERSION = 3
HEADER_BYTES = 127
#: The header and the root directory fit in the first 16 KiB, which a client reads in one request (spec).
ROOT_BUDGET = 16384 - HEADER_BYTES
#: Compression codes and tile type codes of the header.
GZIP = 2
MVT_TYPE = 1
#: Web Mercator's latitude limit: tiles do not reach the poles.
MAX_LATITUDE = 85.0511287798066
#: TileJSON field types (what GDAL's MVT reader and MapLibre's inspectors read) of our JSON Schema types.
_TILEJSON_TYPES = {INTEGER: "Number", NUMBER: "Number", BOOLEAN: "Boolean"}
#: Reports progress: tiles done, tiles in all.
Progress = Callable[[int, int], None]


def layer_tile(
    store: FeatureStore, layer: Layer, epsg: int, z: int, x: int, y: int, equals: Mapping[str, object]
) -> bytes:
    """Tile z/x/y exactly as the server serves it (the cached generalised tile where one is fresh, else built
    live): the one place the export asks for tiles."""
    return served_tile(store, layer, epsg, z, x, y, equals)


def tile_id(z: int, x: int, y: int) -> int:
    """The PMTiles tile id: the tiles of the zooms below ``z``, plus the position of (x, y) along zoom ``z``'s
    Hilbert curve."""
    if not 0 <= z <= 31 or not (0 <= x < 1 << z and 0 <= y < 1 << z):
        raise InvalidInputError(f"{z}/{x}/{y} is not a tile of a PMTiles archive")
    position, n = 0, 1 << z
    s = n >> 1
    while s:
        rx, ry = int(x & s > 0), int(y & s > 0)
        position += s * s * ((3 * rx) ^ ry)
        if ry == 0:  # rotate the quadrant so the curve stays continuous
            if rx == 1:
                x, y = n - 1 - x, n - 1 - y
            x, y = y, x
        s >>= 1
    return ((1 << 2 * z) - 1) // 3 + position


def tiles_covering(bounds: tuple[float, float, float, float], z: int) -> list[tuple[int, int]]:
    """(x, y) of the zoom-``z`` tiles that ``bounds`` (west, south, east, north in degrees) touches, in tile-id
    order."""
    west, south, east, north = bounds
    x0, y0 = _tile_of(west, north, z)
    x1, y1 = _tile_of(east, south, z)
    tiles = [(x, y) for x in range(x0, x1 + 1) for y in range(y0, y1 + 1)]
    return sorted(tiles, key=lambda t: tile_id(z, *t))


def _tile_of(lon: float, lat: float, z: int) -> tuple[int, int]:
    n = 1 << z
    lat = max(-MAX_LATITUDE, min(MAX_LATITUDE, lat))
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)
    return min(max(x, 0), n - 1), min(max(y, 0), n - 1)


@dataclass
class _Entry:
    tile_id: int
    offset: int
    length: int
    run_length: int


def _directory(entries: list[_Entry]) -> bytes:
    """A gzipped directory: the count, then columns of tile-id deltas, run lengths, lengths and offsets (0 when
    an entry's data follows the previous entry's, else offset + 1)."""
    parts = [varint(len(entries))]
    last = 0
    for entry in entries:
        parts.append(varint(entry.tile_id - last))
        last = entry.tile_id
    parts += [varint(entry.run_length) for entry in entries]
    parts += [varint(entry.length) for entry in entries]
    for i, entry in enumerate(entries):
        follows = i > 0 and entry.offset == entries[i - 1].offset + entries[i - 1].length
        parts.append(varint(0 if follows else entry.offset + 1))
    return gzip.compress(b"".join(parts), mtime=0)


def _directories(entries: list[_Entry]) -> tuple[bytes, bytes]:
    """The root directory and the leaf directories: the entries in the root when they fit in the first 16 KiB,
    else in leaves of a size doubled until the root pointing at them fits."""
    root = _directory(entries)
    leaf_size = 4096
    while len(root) > ROOT_BUDGET:
        leaves, pointers = bytearray(), []
        for start in range(0, len(entries), leaf_size):
            leaf = _directory(entries[start : start + leaf_size])
            pointers.append(_Entry(entries[start].tile_id, len(leaves), len(leaf), 0))  # run length 0: a leaf
            leaves += leaf
        root = _directory(pointers)
        if len(root) <= ROOT_BUDGET:
            return root, bytes(leaves)
        leaf_size *= 2
    return root, b""


@dataclass
class ArchiveStats:
    """What an archive holds: tiles with content per zoom, tiles left out as empty, distinct contents, bytes."""

    tiles: dict[int, int] = field(default_factory=dict)
    empty: int = 0
    contents: int = 0
    size: int = 0


class ArchiveWriter:
    """Builds one PMTiles archive: tiles are added in tile-id order to ``data`` (a temporary file), the archive
    is written by :meth:`write`."""

    def __init__(self, data: IO[bytes]) -> None:
        self._data = data
        self._offset = 0
        self._entries: list[_Entry] = []
        self._by_digest: dict[bytes, tuple[int, int]] = {}
        self.stats = ArchiveStats()

    def add(self, z: int, x: int, y: int, data: bytes) -> None:
        """Add tile z/x/y (uncompressed MVT bytes; b"" is an empty tile, which is left out)."""
        tid = tile_id(z, x, y)
        if self._entries and tid <= self._entries[-1].tile_id:
            raise ValueError(f"tile {z}/{x}/{y} added out of tile-id order")
        if not data:
            self.stats.empty += 1
            return
        self.stats.tiles[z] = self.stats.tiles.get(z, 0) + 1
        digest = hashlib.sha256(data).digest()
        if digest not in self._by_digest:
            packed = gzip.compress(data, mtime=0)
            self._data.write(packed)
            self._by_digest[digest] = (self._offset, len(packed))
            self._offset += len(packed)
        offset, length = self._by_digest[digest]
        last = self._entries[-1] if self._entries else None
        if last and last.offset == offset and last.tile_id + last.run_length == tid:
            last.run_length += 1  # the same content on consecutive ids (open sea, a forest's inside)
        else:
            self._entries.append(_Entry(tid, offset, length, 1))

    def write(
        self, path: Path, metadata: Mapping[str, object], bounds: tuple[float, float, float, float], zooms: range
    ) -> None:
        """Write the archive at ``path`` (header, root directory, metadata, leaf directories, tile data): beside it
        first, then renamed, so that a failure leaves no half-written archive and the previous one intact."""
        if not self._entries:
            raise InvalidInputError(
                f"no tile holds a feature at zooms {zooms.start}-{zooms.stop - 1}: nothing to write"
            )
        root, leaves = _directories(self._entries)
        document = gzip.compress(json.dumps(metadata, ensure_ascii=False).encode(), mtime=0)
        offsets = [HEADER_BYTES, len(root), HEADER_BYTES + len(root), len(document)]
        offsets += [offsets[2] + len(document), len(leaves), offsets[2] + len(document) + len(leaves), self._offset]
        west, south, east, north = bounds
        center = _center_zoom(bounds, zooms)
        header = struct.pack(
            "<7sB8Q3Q6B4iB2i",
            MAGIC,
            VERSION,
            *offsets,
            sum(self.stats.tiles.values()),
            len(self._entries),
            len(self._by_digest),
            1,  # clustered: tiles in tile-id order
            GZIP,  # directories and metadata
            GZIP,  # tiles
            MVT_TYPE,
            zooms.start,
            zooms.stop - 1,
            *(_e7(v) for v in (west, south, east, north)),
            center,
            _e7((west + east) / 2),
            _e7((south + north) / 2),
        )
        part = path.with_name(f".{path.name}.part")
        try:
            with part.open("wb") as out:
                out.write(header + root + document + leaves)
                self._data.seek(0)
                shutil.copyfileobj(self._data, out)
            os.replace(part, path)
        finally:
            part.unlink(missing_ok=True)
        self.stats.contents = len(self._by_digest)
        self.stats.size = path.stat().st_size


def _e7(degrees: float) -> int:
    return round(degrees * 10_000_000)


def _center_zoom(bounds: tuple[float, float, float, float], zooms: range) -> int:
    """The deepest zoom of ``zooms`` at which ``bounds`` spans at most 2 × 2 tiles: where a viewer opens."""
    west, south, east, north = bounds

    def side(z: int) -> int:
        (x0, y0), (x1, y1) = _tile_of(west, north, z), _tile_of(east, south, z)
        return max(x1 - x0, y1 - y0) + 1

    fitting = [z for z in zooms if side(z) <= 2]
    return fitting[-1] if fitting else zooms.start


def parse_zooms(text: str) -> range:
    """``"0-14"`` or ``"12"`` as a range of zooms; InvalidInputError saying what is allowed otherwise."""
    first, _, last = text.partition("-")
    try:
        low, high = int(first), int(last or first)
    except ValueError:
        raise InvalidInputError(f"zooms {text!r}: give a zoom or a range such as 0-14") from None
    if not 0 <= low <= high <= MAX_ZOOM:
        raise InvalidInputError(f"zooms {text!r}: zooms run from 0 to {MAX_ZOOM}, the first not above the last")
    return range(low, high + 1)


@dataclass(frozen=True)
class ExportRequest:
    """What to export: a layer of a store in a territory CRS, at some zooms, filtered by millésime equalities."""

    store: FeatureStore
    layer: Layer
    epsg: int
    zooms: range
    equals: Mapping[str, object] = field(default_factory=dict)
    description: str = ""
    attribution: str = ""


def export_pmtiles(request: ExportRequest, path: Path, progress: Progress | None = None) -> ArchiveStats:
    """Write the tiles of ``request`` that hold features over the layer's extent to a PMTiles archive at ``path``
    (replacing it). InvalidInputError when the layer is empty or a filter value is held by no feature."""
    equals = typed_equals(request.layer, request.equals)
    store, layer, epsg = request.store, request.layer, request.epsg
    for name, value in equals.items():
        held = store.distinct(layer, epsg, name)
        if value not in held:
            raise InvalidInputError(
                f"{layer.collection_id} holds no feature with {name} = {value}; held: {', '.join(map(str, held))}"
            )
    extent = store.extent(layer, epsg)
    if extent is None:
        raise InvalidInputError(f"{layer.collection_id} holds no feature: nothing to export")
    transformer = pyproj.Transformer.from_crs(epsg, "OGC:CRS84", always_xy=True)
    west, south, east, north = transformer.transform_bounds(*extent, densify_pts=21)
    bounds = (west, south, east, north)
    plan = [(z, xy) for z in request.zooms for xy in tiles_covering(bounds, z)]
    with tempfile.TemporaryFile(dir=path.parent, prefix=f".{path.name}.", suffix=".tiles") as data:
        writer = ArchiveWriter(data)
        for done, (z, (x, y)) in enumerate(plan, start=1):
            writer.add(z, x, y, layer_tile(store, layer, epsg, z, x, y, equals))
            if progress:
                progress(done, len(plan))
        writer.write(path, _metadata(request, equals, bounds), bounds, request.zooms)
    return writer.stats


def _metadata(
    request: ExportRequest, equals: Mapping[str, object], bounds: tuple[float, float, float, float]
) -> dict[str, object]:
    """The archive's JSON metadata (TileJSON's keys): its one vector layer with the fields tiles carry."""
    layer, zooms = request.layer, request.zooms
    fields = {name: _TILEJSON_TYPES.get(layer.fields[name], "String") for name in tile_fields(layer)}
    filters = ", ".join(f"{k} = {v}" for k, v in equals.items())
    return {
        "name": layer.collection_id + (f" ({filters})" if filters else ""),
        "description": request.description or layer.description,
        "attribution": request.attribution,
        "version": "1",
        "type": "overlay",
        "format": "pbf",
        "minzoom": zooms.start,
        "maxzoom": zooms.stop - 1,
        "bounds": list(bounds),
        "generator": f"ocsge_processes {__version__}",
        "ocsge:filters": dict(equals),
        "vector_layers": [
            {
                "id": layer.collection_id,
                "description": layer.title,
                "minzoom": zooms.start,
                "maxzoom": zooms.stop - 1,
                "fields": fields,
            }
        ],
    }
