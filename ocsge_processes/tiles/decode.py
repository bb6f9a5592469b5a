"""A Mapbox Vector Tile 2.1 decoder, to check tiles from both stores (and other servers') in tests and benches."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import shapely
from shapely.geometry.base import BaseGeometry

from ..errors import InvalidInputError
from . import pbf
from .mvt import CLOSE_PATH, LINE_TO, LINESTRING, MOVE_TO, POINT, POLYGON


@dataclass
class Feature:
    """One decoded feature; ``geometry`` is in tile coordinates (0 to extent, y down)."""

    id: int | None
    properties: dict[str, object]
    geometry: BaseGeometry
    type: int


@dataclass
class Layer:
    name: str
    extent: int
    version: int
    features: list[Feature]


def decode(data: bytes) -> dict[str, Layer]:
    """The layers of a tile by name; an empty tile (b"") has none. A malformed tile is an InvalidInputError."""
    layers = {}
    for field, _, value in pbf.fields(data):
        if field == 3:
            layer = _layer(pbf.as_bytes(value))
            layers[layer.name] = layer
    return layers


def _layer(data: bytes) -> Layer:
    name, extent, version = "", 4096, 1
    keys: list[str] = []
    values: list[object] = []
    raw: list[bytes] = []
    for field, _, value in pbf.fields(data):
        if field == 1:
            name = pbf.as_bytes(value).decode()
        elif field == 2:
            raw.append(pbf.as_bytes(value))
        elif field == 3:
            keys.append(pbf.as_bytes(value).decode())
        elif field == 4:
            values.append(_value(pbf.as_bytes(value)))
        elif field == 5:
            extent = pbf.as_int(value)
        elif field == 15:
            version = pbf.as_int(value)
    return Layer(name, extent, version, [_feature(f, keys, values) for f in raw])


def _value(data: bytes) -> object:
    for field, _, value in pbf.fields(data):
        if field == 1:
            return pbf.as_bytes(value).decode()
        if field in (2, 3):
            number: float = struct.unpack("<f" if field == 2 else "<d", pbf.as_bytes(value))[0]
            return number
        if field == 4:
            integer = pbf.as_int(value)
            return integer - (1 << 64) if integer >= 1 << 63 else integer
        if field == 5:
            return pbf.as_int(value)
        if field == 6:
            return pbf.unzigzag(pbf.as_int(value))
        if field == 7:
            return bool(pbf.as_int(value))
    raise InvalidInputError("vector tile value without a value")


def _feature(data: bytes, keys: list[str], values: list[object]) -> Feature:
    feature_id: int | None = None
    kind = 0
    tags: list[int] = []
    commands: list[int] = []
    for field, _, value in pbf.fields(data):
        if field == 1:
            feature_id = pbf.as_int(value)
        elif field == 2:
            tags = pbf.packed(pbf.as_bytes(value))
        elif field == 3:
            kind = pbf.as_int(value)
        elif field == 4:
            commands = pbf.packed(pbf.as_bytes(value))
    if len(tags) % 2:
        raise InvalidInputError(f"vector tile feature with an odd number of tags ({len(tags)}): a key without value")
    try:
        properties = {keys[k]: values[v] for k, v in zip(tags[::2], tags[1::2], strict=True)}
    except IndexError:
        raise InvalidInputError("vector tile feature tag points past the layer's keys or values") from None
    return Feature(feature_id, properties, _geometry(kind, commands), kind)


def _geometry(kind: int, commands: list[int]) -> BaseGeometry:
    """Rebuild a geometry from its command stream; rings with positive area in tile coordinates start polygons."""
    paths: list[list[tuple[int, int]]] = []
    x = y = i = 0
    while i < len(commands):
        command, count = commands[i] & 7, commands[i] >> 3
        i += 1
        if command == CLOSE_PATH:
            paths[-1].append(paths[-1][0])
            continue
        if command not in (MOVE_TO, LINE_TO):
            raise InvalidInputError(f"unknown vector tile command {command}")
        for _ in range(count):
            x += pbf.unzigzag(commands[i])
            y += pbf.unzigzag(commands[i + 1])
            i += 2
            if command == MOVE_TO:
                paths.append([])
            paths[-1].append((x, y))
    if kind == POINT:
        points = [shapely.Point(p[0]) for p in paths]
        return points[0] if len(points) == 1 else shapely.MultiPoint(points)
    if kind == LINESTRING:
        lines = [shapely.LineString(p) for p in paths]
        return lines[0] if len(lines) == 1 else shapely.MultiLineString(lines)
    if kind == POLYGON:
        polygons: list[list[list[tuple[int, int]]]] = []
        for ring in paths:
            if shapely.LinearRing(ring).is_ccw:  # positive area with the raw (y down) coordinates: an exterior
                polygons.append([ring])
            elif polygons:
                polygons[-1].append(ring)
            else:
                raise InvalidInputError("vector tile polygon starts with an interior ring")
        shapes = [shapely.Polygon(p[0], p[1:]) for p in polygons]
        return shapes[0] if len(shapes) == 1 else shapely.MultiPolygon(shapes)
    raise InvalidInputError(f"unknown vector tile geometry type {kind}")
