"""Encoding of one Mapbox Vector Tile 2.1 layer from shapely geometries in EPSG:3857.

The geometry pipeline is the one the PostGIS store runs (ST_ClipByBox2D, ST_SimplifyPreserveTopology, then
ST_AsMVTGeom), so that both stores serve the same tiles: clip to the buffered tile, simplify per zoom (GEOS's
topology-preserving Douglas–Peucker: plain Douglas–Peucker collapses thin rings that PostGIS's keeps), drop what is
under half a tile unit, round to the integer tile grid (y down), repair only what rounding broke, drop polygons that
collapsed, and orient rings as the spec requires (exterior positive by the surveyor's formula in tile coordinates,
i.e. clockwise on screen). All steps, the command
streams and the varints are computed over the whole tile at once with shapely and numpy.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence

import numpy as np
import shapely
from numpy.typing import NDArray
from shapely.geometry.base import BaseGeometry

from . import pbf
from .matrix import BUFFER, EXTENT

#: MVT geometry types and commands.
POINT, LINESTRING, POLYGON = 1, 2, 3
MOVE_TO, LINE_TO, CLOSE_PATH = 1, 2, 7
_TYPES = {0: POINT, 1: LINESTRING, 2: POLYGON}  # by topological dimension
#: Field tags of a Layer's features and of a Feature's tags, type and geometry, and the type values.
_FEATURE, _TAGS, _TYPE, _GEOMETRY = (
    pbf.key(2, pbf.BYTES),
    pbf.key(2, pbf.BYTES),
    pbf.key(3, pbf.VARINT),
    pbf.key(4, pbf.BYTES),
)
_KIND = {kind: pbf.varint(kind) for kind in (POINT, LINESTRING, POLYGON)}
_VALUE, _UINT, _STRING = pbf.key(4, pbf.BYTES), pbf.key(5, pbf.VARINT), pbf.key(1, pbf.BYTES)
_LENGTHS = [pbf.varint(size) for size in range(1 << 14)]
_NONE = type(None)

#: Shapely geometries (or None) in a numpy object array.
Geometries = NDArray[np.object_]
#: Positions in another array (which feature a part, ring or vertex belongs to).
Indices = NDArray[np.int64]
#: Rows of (x, y).
Points = NDArray[np.float64]


def encode_layer(
    name: str,
    geometries: Sequence[BaseGeometry | None] | NDArray[np.object_],
    properties: Sequence[Mapping[str, object]],
    bounds: tuple[float, float, float, float],
    tolerance: float = 0.0,
    extent: int = EXTENT,
    buffer: int = BUFFER,
) -> bytes:
    """A tile holding one layer ``name`` with the features that survive clipping and snapping; b"" when none do.

    ``geometries`` are in the CRS of ``bounds`` (the tile's, EPSG:3857); ``properties`` map attribute names to str,
    int, float or bool values (None is left out: MVT has no null). ``tolerance`` is the simplification in CRS units.
    A feature's tags follow the order of the attribute names over all features (each mapping's order when they
    agree, as they do when built from rows).
    """
    fields = list(dict.fromkeys(name for mapping in properties for name in mapping))
    rows = [tuple(mapping.get(field) for field in fields) for mapping in properties]
    return encode_rows(name, geometries, fields, rows, bounds, tolerance, extent, buffer)


def encode_rows(
    name: str,
    geometries: Sequence[BaseGeometry | None] | NDArray[np.object_],
    fields: Sequence[str],
    rows: Sequence[Sequence[object]],
    bounds: tuple[float, float, float, float],
    tolerance: float = 0.0,
    extent: int = EXTENT,
    buffer: int = BUFFER,
) -> bytes:
    """:func:`encode_layer` with the attributes as rows of values of ``fields`` (what a store reads), without a
    mapping per feature."""
    geoms = tile_geometries(np.asarray(geometries, dtype=object), bounds, tolerance, extent, buffer)
    kept = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
    if kept.size == 0:
        return b""
    streams, types = _geometry_streams(geoms[kept])
    keys, values, tags, tag_counts = _tags(fields, [rows[i] for i in kept.tolist()])
    layer = b"".join(
        [
            pbf.key(15, pbf.VARINT) + pbf.varint(2),
            pbf.delimited(1, name.encode()),
            *_features(tags, tag_counts, streams, types),
            *(pbf.delimited(3, k.encode()) for k in keys),
            *_values(values),
            pbf.key(5, pbf.VARINT) + pbf.varint(extent),
        ]
    )
    return pbf.delimited(3, layer)


def _tags(
    fields: Sequence[str], rows: Sequence[Sequence[object]]
) -> tuple[list[str], list[tuple[type, object]], NDArray[np.uint64], NDArray[np.int64]]:
    """The layer's keys and values, and each feature's tags (key, value index pairs) and their count, column by
    column: one dict pass per attribute instead of a Python step per feature and attribute.

    Keys and values are numbered in order of first use, reading features in order and each one's fields in order;
    a value is its type and itself (1, 1.0 and True are three values); None is no tag.
    """
    n, width = len(rows), len(fields)
    present = np.zeros((n, width), dtype=bool)
    local_ids = np.zeros((n, width), dtype=np.int64)
    firsts: list[Indices] = []
    columns: list[Indices] = []
    distinct: list[tuple[type, object]] = []
    for j, column in enumerate(zip(*rows, strict=True)):
        # C-level passes only: the distinct values in order of first use, then each value's number
        mixed = len(set(map(type, column)) - {_NONE}) > 1
        keyed = list(zip(map(type, column), column, strict=True)) if mixed else column
        seen = dict.fromkeys(keyed)
        local = dict(zip(seen, range(len(seen)), strict=True))
        ids = np.fromiter(map(local.__getitem__, keyed), dtype=np.int64, count=n)
        first = np.unique(ids, return_index=True)[1]
        values = [column[i] for i in first.tolist()]
        present[:, j] = ids != values.index(None) if None in values else True
        local_ids[:, j] = ids
        firsts.append(first)
        columns.append(np.full(len(first), j))
        distinct.extend(zip(map(type, values), values, strict=True))
    none = np.zeros(0, dtype=np.int64)
    order = np.lexsort((np.concatenate([none, *columns]), np.concatenate([none, *firsts])))
    numbering = dict.fromkeys([distinct[k] for k in order.tolist()])
    numbering.pop((_NONE, None), None)
    number = dict(zip(numbering, range(len(numbering)), strict=True))
    global_ids = np.fromiter(map(number.get, distinct, itertools.repeat(0)), dtype=np.int64, count=len(distinct))
    offsets = np.cumsum([0, *map(len, firsts)])[:-1]
    value_ids = global_ids[local_ids + offsets]
    used = np.flatnonzero(present.any(axis=0))
    key_order = used[np.lexsort((used, present.argmax(axis=0)[used]))].tolist()
    key_ids = np.zeros(width, dtype=np.int64)
    key_ids[key_order] = np.arange(len(key_order))
    pairs = np.stack([np.broadcast_to(key_ids, (n, width)), value_ids], axis=-1)[present]
    return [fields[j] for j in key_order], list(number), pairs.ravel().astype(np.uint64), 2 * present.sum(axis=1)


def _features(
    tags: NDArray[np.uint64], tag_counts: NDArray[np.int64], streams: list[bytes], types: list[int]
) -> list[bytes]:
    """The Feature fields of a layer: (tags, type, geometry) each, the tags of all features varint-encoded in one
    numpy pass (a call per feature was half the encoding time of a tile of a few thousand polygons)."""
    data, lengths = pbf.varints(tags)
    ends = np.concatenate([[0], np.cumsum(lengths)])[np.cumsum(tag_counts)].tolist()
    out = []
    start = 0
    for end, stream, kind in zip(ends, streams, types, strict=True):
        body = b"".join(
            (_TAGS, _length(end - start), data[start:end], _TYPE, _KIND[kind], _GEOMETRY, _length(len(stream)), stream)
        )
        out.append(_FEATURE + _length(len(body)) + body)
        start = end
    return out


def tile_geometries(
    geoms: Geometries,
    bounds: tuple[float, float, float, float],
    tolerance: float,
    extent: int = EXTENT,
    buffer: int = BUFFER,
) -> Geometries:
    """Geometries on the integer tile grid (y down), clipped, simplified, valid and oriented; None where dropped.

    Clipping comes first: simplifying a whole large polygon for the few metres of it inside a tile can shrink that
    part to nothing. The PostGIS path clips before simplifying too (``PostgisStore.tile``).
    """
    minx, miny, maxx, maxy = bounds
    scale = np.array([extent / (maxx - minx), -extent / (maxy - miny)])
    margin = (maxx - minx) * buffer / extent
    dims = shapely.get_dimensions(geoms)
    geoms = shapely.clip_by_rect(geoms, minx - margin, miny - margin, maxx + margin, maxy + margin)
    if tolerance > 0:
        geoms = shapely.simplify(geoms, tolerance, preserve_topology=True)
    box = shapely.bounds(geoms)
    # like ST_AsMVTGeom: lines and polygons smaller than half a tile unit both ways are not drawn
    tiny = ((box[:, 2] - box[:, 0]) * scale[0] < 0.5) & ((box[:, 3] - box[:, 1]) * -scale[1] < 0.5)
    geoms[tiny & (dims > 0)] = None
    origin = np.array([minx, maxy])
    geoms = _snap(shapely.transform(geoms, lambda c: np.round((c - origin) * scale)))
    # a polygon that collapsed to lines or points is dropped, not drawn as lines (ST_AsMVTGeom returns NULL)
    geoms[shapely.get_dimensions(geoms) < dims] = None
    return shapely.orient_polygons(geoms, exterior_cw=False)


def _snap(geoms: Geometries) -> Geometries:
    """Rounded geometries made valid as ST_AsMVTGeom (wagyu) does: snap-rounding with hot pixels, so that a spike
    whose edge passes within half a unit of a vertex collapses there, as in PostGIS.

    Snap-rounding (GEOS's, ``set_precision``) is run on the already rounded vertices, which keeps a thin sliver whose
    vertices round apart (snapping the raw vertices collapses it, PostGIS keeps it), and only where it can change
    what is drawn: invalid results of rounding, polygons thin enough (mean width under two units) to collapse, and
    rings with a spike (a vertex within half a unit of the next edge but one), which snapping folds away. Elsewhere
    it would only move a few edges by less than a unit, at the cost of an overlay per geometry.
    """
    geoms = geoms.copy()
    thin = shapely.area(geoms) < shapely.length(geoms)
    needs = ~(shapely.is_valid(geoms) | shapely.is_missing(geoms)) | thin | _spiked(geoms)
    geoms[~needs] = shapely.remove_repeated_points(geoms[~needs])
    try:
        geoms[needs] = shapely.set_precision(geoms[needs], 1.0)
    except shapely.errors.GEOSException:
        geoms[needs] = [_snap_one(g) for g in geoms[needs]]
    return geoms


def _spiked(geoms: Geometries) -> NDArray[np.bool_]:
    """Whether a polygon has a ring vertex closer than half a unit to an edge that ends at its neighbour's
    neighbour, i.e. a spike or a fold that snap-rounding would collapse (repeated vertices do not count)."""
    parts, owner = shapely.get_parts(geoms, return_index=True)
    rings, ring_part = shapely.get_rings(parts, return_index=True)
    coords, ring_of = shapely.get_coordinates(rings, return_index=True)
    first = np.r_[True, ring_of[1:] != ring_of[:-1]]
    repeated = ~first & np.all(coords == np.roll(coords, 1, axis=0), axis=1)
    coords, ring_of = coords[~repeated], ring_of[~repeated]
    sizes = np.bincount(ring_of, minlength=len(rings))
    starts = np.cumsum(sizes) - sizes
    closing = np.zeros(len(coords), dtype=bool)
    ends = (starts + sizes - 1)[sizes > 1]
    closing[ends] = np.all(coords[ends] == coords[starts[sizes > 1]], axis=1)
    coords, ring_of = coords[~closing], ring_of[~closing]
    sizes = np.bincount(ring_of, minlength=len(rings))
    start = np.repeat(np.cumsum(sizes) - sizes, sizes)
    k = np.arange(len(coords)) - start
    size = sizes[ring_of]
    p0, p1, p2 = coords, coords[start + (k + 1) % size], coords[start + (k + 2) % size]
    near = (_segment_distance(p0, p1, p2) < 0.5) | (_segment_distance(p2, p0, p1) < 0.5)
    spiked = np.zeros(len(geoms), dtype=bool)
    spiked[owner[ring_part[ring_of[near]]]] = True
    return spiked


def _segment_distance(p: Points, a: Points, b: Points) -> NDArray[np.float64]:
    """Distance from each point ``p`` to the segment ``a``–``b`` (rows of (x, y))."""
    ab, ap = b - a, p - a
    length2 = np.einsum("ij,ij->i", ab, ab)
    t = np.clip(np.einsum("ij,ij->i", ap, ab) / np.where(length2 == 0, 1, length2), 0, 1)
    distance: NDArray[np.float64] = np.hypot(*(ap - t[:, None] * ab).T)
    return distance


def _snap_one(geom: shapely.Geometry) -> shapely.Geometry:
    """Snap-rounding of one geometry, repaired first where GEOS's overlay cannot node it as it is.

    Rounding can pull a hole across its shell; GEOS then fails to assign the hole ("unable to assign free hole to a
    shell"). ``make_valid`` splits such a polygon into valid parts, which snap-round like any other.
    """
    try:
        return shapely.set_precision(geom, 1.0)
    except shapely.errors.GEOSException:
        return shapely.set_precision(shapely.make_valid(geom, method="structure"), 1.0)


def _geometry_streams(geoms: Geometries) -> tuple[list[bytes], list[int]]:
    """The packed command stream of each geometry, and its MVT type (that of its highest-dimension parts)."""
    dims = shapely.get_dimensions(geoms)
    parts, owner = shapely.get_parts(geoms, return_index=True)
    keep = shapely.get_dimensions(parts) == dims[owner]
    path_owner, coords, counts, closed, grouped = _paths(parts[keep], owner[keep], dims[owner[keep]])
    stream, path_starts = _commands(path_owner, coords, counts, closed, grouped)
    data, lengths = pbf.varints(stream)
    byte_at = np.concatenate([[0], np.cumsum(lengths)])
    # each feature's paths are consecutive: its stream runs from its first path's start to the next feature's
    features, first, count = np.unique(path_owner, return_index=True, return_counts=True)
    last = first + count
    bounds = np.concatenate([path_starts, [len(stream)]])
    by_feature = {
        f: data[byte_at[bounds[a]] : byte_at[bounds[b]]]
        for f, a, b in zip(features.tolist(), first.tolist(), last.tolist(), strict=True)
    }
    return [by_feature[i] for i in range(len(geoms))], [_TYPES[d] for d in dims.tolist()]


def _paths(
    parts: Geometries, owner: Indices, kind: NDArray[np.int32]
) -> tuple[Indices, NDArray[np.int64], NDArray[np.int64], NDArray[np.bool_], NDArray[np.bool_]]:
    """Every path to draw, grouped by feature: its feature, the concatenated integer vertices, the vertex count
    of each path, whether it is a ring (closing vertex dropped, ClosePath added) and whether it is a point group
    (all the points of a feature go in one MoveTo). ``parts`` are single geometries of dimension ``kind``."""
    blocks = []
    polygons, lines, points = kind == 2, kind == 1, kind == 0
    if polygons.any():
        rings, ring_part = shapely.get_rings(parts[polygons], return_index=True)
        ring_coords, ring_index = shapely.get_coordinates(rings, return_index=True)
        sizes = np.bincount(ring_index, minlength=len(rings))
        closing = np.zeros(len(ring_coords), dtype=bool)
        closing[np.cumsum(sizes) - 1] = True
        blocks.append((owner[polygons][ring_part], ring_coords[~closing], sizes - 1, True, False))
    if lines.any():
        line_coords, line_index = shapely.get_coordinates(parts[lines], return_index=True)
        blocks.append((owner[lines], line_coords, np.bincount(line_index, minlength=int(lines.sum())), False, False))
    if points.any():
        groups, sizes = np.unique(owner[points], return_counts=True)
        blocks.append((groups, shapely.get_coordinates(parts[points]), sizes, False, True))
    return (
        np.concatenate([b[0] for b in blocks]),
        np.concatenate([b[1] for b in blocks]).round().astype(np.int64),
        np.concatenate([b[2] for b in blocks]).astype(np.int64),
        np.concatenate([np.full(len(b[0]), b[3]) for b in blocks]),
        np.concatenate([np.full(len(b[0]), b[4]) for b in blocks]),
    )


def _commands(
    path_owner: Indices,
    coords: NDArray[np.int64],
    counts: NDArray[np.int64],
    closed: NDArray[np.bool_],
    grouped: NDArray[np.bool_],
) -> tuple[NDArray[np.uint64], NDArray[np.int64]]:
    """The command integers of all paths and where each path starts in them.

    A path is MoveTo(1) x y, LineTo(n-1) dx dy..., then ClosePath for rings; a point group is MoveTo(n) dx dy...
    Coordinates are zigzagged deltas from the previous vertex of the same feature (the cursor starts at 0, 0).
    """
    line_to = ~grouped & (counts > 1)
    sizes = 1 + 2 * counts + line_to + closed
    starts = np.cumsum(sizes) - sizes
    stream = np.zeros(int(sizes.sum()), dtype=np.uint64)
    stream[starts] = (MOVE_TO | (np.where(grouped, counts, 1) << 3)).astype(np.uint64)
    stream[starts[line_to] + 3] = (LINE_TO | ((counts[line_to] - 1) << 3)).astype(np.uint64)
    stream[(starts + sizes - 1)[closed]] = CLOSE_PATH | (1 << 3)
    vertex_starts = np.cumsum(counts) - counts
    k = np.arange(len(coords)) - np.repeat(vertex_starts, counts)
    at = np.repeat(starts, counts) + 1 + 2 * k + ((k >= 1) & np.repeat(line_to, counts))
    owner = np.repeat(path_owner, counts)
    previous = np.roll(coords, 1, axis=0)
    previous[np.concatenate([[True], owner[1:] != owner[:-1]])] = 0
    deltas = pbf.zigzag(coords - previous)
    stream[at], stream[at + 1] = deltas[:, 0], deltas[:, 1]
    return stream, starts


def _values(values: list[tuple[type, object]]) -> list[bytes]:
    """The Value fields of a layer, in order; the non-negative integers and the strings (an identifier per feature:
    most of the values) written without a call per value."""
    counts = [i for i, (kind, v) in enumerate(values) if kind is int and isinstance(v, int) and 0 <= v < 1 << 64]
    out = [b""] * len(values)
    if counts:
        data, lengths = pbf.varints(np.array([values[i][1] for i in counts], dtype=np.uint64))
        ends = np.cumsum(lengths).tolist()
        for i, length, end in zip(counts, lengths.tolist(), ends, strict=True):
            out[i] = b"".join((_VALUE, _length(length + 1), _UINT, data[end - length : end]))
    for i, (_, value) in enumerate(values):
        if isinstance(value, str):
            text = value.encode()
            string = _STRING + _length(len(text)) + text
            out[i] = _VALUE + _length(len(string)) + string
        elif not out[i]:
            out[i] = pbf.delimited(4, _value(value))
    return out


def _length(size: int) -> bytes:
    """The varint of a length, from a table below 16 KiB (almost every length in a tile)."""
    return _LENGTHS[size] if size < len(_LENGTHS) else pbf.varint(size)


def _value(value: object) -> bytes:
    """A Value message: strings, booleans, integers (unsigned when not negative, as PostGIS writes them), doubles."""
    if isinstance(value, str):
        return pbf.delimited(1, value.encode())
    if isinstance(value, bool):
        return pbf.key(7, pbf.VARINT) + pbf.varint(int(value))
    if isinstance(value, int):
        if value >= 0:
            return pbf.key(5, pbf.VARINT) + pbf.varint(value)
        return pbf.key(6, pbf.VARINT) + pbf.varint(int(pbf.zigzag(np.array([value]))[0]))
    if isinstance(value, float):
        return pbf.double(3, value)
    raise TypeError(f"cannot store {type(value).__name__} value {value!r} in a vector tile")
