"""The MVT encoder against its own decoder and the spec's rules (no store needed)."""

from __future__ import annotations

import numpy as np
import pytest
import shapely

from ocsge_processes.errors import InvalidInputError
from ocsge_processes.tiles import pbf
from ocsge_processes.tiles.decode import decode
from ocsge_processes.tiles.matrix import ORIGIN, tile_bounds, tile_query_bbox, validate_tile
from ocsge_processes.tiles.mvt import LINESTRING, POINT, POLYGON, encode_layer

#: A tile whose CRS units are tile units, y up: tile coordinates are (x, 4096 - y).
UNIT = (0.0, 0.0, 4096.0, 4096.0)


def flip(geom: shapely.Geometry) -> shapely.Geometry:
    return shapely.transform(geom, lambda c: np.column_stack([c[:, 0], 4096 - c[:, 1]]))


def test_varint_and_zigzag_match_the_protobuf_examples() -> None:
    assert pbf.varint(1) == b"\x01" and pbf.varint(300) == b"\xac\x02"
    values = np.array([0, 1, 127, 128, 300, 2**32, 2**63 + 5], dtype=np.uint64)
    data, lengths = pbf.varints(values)
    assert data == b"".join(pbf.varint(int(v)) for v in values)
    assert lengths.tolist() == [1, 1, 1, 2, 2, 5, 10]
    assert pbf.packed(data) == [int(v) for v in values]
    assert pbf.zigzag(np.array([0, -1, 1, -2, 2**31 - 1, -(2**31)])).tolist() == [0, 1, 2, 3, 2**32 - 2, 2**32 - 1]
    assert [pbf.unzigzag(v) for v in (0, 1, 2, 3)] == [0, -1, 1, -2]


def test_spec_example_polygon_stream() -> None:
    """The MVT 2.1 spec's polygon example (section 4.3.5.3): MoveTo(1), LineTo(2), ClosePath(1) (GEOS may start the
    ring at another vertex, so the deltas are checked through the decoded ring)."""
    tile = encode_layer("l", [flip(shapely.Polygon([(3, 6), (8, 12), (20, 34)]))], [{}], UNIT)
    feature = decode(tile)["l"].features[0]
    assert feature.type == POLYGON
    layer_bytes = {f: v for f, _, v in pbf.fields(tile)}[3]  # Tile.layers
    feature_bytes = {f: v for f, _, v in pbf.fields(layer_bytes)}[2]  # Layer.features
    stream = pbf.packed({f: v for f, _, v in pbf.fields(feature_bytes)}[4])  # Feature.geometry
    assert [stream[0], stream[3], stream[8], len(stream)] == [9, 18, 15, 9]
    assert {pbf.unzigzag(v) for v in stream[1:3]} <= {3, 6, 8, 12, 20, 34}
    assert shapely.equals(feature.geometry, shapely.Polygon([(3, 6), (8, 12), (20, 34)]))


def test_round_trip_of_points_lines_and_polygons_with_holes() -> None:
    polygon = shapely.Polygon(
        [(100, 100), (1000, 100), (1000, 1000), (100, 1000)], [[(200, 200), (300, 200), (300, 300), (200, 300)]]
    )
    geoms = [
        polygon,
        shapely.MultiPolygon([shapely.box(10, 10, 20, 20), shapely.box(50, 50, 60, 60)]),
        shapely.LineString([(0, 0), (10, 20), (30, 5)]),
        shapely.MultiLineString([[(0, 0), (5, 5)], [(9, 9), (9, 1)]]),
        shapely.Point(7, 8),
        shapely.MultiPoint([(1, 1), (5, 5)]),
    ]
    props = [
        {"code": "CS1.1.1.1", "n": i, "neg": -i - 1, "x": 1.5, "ok": i % 2 == 0, "none": None}
        for i in range(len(geoms))
    ]
    layer = decode(encode_layer("demo", geoms, props, UNIT))["demo"]
    assert layer.version == 2 and layer.extent == 4096
    assert [f.type for f in layer.features] == [POLYGON, POLYGON, LINESTRING, LINESTRING, POINT, POINT]
    for feature, geom, expected in zip(layer.features, geoms, props, strict=True):
        assert shapely.equals(feature.geometry, flip(geom)), (feature.geometry, geom)
        assert feature.properties == {k: v for k, v in expected.items() if v is not None}


