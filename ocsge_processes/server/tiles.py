"""OGC API – Tiles over our stores: a pygeoapi tile provider (thin adapter over :mod:`ocsge_processes.tiles`) and the
tile endpoint that pygeoapi's cannot be.

pygeoapi serves ``/collections/{id}/tiles``, the tileset metadata and ``/TileMatrixSets`` from the provider.
Its tile handler passes no query parameters to the provider (so no ``millesime`` filter), answers an unknown
tile with a plain-text 404 and sets no cache headers; :func:`install_tile_endpoint` puts our handler in its
place for the collections this provider serves, and builds expensive tiles (zoomed out, many features) apart
so that they never starve other requests (:mod:`.tilepool`). ``ocsge config`` writes its entry for each layer
that has tiles (``providers.provider_entries``, options from the template's ``x-ocsge-tiles``)::

    providers:
      - type: tile
        name: ocsge_processes.server.tiles.OcsgeTileProvider
        data: ${OCSGE_STORE}          # GeoPackage path or postgresql:// URL
        collection: ocsge-occupation-sol
        epsg: 2154
        options: {zoom: {min: 0, max: 16}, schemes: [WebMercatorQuad]}
        format: {name: mvt, mimetype: application/vnd.mapbox-vector-tile}
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

from flask import Flask, Response, request
from flask.typing import ResponseReturnValue
from pygeoapi.models.provider.base import TileMatrixSetEnumType, TilesMetadataFormat, tms_loader
from pygeoapi.provider.base_mvt import BaseMVTProvider

from .. import __version__
from ..errors import InvalidInputError, OcsgeError
from ..layers import get_layer
from ..stores import open_store
from ..tiles import TILE_MATRIX_SET, store_tile, tile_fields, validate_tile
from ..tiles.matrix import MAX_ZOOM
from ..tiles.pyramid import cached_tile
from ..tiles.source import tile_feature_count, typed_equals
from .errors import error_response, exception_response
from .providers import TILE_PROVIDER, ProviderConfig, our_providers
from .tilepool import TilePool, TilePoolSettings

MVT = "application/vnd.mapbox-vector-tile"
#: Seconds a client may reuse a tile without asking; after that an If-None-Match costs one version lookup.
DEFAULT_MAX_AGE = 600
_WEB_MERCATOR: TileMatrixSetEnumType = tms_loader.load_from_file(f"{TILE_MATRIX_SET}.json")
_TILING_SCHEME_REL = "http://www.opengis.net/def/rel/ogc/1.0/tiling-scheme"


class OcsgeTileProvider(BaseMVTProvider):
    """Vector tiles of one OCS GE layer of one store, on WebMercatorQuad."""

    # The opening lines are OcsgeProvider's: each pygeoapi base class needs its own constructor; what they share,
    # reading our provider block, is ProviderConfig.read.
    # Any: a provider block of the pygeoapi configuration, free-form
    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)  # type: ignore[no-untyped-call]  # pygeoapi's BaseMVTProvider is unannotated
        settings = ProviderConfig.read(provider_def)
        self.layer = get_layer(settings.collection)
        self.epsg = settings.epsg
        self.store = open_store(str(self.data))
        zoom = (self.options or {}).get("zoom", {})
        self.min_zoom, self.max_zoom = int(zoom.get("min", 0)), int(zoom.get("max", MAX_ZOOM))
        self.max_age = int((self.options or {}).get("max_age", DEFAULT_MAX_AGE))

    def __repr__(self) -> str:
        return f"<OcsgeTileProvider {self.layer.collection_id}>"

    def get_layer(self) -> str:
        """The MVT layer name, which styles use as ``source-layer``: the collection id."""
        return self.layer.collection_id

    def get_fields(self) -> dict[str, dict[str, str]]:
        """The attributes tiles carry (codes, millésimes), with their JSON types."""
        return {name: {"type": self.layer.fields[name]} for name in tile_fields(self.layer)}

    def get_tiling_schemes(self) -> list[TileMatrixSetEnumType]:
        return [_WEB_MERCATOR]

    def get_tiles_service(
        self,
        baseurl: str | None = None,
        servicepath: str | None = None,
        dirpath: object = None,
        tile_type: object = None,
    ) -> dict[str, list[dict[str, str]]]:
        """Links of the tilesets list: pygeoapi gives the tile URL template as ``servicepath``."""
        self._service_url = servicepath
        links: dict[str, list[dict[str, str]]] = self.get_tms_links()  # type: ignore[no-untyped-call]  # pygeoapi's BaseMVTProvider is unannotated
        return links

    def filters(self, params: Mapping[str, str]) -> dict[str, str]:
        """The millésime equality filters of a tile request; anything else is refused with what is allowed."""
        allowed = self.filter_names()
        unknown = sorted(set(params) - set(allowed) - {"f"})
        if unknown:
            raise InvalidInputError(
                f"unknown query parameter {unknown[0]!r} for tiles of {self.layer.collection_id}; "
                f"allowed: f=mvt and the equality filters {', '.join(allowed)}"
            )
        if params.get("f", "mvt") != "mvt":
            raise InvalidInputError(f"f={params['f']!r}: tiles are served as f=mvt ({MVT}) only")
        equals = {name: params[name] for name in allowed if name in params}
        typed_equals(self.layer, equals)
        return equals

    def filter_names(self) -> list[str]:
        # a slice is what a tile may show alone: a millésime, a segmentation run
        slices = self.layer.slice_keys
        return [name for name in tile_fields(self.layer) if name.startswith("millesime") or name in slices]

    def get_tiles(
        self,
        layer: str | None = None,
        tileset: str | None = None,
        z: int | None = None,
        y: int | None = None,
        x: int | None = None,
        format_: str | None = None,
        equals: Mapping[str, str] | None = None,
    ) -> bytes:
        """Tile z/y/x as MVT bytes (b"" when nothing is drawn there); InvalidInputError for a bad filter value."""
        if z is None or y is None or x is None:
            raise InvalidInputError("a tile is addressed by its tile matrix, row and column")
        return store_tile(self.store, self.layer, self.epsg, z, x, y, dict(equals or {}))

    def version(self) -> str:
        """Changes whenever the layer is written, and with the encoder: what a tile's ETag is made of."""
        return f"{__version__}:{self.store.version(self.layer, self.epsg)}"

    # Any: pygeoapi passes keywords (and a language) that these documents do not use
    def get_metadata(  # type: ignore[override]  # pygeoapi's BaseTileProvider declares it without the arguments its MVT providers take
        self,
        dataset: str,
        server_url: str,
        layer: str | None = None,
        tileset: str | None = None,
        metadata_format: str | None = None,
        title: str | None = None,
        description: str | None = None,
        keywords: list[str] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """The tileset's metadata as pygeoapi asks for it: OGC Tile Set Metadata (JSON, JSON-LD), TileJSON 3.0 or
        what its HTML page template reads."""
        kind = (metadata_format or "JSON").upper()
        if kind == TilesMetadataFormat.TILEJSON:
            return self._tilejson(dataset, server_url, title or dataset, description or "")
        if kind == TilesMetadataFormat.HTML:
            return self._html_metadata(dataset, server_url, tileset or TILE_MATRIX_SET, title or dataset)
        if kind in (TilesMetadataFormat.JSON, TilesMetadataFormat.JSONLD):
            return self._tileset_metadata(dataset, server_url, title or dataset, description or "", keywords or [])
        raise NotImplementedError(f"tileset metadata as {metadata_format!r} is not offered")

    def _tileset_metadata(
        self, dataset: str, server_url: str, title: str, description: str, keywords: list[str]
    ) -> dict[str, Any]:
        """OGC Tile Set Metadata of the WebMercatorQuad tileset."""
        return {
            "title": title,
            "description": description,
            "keywords": keywords,
            "dataType": "vector",
            "crs": _WEB_MERCATOR.crs,
            "tileMatrixSetURI": _WEB_MERCATOR.tileMatrixSetURI,
            "mediaTypes": [MVT],
            "layers": [
                {
                    "id": self.get_layer(),
                    "dataType": "vector",
                    "geometryDimension": 2,
                    "minTileMatrix": str(self.min_zoom),
                    "maxTileMatrix": str(self.max_zoom),
                    "propertiesSchema": {"type": "object", "properties": self.get_fields()},
                }
            ],
            "links": [
                {
                    "href": f"{server_url}/TileMatrixSets/{TILE_MATRIX_SET}",
                    "rel": _TILING_SCHEME_REL,
                    "type": "application/json",
                    "title": f"{TILE_MATRIX_SET} tile matrix set definition",
                },
                {
                    "href": self._template(server_url, dataset),
                    "rel": "item",
                    "type": MVT,
                    "templated": True,
                    "title": f"{TILE_MATRIX_SET} vector tiles of {dataset}",
                },
            ],
        }

    def _tilejson(self, dataset: str, server_url: str, title: str, description: str) -> dict[str, Any]:
        """TileJSON 3.0, for clients that take a TileJSON URL."""
        return {
            "tilejson": "3.0.0",
            "name": title,
            "description": description,
            "tiles": [self._template(server_url, dataset, "{z}/{y}/{x}")],
            "minzoom": self.min_zoom,
            "maxzoom": self.max_zoom,
            "vector_layers": [
                {
                    "id": self.get_layer(),
                    "fields": {k: v["type"] for k, v in self.get_fields().items()},
                    "minzoom": self.min_zoom,
                    "maxzoom": self.max_zoom,
                }
            ],
        }

    def _html_metadata(self, dataset: str, server_url: str, tileset: str, title: str) -> dict[str, Any]:
        """What pygeoapi's tileset page template reads."""
        metadata_url = f"{server_url}/collections/{dataset}/tiles/{tileset}/metadata"
        return {
            "id": dataset,
            "title": title,
            "tileset": tileset,
            "collections_path": self._template(server_url, dataset),
            "json_url": f"{metadata_url}?f=json",
            "tilejson_url": f"{metadata_url}?f=tilejson",
        }

    def _template(self, server_url: str, dataset: str, zyx: str = "{tileMatrix}/{tileRow}/{tileCol}") -> str:
        return f"{server_url}/collections/{dataset}/tiles/{TILE_MATRIX_SET}/{zyx}?f=mvt"


# Any: the pygeoapi configuration, free-form
def install_tile_endpoint(app: Flask, config: dict[str, Any]) -> None:
    """Serve ``/collections/{id}/tiles/{tms}/{z}/{y}/{x}`` with our handler for the collections whose tile
    provider is ours; other collections keep pygeoapi's."""
    endpoint = "pygeoapi.get_collection_tiles_data"
    theirs = app.view_functions[endpoint]
    ours = our_providers(config, TILE_PROVIDER)
    providers = {name: OcsgeTileProvider(provider.definition) for name, provider in ours}
    pool = TilePool(TilePoolSettings.from_env())  # one per web worker: the app is loaded in each

    def view(
        collection_id: str, tileMatrixSetId: str, tileMatrix: str, tileRow: str, tileCol: str
    ) -> ResponseReturnValue:
        if collection_id not in providers and collection_id in config["resources"]:  # published since start
            ours = our_providers(config, TILE_PROVIDER)
            providers.update({name: OcsgeTileProvider(p.definition) for name, p in ours if name not in providers})
        provider = providers.get(collection_id)
        if provider is None:
            return theirs(collection_id, tileMatrixSetId, tileMatrix, tileRow, tileCol)  # type: ignore[return-value]  # pygeoapi's views are synchronous; Flask types a view as maybe async
        return serve_tile(
            provider,
            tileMatrixSetId,
            tileMatrix,
            tileRow,
            tileCol,
            request.args,
            request.headers.get("If-None-Match"),
            pool,
        )

    app.view_functions[endpoint] = view


def serve_tile(
    provider: OcsgeTileProvider,
    tms: str,
    z: str,
    y: str,
    x: str,
    params: Mapping[str, str],
    if_none_match: str | None,
    pool: TilePool,
) -> Response:
    """One tile with its ETag and Cache-Control, a 304 when the client's copy is current, a 404 for a tile or tile
    matrix set that does not exist, or the OGC exception of the error table (a malformed request, an expensive
    tile that waited too long for a builder of ``pool``, with Retry-After).

    A tile of a cached zoom comes from the store's tile cache when ``ocsge tiles build`` made it and nothing under
    it was written since; otherwise (never built, stale after an ingest until rebuilt, a filter combination not
    cached) it is built live from the polygons, as the zooms above the cached ones always are."""
    collection = provider.get_layer()
    if tms != TILE_MATRIX_SET:
        return exception_response(
            HTTPStatus.NOT_FOUND,
            "NotFound",
            f"tile matrix set {tms!r} is not offered for {collection}; offered: {TILE_MATRIX_SET}",
        )
    try:
        column, row, zoom = (_index(name, value) for name, value in (("tileCol", x), ("tileRow", y), ("tileMatrix", z)))
        equals = provider.filters(params)
        outside = _outside(provider, zoom, column, row)
        if outside:  # the path names no tile: not a malformed request
            return exception_response(HTTPStatus.NOT_FOUND, "NotFound", outside)
        start = time.monotonic()
        cached = cached_tile(provider.store, provider.layer, provider.epsg, zoom, column, row, equals)
        # a cached tile's ETag is its bytes' digest; a live one's, the layer's version (no build to answer a 304)
        etag = cached.etag if cached else '"' + hashlib.sha256(provider.version().encode()).hexdigest()[:32] + '"'
        headers = {"ETag": etag, "Cache-Control": f"public, max-age={provider.max_age}"}
        if if_none_match and etag in (tag.strip() for tag in if_none_match.split(",")):
            return Response(status=HTTPStatus.NOT_MODIFIED, headers=headers)
        if cached:
            data, timing = cached.data, f"cache;dur={(time.monotonic() - start) * 1000:.1f}"
        else:
            data, timing = _build(provider, pool, zoom, row, column, equals)
        headers["Server-Timing"] = timing
    except OcsgeError as err:
        return error_response(err)
    if not data:
        return Response(status=HTTPStatus.NO_CONTENT, mimetype=MVT, headers=headers)
    return Response(data, status=HTTPStatus.OK, mimetype=MVT, headers=headers)


def _outside(provider: OcsgeTileProvider, zoom: int, column: int, row: int) -> str | None:
    """Why z/y/x is not a tile of the provider's tileset (None when it is one)."""
    try:
        validate_tile(zoom, column, row)
    except InvalidInputError as err:
        return str(err)
    if not provider.min_zoom <= zoom <= provider.max_zoom:
        return (
            f"tile matrix {zoom} is outside the {provider.get_layer()} tileset: tile matrices "
            f"{provider.min_zoom} to {provider.max_zoom} (clients overzoom beyond)"
        )
    return None


def _build(
    provider: OcsgeTileProvider, pool: TilePool, zoom: int, row: int, column: int, equals: Mapping[str, str]
) -> tuple[bytes, str]:
    """The tile's bytes, built here when it is cheap or by ``pool`` when it is expensive, and a Server-Timing
    value saying which (``queue`` only for expensive tiles) and where the time went."""
    start = time.monotonic()
    features = tile_feature_count(
        provider.store, provider.layer, provider.epsg, zoom, column, row, equals, pool.settings.expensive_features
    )
    if pool.is_expensive(features):
        built = pool.build(provider.store, provider.layer, provider.epsg, zoom, column, row, equals)
        return built.data, f"queue;dur={built.queued_s * 1000:.1f}, build;dur={built.build_s * 1000:.1f}"
    data = provider.get_tiles(z=zoom, y=row, x=column, equals=equals)
    return data, f"build;dur={(time.monotonic() - start) * 1000:.1f}"


def _index(name: str, value: str) -> int:
    try:
        return int(value)
    except ValueError:
        raise InvalidInputError(f"{name} must be an integer, got {value!r}") from None
