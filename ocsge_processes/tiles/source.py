"""Tiles of a layer from either store: PostGIS builds them in the database, the GeoPackage in Python.

Both take the same candidates (the buffered tile's box in the layer CRS, through the spatial index), simplify
with the same per-zoom tolerance and carry the same attributes, so a client gets the same features from either.
Attributes are codes only (identifier, CS/US codes, millésimes): labels come from the style.
"""

from __future__ import annotations

import pyproj

from ..errors import InvalidInputError
from ..layers import ARTIFICIALISATION_COMMUNES, Layer
from ..stores.base import FeatureQuery, FeatureStore, coerce_value, layer_field
from ..stores.postgis import PostgisStore
from ..stores.reproject import reproject
from .matrix import BUFFER, EXTENT, MERCATOR_EPSG, simplify_tolerance, tile_bounds, tile_query_bbox
from .mvt import encode_layer

#: Values that a layer's style draws and that are not codes (the choropleth of the artificialisation rate).
_STYLED = {ARTIFICIALISATION_COMMUNES.collection_id: ("code_insee", "taux_artificialisation")}
_MERCATOR = pyproj.CRS.from_epsg(MERCATOR_EPSG)


def tile_fields(layer: Layer) -> list[str]:
    """Attributes put in tiles: the identifier, the coded fields, the millésimes and what the style needs."""
    names = [
        layer.id_field,
        *layer.coded,
        *(f for f in layer.fields if f.startswith("millesime")),
        *_STYLED.get(layer.collection_id, ()),
    ]
    return list(dict.fromkeys(names))


def store_tile(
    store: FeatureStore, layer: Layer, epsg: int, z: int, x: int, y: int, equals: dict[str, object] | None = None
) -> bytes:
    """Tile z/x/y of ``layer``, built where it is cheapest: in the database for PostGIS, here for a GeoPackage."""
    build = postgis_tile if built_in_database(store) else gpkg_tile
    return build(store, layer, epsg, z, x, y, equals)


def built_in_database(store: FeatureStore) -> bool:
    """Whether the store builds tiles itself (PostGIS), leaving this process idle while it does."""
    return isinstance(store, PostgisStore)


def tile_feature_count(
    store: FeatureStore,
    layer: Layer,
    epsg: int,
    z: int,
    x: int,
    y: int,
    equals: dict[str, object] | None = None,
    cap: int = 2000,
) -> int | None:
    """Features in tile z/x/y's buffered envelope, counted up to ``cap`` (None beyond): what a build's cost grows
    with, known before building, and cheap (the spatial index, at most ``cap`` + 1 rows read)."""
    query = FeatureQuery(
        bbox=tile_query_bbox(z, x, y, epsg),
        equals=tuple(typed_equals(layer, equals).items()),
        hits_only=True,
        count_cap=cap,
    )
    return store.query(layer, epsg, query).number_matched


def gpkg_tile(
    store: FeatureStore, layer: Layer, epsg: int, z: int, x: int, y: int, equals: dict[str, object] | None = None
) -> bytes:
    """Tile z/x/y of ``layer`` encoded in Python from the features the store's R-tree finds for the tile."""
    bounds = tile_bounds(z, x, y)
    names = tile_fields(layer)
    rows, geoms = store.tile_rows(layer, epsg, names, tile_query_bbox(z, x, y, epsg), typed_equals(layer, equals))
    properties = [dict(zip(names, row)) for row in rows]
    return encode_layer(
        layer.collection_id, reproject(geoms, epsg, _MERCATOR), properties, bounds, simplify_tolerance(z)
    )


def postgis_tile(
    store: FeatureStore, layer: Layer, epsg: int, z: int, x: int, y: int, equals: dict[str, object] | None = None
) -> bytes:
    """Tile z/x/y of ``layer`` built by PostGIS (ST_AsMVTGeom then ST_AsMVT) in one query on the GiST index."""
    tile_bounds(z, x, y)
    return store.tile(
        layer,
        epsg,
        tile_fields(layer),
        z,
        x,
        y,
        tile_query_bbox(z, x, y, epsg),
        simplify_tolerance(z),
        typed_equals(layer, equals),
        EXTENT,
        BUFFER,
    )


def typed_equals(layer: Layer, equals: dict[str, object] | None) -> dict[str, object]:
    """``equals`` with known field names and values of the fields' types (InvalidInputError otherwise)."""
    try:
        return {layer_field(layer, k): coerce_value(layer, k, v) for k, v in (equals or {}).items()}
    except ValueError as err:
        raise InvalidInputError(str(err)) from None