def test_winding_exterior_clockwise_on_screen_holes_counter_clockwise() -> None:
    ccw = shapely.Polygon([(100, 100), (900, 100), (900, 900), (100, 900)], [[(200, 200), (200, 300), (300, 300)]])
    for geom in (ccw, ccw.reverse()):
        decoded = decode(encode_layer("l", [geom], [{}], UNIT))["l"].features[0].geometry
        # tile coordinates have y down: a positive surveyor's area (is_ccw on the raw numbers) is clockwise on screen
        assert decoded.exterior.is_ccw and not decoded.interiors[0].is_ccw


def test_clipping_simplification_and_degenerate_parts() -> None:
    big = shapely.box(-10_000, -10_000, 10_000, 10_000)
    tiny = shapely.box(2000, 2000, 2000.3, 2000.2)
    wiggly = shapely.LineString([(0, 2000), (1000, 2001), (2000, 2000), (3000, 2001)])
    layer = decode(encode_layer("l", [big, tiny, wiggly], [{"i": 0}, {"i": 1}, {"i": 2}], UNIT, tolerance=4))["l"]
    assert [f.properties["i"] for f in layer.features] == [0, 2]
    assert layer.features[0].geometry.bounds == (-64, -64, 4160, 4160), "clipped to the 64-unit buffer"
    assert len(layer.features[1].geometry.coords) == 2, "sub-tolerance wiggles are simplified away"


def test_nothing_left_is_an_empty_tile() -> None:
    assert encode_layer("l", [shapely.box(9000, 9000, 9100, 9100)], [{}], UNIT) == b""
    assert decode(b"") == {}


def test_tile_bounds_and_validation() -> None:
    assert tile_bounds(0, 0, 0) == (-ORIGIN, -ORIGIN, ORIGIN, ORIGIN)
    assert tile_bounds(1, 0, 0) == (-ORIGIN, 0.0, 0.0, ORIGIN), "rows count from the top"
    minx, miny, maxx, maxy = tile_query_bbox(14, 8139, 5916, 2154)
    assert 365_000 < minx < maxx < 375_000 and 6_400_000 < miny < maxy < 6_410_000 and maxx - minx < 2_000
    for z, x, y, message in [
        (25, 0, 0, "0 to 24"),
        (-1, 0, 0, "0 to 24"),
        (3, 8, 0, "columns 0 to 7"),
        (3, 0, -1, "rows 0 to 7"),
        (14, 0, 2**14, "rows 0 to 16383"),
        ("1", 0, 0, "integer"),
    ]:
        with pytest.raises(InvalidInputError, match=message):
            validate_tile(z, x, y)


def test_spike_folds_away_as_in_postgis() -> None:
    """A spike whose return edge passes 0.3 units from its base vertex (a commune of the SYBARVAL tiles at zoom 12):
    snap-rounding folds it, as ST_AsMVTGeom does; kept, it reached 13 units out of the shape PostGIS serves."""
    spiked = shapely.Polygon([(0, 0), (200, 0), (200, 35), (45, 35), (59, 36), (39, 35), (0, 35)])
    decoded = decode(encode_layer("l", [flip(spiked)], [{}], UNIT))["l"].features[0].geometry
    assert decoded.is_valid and decoded.bounds == (0, 0, 200, 35)


def test_rounding_that_breaks_snap_rounding_is_repaired() -> None:
    """A change polygon of the SYBARVAL zoom-11 tile whose rounded ring folds over itself: GEOS's snap-rounding
    throws on it ("unable to assign free hole to a shell"); the tile gets its valid part instead of an error."""
    folded = shapely.from_wkt("POLYGON ((3427 2916, 3411 2917, 3411 2929, 3411 2915, 3427 2916))")
    layer = decode(encode_layer("l", [flip(folded), flip(shapely.box(0, 0, 10, 10))], [{"i": 0}, {"i": 1}], UNIT))["l"]
    assert [f.properties["i"] for f in layer.features] == [0, 1]
    repaired = layer.features[0].geometry
    assert repaired.is_valid and repaired.area == shapely.make_valid(folded).area
