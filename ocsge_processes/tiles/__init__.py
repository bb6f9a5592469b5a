"""Vector tiles (Mapbox Vector Tile 2.1) on the WebMercatorQuad tile matrix set, from either store.

A pure library: the OGC API – Tiles wiring lives in the server package and calls :mod:`.source`.
"""

from .matrix import EXTENT, TILE_MATRIX_SET, tile_bounds, tile_query_bbox, validate_tile
from .mvt import encode_layer
from .source import store_tile, tile_fields

__all__ = [
    "EXTENT",
    "TILE_MATRIX_SET",
    "encode_layer",
    "store_tile",
    "tile_bounds",
    "tile_fields",
    "tile_query_bbox",
    "validate_tile",
]
