"""GeoPackage geometry blobs (a small header, an optional envelope, then WKB), decoded and encoded in bulk.

Our embedded store reads and writes GeoPackages with the standard library's sqlite3, which cannot load
SpatiaLite here, so this module does what SpatiaLite would: the header layout follows GeoPackage 1.3 §2.1.3.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence

import numpy as np
import shapely
from numpy.typing import NDArray

from ..parallel import threaded

#: Envelope sizes in bytes, by the envelope indicator of the flags byte.
_ENVELOPE_BYTES = {0: 0, 1: 32, 2: 48, 3: 48, 4: 64}


def wkb_offset(blob: bytes) -> int:
    """Where the WKB starts inside a GeoPackage blob."""
    if blob[:2] != b"GP":
        raise ValueError("not a GeoPackage geometry blob (missing 'GP' magic)")
    indicator = (blob[3] >> 1) & 0b111
    return 8 + _ENVELOPE_BYTES[indicator]


def wkb_sql(column: str) -> str:
    """SQL giving the WKB of a blob column, cut by SQLite itself: a whole layer is read without a Python step per
    row. The envelope indicator is bits 1-3 of the flags byte (the fourth), read from its hex digits."""
    indicator = f"(instr('0123456789ABCDEF', substr(hex(substr({column}, 4, 1)), 2, 1)) - 1) / 2"
    sizes = " ".join(f"WHEN {k} THEN {v}" for k, v in _ENVELOPE_BYTES.items())
    return f"substr({column}, 9 + CASE {indicator} {sizes} END)"


def decode(blobs: Sequence[bytes | None]) -> NDArray[np.object_]:
    """Shapely geometries of GeoPackage blobs (None stays None)."""
    wkbs = np.array([None if b is None else memoryview(b)[wkb_offset(b) :].tobytes() for b in blobs], dtype=object)
    return threaded(shapely.from_wkb, wkbs)


def encode(geoms: NDArray[np.object_], srs_id: int) -> list[bytes]:
    """GeoPackage blobs with an xy envelope, so that other readers can use the header without parsing WKB."""
    wkbs = shapely.to_wkb(geoms, byte_order=1, flavor="iso")
    bounds = shapely.bounds(geoms)
    empty = shapely.is_empty(geoms)
    out = []
    for wkb, box, is_empty in zip(wkbs, bounds, empty, strict=True):
        if is_empty:
            header = struct.pack("<2sBBi", b"GP", 0, 0b00010001, srs_id)
        else:
            header = struct.pack("<2sBBi4d", b"GP", 0, 0b00000011, srs_id, box[0], box[2], box[1], box[3])
        out.append(header + wkb)
    return out


def envelope(blob: bytes | None) -> tuple[float, float, float, float] | None:
    """(minx, maxx, miny, maxy) of one blob, from its header when present, else from its WKB."""
    if blob is None:
        return None
    flags = blob[3]
    if flags & 0b00010000:
        return None
    indicator = (flags >> 1) & 0b111
    if indicator:
        order = "<" if flags & 1 else ">"
        return struct.unpack_from(order + "4d", blob, 8)
    geom = shapely.from_wkb(blob[wkb_offset(blob) :])
    minx, miny, maxx, maxy = geom.bounds
    return minx, maxx, miny, maxy
