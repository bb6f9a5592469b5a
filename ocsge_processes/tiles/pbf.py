"""The few Protocol Buffers wire-format pieces a vector tile needs: varints, zigzag, length-delimited fields.

Written here rather than depending on ``protobuf`` and generated classes: a tile uses four wire types, and the
geometry streams (most of a tile's bytes) are encoded in bulk with numpy, which generated classes cannot do.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator

import numpy as np
from numpy.typing import ArrayLike, NDArray

from ..errors import InvalidInputError

VARINT, FIXED64, BYTES, FIXED32 = 0, 1, 2, 5
#: 2**7, 2**14, ..., 2**63: a value below the k-th needs k bytes as a varint.
_GROUP_LIMITS = np.uint64(1) << (np.arange(1, 10, dtype=np.uint64) * np.uint64(7))


def zigzag(values: ArrayLike) -> NDArray[np.uint64]:
    """Signed integers mapped to unsigned ones so that small magnitudes stay small (0, -1, 1, -2 → 0, 1, 2, 3)."""
    signed = np.asarray(values, dtype=np.int64)
    return ((signed << 1) ^ (signed >> 63)).astype(np.uint64)


def unzigzag(value: int) -> int:
    """The inverse of :func:`zigzag` for one value."""
    return (value >> 1) ^ -(value & 1)


def varints(integers: ArrayLike) -> tuple[bytes, NDArray[np.int64]]:
    """Unsigned integers as concatenated base-128 varints, and the byte length of each, in one numpy pass over as
    many 7-bit groups as the largest needs (two or three for a tile's commands and tags, not ten)."""
    values = np.asarray(integers, dtype=np.uint64)
    if values.size == 0:
        return b"", np.zeros(0, dtype=np.int64)
    lengths = 1 + np.searchsorted(_GROUP_LIMITS, values, side="right")
    width = int(lengths.max())
    columns = np.arange(width)
    groups = ((values[:, None] >> (columns.astype(np.uint64) * np.uint64(7))) & np.uint64(0x7F)).astype(np.uint8)
    groups |= (columns < lengths[:, None] - 1).astype(np.uint8) << 7  # the continuation bit
    return groups[columns < lengths[:, None]].tobytes(), lengths.astype(np.int64)


def varint(value: int) -> bytes:
    """One unsigned integer as a varint."""
    out = bytearray()
    while value > 0x7F:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def key(field: int, wire: int) -> bytes:
    """The tag that starts a field."""
    return varint(field << 3 | wire)


def delimited(field: int, payload: bytes) -> bytes:
    """A length-delimited field (string, sub-message or packed repeated scalars)."""
    return key(field, BYTES) + varint(len(payload)) + payload


def double(field: int, value: float) -> bytes:
    return key(field, FIXED64) + struct.pack("<d", value)


def read_varint(data: bytes, pos: int) -> tuple[int, int]:
    """The varint at ``pos`` and the position after it."""
    result = shift = 0
    while True:
        if pos >= len(data):
            raise InvalidInputError("truncated varint in protobuf message")
        byte = data[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) of each field of a message; fixed-size values come back as bytes."""
    pos = 0
    while pos < len(data):
        tag, pos = read_varint(data, pos)
        field, wire = tag >> 3, tag & 7
        value: int | bytes
        if wire == VARINT:
            value, pos = read_varint(data, pos)
        elif wire == BYTES:
            size, pos = read_varint(data, pos)
            value, pos = data[pos : pos + size], pos + size
        elif wire in (FIXED64, FIXED32):
            size = 8 if wire == FIXED64 else 4
            value, pos = data[pos : pos + size], pos + size
        else:
            raise InvalidInputError(f"unsupported protobuf wire type {wire}")
        yield field, wire, value


def as_bytes(value: int | bytes) -> bytes:
    """The bytes of a length-delimited or fixed-size field; InvalidInputError when the message has a varint there."""
    if isinstance(value, int):
        raise InvalidInputError(f"expected a length-delimited protobuf field, got the varint {value}")
    return value


def as_int(value: int | bytes) -> int:
    """The integer of a varint field; InvalidInputError when the message has bytes there."""
    if isinstance(value, bytes):
        raise InvalidInputError(f"expected a varint protobuf field, got {len(value)} bytes")
    return value


def packed(data: bytes) -> list[int]:
    """The unsigned integers of a packed repeated field."""
    out: list[int] = []
    pos = 0
    while pos < len(data):
        value, pos = read_varint(data, pos)
        out.append(value)
    return out
