"""The decoder says what is wrong with a malformed tile (InvalidInputError) instead of failing on a Python error
or dropping data: a field of the wrong wire type, an odd tag list, a tag past the layer's keys or values."""

from __future__ import annotations

import pytest

from ocsge_processes.errors import InvalidInputError
from ocsge_processes.tiles import pbf
from ocsge_processes.tiles.decode import decode
from ocsge_processes.tiles.mvt import POLYGON


def varint_field(field: int, value: int) -> bytes:
    return pbf.key(field, pbf.VARINT) + pbf.varint(value)


def tile(*layer_fields: bytes) -> bytes:
    return pbf.delimited(3, b"".join(layer_fields))


#: A square drawn as MoveTo(0, 0) LineTo(10, 0)(0, 10)(-10, 0) ClosePath.
SQUARE = [9, 0, 0, 26, 20, 0, 0, 20, 19, 0, 15]


def feature(tags: list[int]) -> bytes:
    packed_tags = b"".join(pbf.varint(t) for t in tags)
    commands = b"".join(pbf.varint(c) for c in SQUARE)
    return pbf.delimited(2, pbf.delimited(2, packed_tags) + varint_field(3, POLYGON) + pbf.delimited(4, commands))


KEYS_AND_VALUES = pbf.delimited(3, b"code_cs") + pbf.delimited(4, pbf.delimited(1, b"CS1.1.1.1"))


def test_a_well_formed_tile_decodes() -> None:
    layers = decode(tile(pbf.delimited(1, b"ocsge"), feature([0, 0]), KEYS_AND_VALUES, varint_field(5, 4096)))
    assert layers["ocsge"].features[0].properties == {"code_cs": "CS1.1.1.1"}
    assert layers["ocsge"].features[0].geometry.area == 100


@pytest.mark.parametrize(
    "data, message",
    [
        (tile(varint_field(1, 5)), "expected a length-delimited protobuf field, got the varint 5"),
        (tile(pbf.delimited(1, b"ocsge"), pbf.delimited(5, b"4096")), "expected a varint protobuf field, got 4 bytes"),
        (varint_field(3, 7), "expected a length-delimited protobuf field"),
        (tile(pbf.delimited(1, b"ocsge"), feature([0, 0, 0]), KEYS_AND_VALUES), "odd number of tags"),
        (tile(pbf.delimited(1, b"ocsge"), feature([0, 1]), KEYS_AND_VALUES), "past the layer's keys or values"),
    ],
    ids=["name-as-varint", "extent-as-bytes", "layer-as-varint", "odd-tags", "tag-past-values"],
)
def test_a_malformed_tile_is_an_invalid_input(data: bytes, message: str) -> None:
    with pytest.raises(InvalidInputError, match=message):
        decode(data)
