"""Tiles of a layer from either store: PostGIS builds them in the database, the GeoPackage in Python.

Both take the same candidates (the buffered tile's box in the layer CRS, through the spatial index), simplify
with the same per-zoom tolerance and carry the same attributes, so a client gets the same features from either.
Attributes are codes only (identifier, CS/US codes, millésimes): labels come from the style.
"""

from __future__ import annotations

import numpy as np
import pyproj

from ..layers import ARTIFICIALISATION_COMMUNES, Layer
from ..stores.base import FeatureStore, coerce_value, layer_field, table_name
from ..stores.cql2 import quote
from ..stores.reproject import reproject
from .matrix import BUFFER, EXTENT, MERCATOR_EPSG, simplify_tolerance, tile_bounds, tile_query_bbox
from .mvt import encode_layer

#: Values that a layer's style draws and that are not codes (the choropleth of the artificialisation rate).
_STYLED = {ARTIFICIALISATION_COMMUNES.collection_id: ("code_insee", "taux_artificialisation")}
_MERCATOR = pyproj.CRS.from_epsg(MERCATOR_EPSG)


def tile_fields(layer: Layer) -> list[str]:
    """Attributes put in tiles: the identifier, the coded fields, the millésimes and what the style needs."""
    names = [layer.id_field, *layer.coded, *(f for f in layer.fields if f.startswith("millesime")),
             *_STYLED.get(layer.collection_id, ())]
    return list(dict.fromkeys(names))


def gpkg_tile(store: FeatureStore, layer: Layer, epsg: int, z: int, x: int, y: int,
              equals: dict[str, object] | None = None) -> bytes:
    """Tile z/x/y of ``layer`` encoded in Python from the features the store's R-tree finds for the tile."""
    bounds = tile_bounds(z, x, y)
    frame = store.read_frame(layer, epsg, tile_query_bbox(z, x, y, epsg), _typed(layer, equals))
    names = tile_fields(layer)
    columns = [frame[n].astype(object).where(frame[n].notna(), None).tolist() for n in names]
    properties = [dict(zip(names, map(_plain, row))) for row in zip(*columns)]
    geoms = reproject(np.asarray(frame.geometry.values, dtype=object), epsg, _MERCATOR)
    return encode_layer(layer.collection_id, geoms, properties, bounds, simplify_tolerance(z))


def postgis_tile(store: FeatureStore, layer: Layer, epsg: int, z: int, x: int, y: int,
                 equals: dict[str, object] | None = None) -> bytes:
    """Tile z/x/y of ``layer`` built by PostGIS (ST_AsMVTGeom then ST_AsMVT) in one query on the GiST index.

    Simplified with ST_SimplifyPreserveTopology: GEOS's algorithm, the one the GeoPackage path runs in shapely.
    """
    tile_bounds(z, x, y)
    clauses, params = ["t.geom && ST_MakeEnvelope(%s, %s, %s, %s, %s)"], [*tile_query_bbox(z, x, y, epsg), epsg]
    for name, value in _typed(layer, equals).items():
        clauses.append(f"t.{quote(name)} = %s")
        params.append(value)
    columns = ", ".join(f"t.{quote(n)}" for n in tile_fields(layer))
    sql = (f"SELECT ST_AsMVT(m.*, %s, {EXTENT}, 'geom') FROM ("
           f"SELECT ST_AsMVTGeom(ST_SimplifyPreserveTopology(ST_Transform(t.geom, {MERCATOR_EPSG}), %s), "
           f"ST_TileEnvelope(%s, %s, %s), {EXTENT}, {BUFFER}, true) AS geom, {columns} "
           f"FROM ocsge.{quote(table_name(layer, epsg))} t WHERE {' AND '.join(clauses)} ORDER BY t.fid) m "
           "WHERE m.geom IS NOT NULL")
    with store._conn() as conn:  # the store's pool: no second set of connections per process
        row = conn.execute(sql, [layer.collection_id, simplify_tolerance(z), z, x, y, *params]).fetchone()
    return bytes(row[0]) if row and row[0] is not None else b""


def _typed(layer: Layer, equals: dict[str, object] | None) -> dict[str, object]:
    """``equals`` with known field names and values of the fields' types (InvalidInputError otherwise)."""
    return {layer_field(layer, k): coerce_value(layer, k, v) for k, v in (equals or {}).items()}


def _plain(value: object) -> object:
    """numpy scalars as Python values, for the encoder."""
    return value.item() if isinstance(value, np.generic) else value
