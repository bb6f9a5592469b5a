"""Tiles of a layer from any store, through the store interface: a store with a tile engine (PostGIS) builds them in
the database, the others (the GeoPackage) hand their candidates to the encoder here (``mvt``).

Both take the same candidates (the buffered tile's box in the layer CRS, through the spatial index), simplify
with the same per-zoom tolerance and carry the same attributes, so a client gets the same features from either.
Attributes are codes only (identifier, CS/US codes, millésimes): labels come from the style.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pyproj
from numpy.typing import NDArray

from ..errors import InvalidInputError
from ..layers import ARTIFICIALISATION_COMMUNES, SEGMENTATION, SEGMENTATION_CHANGE, Layer
from ..stores.base import FeatureQuery, FeatureStore, TileRequest, TileRows, coerce_value, layer_field
from ..stores.reproject import transform, transformer
from .matrix import BUFFER, EXTENT, MERCATOR_EPSG, simplify_tolerance, tile_bounds, tile_query_bbox
from .mvt import encode_rows

#: Values that a layer's style draws and that are not codes (the choropleth of the artificialisation rate).
_STYLED = {
    ARTIFICIALISATION_COMMUNES.collection_id: ("code_insee", "taux_artificialisation"),
    SEGMENTATION.collection_id: ("run",),  # a page showing one run filters on it
    SEGMENTATION_CHANGE.collection_id: ("run_avant", "run_apres"),  # likewise for one pair of runs
}
_MERCATOR_WKT = pyproj.CRS.from_epsg(MERCATOR_EPSG).to_wkt()


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
    store: FeatureStore,
    layer: Layer,
    epsg: int,
    z: int,
    x: int,
    y: int,
    equals: Mapping[str, object] | None = None,
) -> bytes:
    """Tile z/x/y of ``layer``, built where it is cheapest: by the store where it has a tile engine (PostGIS, in the
    database), else encoded here from the candidates its spatial index finds (the GeoPackage's R-tree)."""
    bounds = tile_bounds(z, x, y)
    request = TileRequest(
        z,
        x,
        y,
        tuple(tile_fields(layer)),
        tile_query_bbox(z, x, y, epsg),
        simplify_tolerance(z),
        EXTENT,
        BUFFER,
        tuple(typed_equals(layer, equals).items()),
    )

    def encode(candidates: TileRows) -> bytes:
        geometries = to_mercator(candidates.geometries, epsg)
        return encode_rows(
            layer.collection_id,
            geometries,
            request.fields,
            candidates.rows,
            bounds,
            request.tolerance,
            request.extent,
            request.buffer,
        )

    return store.tile(layer, epsg, request, encode)


def to_mercator(geoms: NDArray[np.object_], epsg: int) -> NDArray[np.object_]:
    """``geoms`` from EPSG:``epsg`` to Web Mercator with the stores' cached transformer (``stores.reproject``, so
    the same coordinates), without building and comparing CRS objects per tile as its generic ``reproject`` does
    (about a millisecond of a zoom-14 tile)."""
    if epsg == MERCATOR_EPSG:
        return geoms
    return transform(geoms, transformer(epsg, _MERCATOR_WKT))


# The tile's address (store, layer, CRS, z/x/y, equals) is the parameter list of store_tile again: the server asks
# both for the same request, the count first to decide where the build runs.
def tile_feature_count(
    store: FeatureStore,
    layer: Layer,
    epsg: int,
    z: int,
    x: int,
    y: int,
    equals: Mapping[str, object] | None = None,
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


def typed_equals(layer: Layer, equals: Mapping[str, object] | None) -> dict[str, object]:
    """``equals`` with known field names and values of the fields' types (InvalidInputError otherwise)."""
    try:
        return {layer_field(layer, k): coerce_value(layer, k, v) for k, v in (equals or {}).items()}
    except ValueError as err:
        raise InvalidInputError(str(err)) from None
