"""The layer assembly of the MVT encoder (tags, values and feature messages built in bulk with numpy) writes the
same bytes as the plain one-call-per-feature assembly it replaced, kept here as the reference."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import shapely

from ocsge_processes.tiles import mvt, pbf
from ocsge_processes.tiles.decode import decode
from ocsge_processes.tiles.matrix import BUFFER, EXTENT, tile_bounds


def reference_layer(
    name: str,
    geometries: Sequence[shapely.Geometry | None],
    properties: Sequence[Mapping[str, object]],
    bounds: tuple[float, float, float, float],
    tolerance: float,
) -> bytes:
    """The previous encoder's layer: each feature's tags, fields and values encoded one call at a time."""
    geoms = mvt.tile_geometries(np.asarray(geometries, dtype=object), bounds, tolerance, EXTENT, BUFFER)
    kept = np.flatnonzero(~(shapely.is_missing(geoms) | shapely.is_empty(geoms)))
    if kept.size == 0:
        return b""
    streams, types = mvt._geometry_streams(geoms[kept])
    keys: dict[str, int] = {}
    values: dict[tuple[type, object], int] = {}
    features = []
    for index, stream, kind in zip(kept.tolist(), streams, types, strict=True):
        tags = []
        for attr, value in properties[index].items():
            if value is None:
                continue
            tags.append(keys.setdefault(attr, len(keys)))
            tags.append(values.setdefault((type(value), value), len(values)))
        tag_bytes = pbf.varints(np.asarray(tags, dtype=np.uint64))[0]
        features.append(
            pbf.delimited(
                2, pbf.delimited(2, tag_bytes) + pbf.key(3, pbf.VARINT) + pbf.varint(kind) + pbf.delimited(4, stream)
            )
        )
    layer = b"".join(
        [
            pbf.key(15, pbf.VARINT) + pbf.varint(2),
            pbf.delimited(1, name.encode()),
            *features,
            *(pbf.delimited(3, k.encode()) for k in keys),
            *(pbf.delimited(4, mvt._value(v)) for _, v in values),
            pbf.key(5, pbf.VARINT) + pbf.varint(EXTENT),
        ]
    )
    return pbf.delimited(3, layer)


def test_bulk_assembly_writes_the_reference_bytes() -> None:
    """A few thousand polygons (a zoom-14 tile of a dense town has ~800 to 5 500), with every kind of value: large
    identifiers (multi-byte varints), negative and float values, booleans, missing values, features without any
    attribute, and one polygon whose geometry stream exceeds the 16 KiB length table."""
    z, x, y = 14, 8144, 5888
    bounds = tile_bounds(z, x, y)
    rng = np.random.default_rng(7)
    n = 3000
    cx = rng.uniform(bounds[0], bounds[2], n)
    cy = rng.uniform(bounds[1], bounds[3], n)
    size = rng.uniform(5, 80, n)
    geoms: list[shapely.Geometry | None] = list(shapely.buffer(shapely.points(cx, cy), size, quad_segs=3))
    angles = np.linspace(0, 2 * np.pi, 12000, endpoint=False)
    radius = (bounds[2] - bounds[0]) * (0.3 + 0.1 * np.sin(angles * 600))
    centre = ((bounds[0] + bounds[2]) / 2, (bounds[1] + bounds[3]) / 2)
    geoms.append(
        shapely.Polygon(np.column_stack([centre[0] + radius * np.cos(angles), centre[1] + radius * np.sin(angles)]))
    )
    geoms.append(None)
    properties: list[dict[str, object]] = [
        {
            "id": int(i) * 1_000_003,
            "code_cs": f"CS{i % 7}",
            "millesime": 2021 + 3 * (i % 2),
            "delta": -int(i % 5),
            "taux": float(i % 3) / 3,
            "flag": bool(i % 2),
            "maybe": None if i % 4 else "x",
        }
        for i in range(n)
    ]
    properties += [{}, {"id": 1}]
    for tolerance in (0.0, 2.0):
        got = mvt.encode_layer("l", geoms, properties, bounds, tolerance)
        assert got == reference_layer("l", geoms, properties, bounds, tolerance)
        decoded = decode(got)["l"].features
        assert len(decoded) > n // 2 and any(len(f.properties) == 0 for f in decoded)


def test_rows_write_the_reference_bytes_with_mixed_and_shared_values() -> None:
    """Attributes given as rows (what the GeoPackage store reads) are numbered column by column: a column mixing
    1, True and 1.0 keeps three values, a value used by two columns is one value numbered at its first use, and a
    column that is None until late gets its key late, as the feature-by-feature reference numbers them."""
    z, x, y = 14, 8144, 5888
    bounds = tile_bounds(z, x, y)
    rng = np.random.default_rng(3)
    n = 400
    cx = rng.uniform(bounds[0], bounds[2], n)
    cy = rng.uniform(bounds[1], bounds[3], n)
    geoms = list(shapely.buffer(shapely.points(cx, cy), 30.0, quad_segs=2))
    fields = ("id", "mixed", "code_cs", "code_us", "late")
    mixed: list[object] = [1, True, 1.0, 0, False, None, "1"]
    rows = [
        (f"OCSGE{i:012d}", mixed[i % 7], f"CS{i % 3}", "CS1" if i % 5 else f"US{i % 4}", i if i > 300 else None)
        for i in range(n)
    ]
    properties = [{k: v for k, v in zip(fields, row, strict=True) if v is not None} for row in rows]
    for tolerance in (0.0, 2.0):
        got = mvt.encode_rows("l", geoms, fields, rows, bounds, tolerance)
        assert got == reference_layer("l", geoms, properties, bounds, tolerance)
        assert got == mvt.encode_layer("l", geoms, properties, bounds, tolerance)
    decoded = decode(got)["l"].features
    assert {type(f.properties.get("mixed")) for f in decoded} >= {int, bool, float, str}
