"""The store interface shared by the embedded GeoPackage and PostGIS, so both behave the same.

A store holds one table per (layer, territory CRS). Queries come in as a :class:`FeatureQuery` whose bbox and
filter geometries are already in that CRS; features go out as GeoJSON dicts, reprojected per page in bulk.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, ClassVar

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from numpy.typing import NDArray
from pygeofilter import ast
from shapely.geometry.base import BaseGeometry

from ..errors import UnsupportedQueryError
from ..layers import Layer
from ..territory import METROPOLE_EPSG
from .reproject import reproject

if TYPE_CHECKING:
    from .tilecache import TileCache

#: Above this many matches a filtered query reports no numberMatched rather than counting them all.
DEFAULT_COUNT_CAP = 10_000

#: (minx, miny, maxx, maxy) in a store's CRS.
Box = tuple[float, float, float, float]
#: A GeoJSON object (feature or geometry): free-form JSON, values of any JSON type.
GeoJSON = dict[str, Any]
#: One row as a database driver returns it: the store key or field values then, often, geometry bytes. Any: the
#: column types vary per query (the SQL that selects them fixes them), which a tuple type cannot follow.
Row = tuple[Any, ...]
#: The sort values then the store key of one feature: where keyset paging resumes.
SortKey = tuple[object, ...]
#: Shapely geometries (or None) in a numpy object array, as shapely's vectorised functions take them.
Geometries = NDArray[np.object_]
#: Turns geometry values fetched from a store (GeoPackage blobs, WKB) into shapely geometries.
Decoder = Callable[[Sequence[bytes | None]], Geometries]


@dataclass(frozen=True)
class FeatureQuery:
    """One page request, already validated by the caller."""

    #: In the storage CRS: a box (minx, miny, maxx, maxy), or the true shape of a client's bbox given in another CRS
    #: (``queryshape``); features whose geometry intersects it match.
    bbox: Box | BaseGeometry | None = None
    where: ast.Node | None = None
    equals: tuple[tuple[str, object], ...] = ()
    #: (field, descending) pairs; the feature key breaks ties so that pages are stable.
    sortby: tuple[tuple[str, bool], ...] = ()
    properties: tuple[str, ...] | None = None
    skip_geometry: bool = False
    limit: int = 10
    offset: int = 0
    #: Keyset paging: the sort values then the store key of the last feature of the previous page; the page starts
    #: right after it (``offset`` is then ignored), so page N costs what page 1 costs.
    after: SortKey | None = None
    #: EPSG code or CRS of the output coordinates; None keeps the storage CRS.
    out_crs: pyproj.CRS | None = None
    hits_only: bool = False
    count_cap: int = DEFAULT_COUNT_CAP


@dataclass
class FeaturePage:
    """Features of one page, and how many match in all (None when counting would be too costly)."""

    features: list[GeoJSON]
    number_matched: int | None
    #: Sort values then store key of the page's last feature (the next page's ``after``); None on an empty page.
    last_key: SortKey | None = None


@dataclass(frozen=True)
class TileRequest:
    """One vector tile as a store sees it. The tile grid and the per-zoom generalisation are the ``tiles``
    package's business; a store gets their results here and needs to know nothing of tile matrices."""

    #: WebMercatorQuad tile matrix, column and row (what PostGIS's ST_TileEnvelope takes).
    z: int
    x: int
    y: int
    #: Attributes the tile carries, in this order.
    fields: tuple[str, ...]
    #: The buffered tile in the layer's CRS: the features whose box meets it are the tile's candidates.
    bbox: Box
    #: Simplification tolerance in Web Mercator metres.
    tolerance: float
    #: Tile units per side and margin around the tile, in tile units.
    extent: int
    buffer: int
    #: Values the features must have (a millésime), already checked and typed against the layer's fields.
    equals: tuple[tuple[str, object], ...] = ()


@dataclass(frozen=True)
class TileRows:
    """The candidate features of a tile: the values of the request's ``fields`` and the geometry (layer CRS) of
    each, in store-key order."""

    rows: list[Row]
    geometries: Geometries


#: Encodes a tile's candidates into a vector tile (``tiles.source`` builds it for one tile).
TileEncoder = Callable[[TileRows], bytes]


def bbox_area(query: FeatureQuery) -> BaseGeometry | None:
    """The region ``query.bbox`` selects, as a geometry in the storage CRS."""
    return shapely.box(*query.bbox) if isinstance(query.bbox, tuple) else query.bbox


def table_name(layer: Layer, epsg: int) -> str:
    """Physical table of ``layer`` in CRS ``epsg``: metropolitan data keeps the plain name."""
    return layer.table if epsg == METROPOLE_EPSG else f"{layer.table}_{epsg}"


class FeatureStore(ABC):
    """A place where OCS GE layers are stored and queried."""

    url: str
    #: Whether :meth:`tile` builds tiles in a database server, the calling thread waiting on a socket with the GIL
    #: released; otherwise tiles are encoded in this process, CPU-bound, and a server builds them apart
    #: (``server.tilepool``).
    builds_tiles_in_database: ClassVar[bool] = False

    @abstractmethod
    def query(self, layer: Layer, epsg: int, query: FeatureQuery) -> FeaturePage:
        """Features of ``layer`` matching ``query``."""

    @abstractmethod
    def get(self, layer: Layer, epsg: int, feature_id: str, out_crs: pyproj.CRS | None = None) -> GeoJSON | None:
        """One feature by its public id, or None."""

    @abstractmethod
    def tables(self) -> dict[str, int]:
        """Existing layer tables and their row counts."""

    @abstractmethod
    def extent(self, layer: Layer, epsg: int) -> Box | None:
        """Bounding box of a layer table in its CRS, None when empty or absent."""

    @abstractmethod
    def replace_slice(
        self, layer: Layer, epsg: int, frame: gpd.GeoDataFrame, slice_values: Mapping[str, object]
    ) -> int:
        """Replace the rows of one delivery slice by ``frame``, atomically; returns the rows written."""

    @abstractmethod
    def distinct(self, layer: Layer, epsg: int, field: str, where: ast.Node | None = None) -> list[object]:
        """Sorted distinct non-null values of ``field`` among the features matching ``where``."""

    @abstractmethod
    def read_frame(
        self,
        layer: Layer,
        epsg: int,
        bbox: Box | None = None,
        equals: Mapping[str, object] | None = None,
        fields: Sequence[str] | None = None,
    ) -> gpd.GeoDataFrame:
        """A whole layer as a GeoDataFrame, for domain computations: the features whose box meets ``bbox`` (a cheap
        index filter: the computations do the exact geometry work) and whose fields have the ``equals`` values.

        ``fields``: only these of the layer's fields (all by default), in the layer's order: a computation over
        millions of polygons reads the columns it uses, not the labels and identifiers it never looks at.
        """

    @abstractmethod
    def tile_rows(self, layer: Layer, epsg: int, request: TileRequest) -> TileRows:
        """The candidates of a vector tile: the features with the ``request.equals`` values whose box meets
        ``request.bbox`` (the spatial index alone: the tile encoder clips), with only the fields a tile carries.

        Leaner than :meth:`read_frame` (no data frame, few fields): tiles are requested by the hundred.
        """

    @abstractmethod
    def tile(self, layer: Layer, epsg: int, request: TileRequest, encode: TileEncoder) -> bytes:
        """The vector tile of ``request`` (b"" when nothing is drawn), one layer named after the collection.

        A store with its own tile engine builds it where the data is, with the same clipping, simplification and
        snapping as ``tiles.mvt`` (see :attr:`builds_tiles_in_database`); a store without one hands its
        :meth:`tile_rows` to ``encode``.
        """

    @abstractmethod
    def version(self, layer: Layer, epsg: int) -> str:
        """A marker that changes whenever the layer's table is written ("" when it does not exist): tile caches
        (ETags) are keyed on it, so it must change in the same transaction as the rows, never lag them."""

    @abstractmethod
    def slice_version(self, layer: Layer, epsg: int, slice_values: Mapping[str, object]) -> str:
        """A marker of one delivery slice that changes whenever :meth:`replace_slice` rewrites it ("" when it holds
        no row): a batch skips the slices whose inputs did not change, while :meth:`version` moves with any slice."""

    @abstractmethod
    def marks(self, scope: str) -> dict[str, str]:
        """The notes of ``scope`` that :meth:`set_mark` wrote (a batch's record of what it completed), by key."""

    @abstractmethod
    def set_mark(self, scope: str, key: str, value: str | None) -> None:
        """Write (None: delete) one note of ``scope``, kept in the store beside the rows it describes."""

    @abstractmethod
    def swap_mark(self, scope: str, key: str, expected: str | None, value: str | None) -> bool:
        """Write ``value`` (None: delete) to one note only if it holds ``expected`` (None: no note), in one step
        that no other writer can split (two runs taking the same lease); whether it was written."""

    @abstractmethod
    def tile_cache(self) -> TileCache:
        """The store's cache of built tiles (``stores.tilecache``), kept beside the layers so that all replicas share
        it and ``replace_slice`` marks stale what it replaces."""

    def close(self) -> None:  # noqa: B027  # a no-op by default: open_store shares a store for the process' life
        """Release connections."""


def layer_field(layer: Layer, name: str) -> str:
    """``name`` if it is a field of ``layer``; an UnsupportedQueryError listing the fields otherwise."""
    if name not in layer.fields:
        raise UnsupportedQueryError(
            f"unknown property {name!r} of {layer.collection_id}; expected one of {', '.join(layer.fields)}"
        )
    return name


def coerce_value(layer: Layer, name: str, value: object) -> object:
    """A query-string value converted to the type of field ``name``; raises ValueError with a clear message."""
    kind = layer.fields[name]
    if value is None or kind == "string":
        return value
    text = str(value).strip()
    try:
        if kind == "integer":
            return checked_integer(int(text))
        if kind == "number":
            return float(text)
        if kind == "boolean":
            if text.lower() in ("true", "1"):
                return True
            if text.lower() in ("false", "0"):
                return False
            raise ValueError
    except ValueError:
        raise ValueError(f"property {name!r} is of type {kind}; cannot compare it with {value!r}") from None
    return value


#: The range of the stores' integer columns (SQLite INTEGER, PostgreSQL bigint).
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1


def checked_integer(value: int) -> int:
    """``value`` if an integer column can hold it; a clear ValueError otherwise (not the database's overflow)."""
    if not INT64_MIN <= value <= INT64_MAX:
        raise ValueError(f"{value} is out of the 64-bit integer range of the stores")
    return value


def lat_first(crs: pyproj.CRS) -> bool:
    """Whether ``crs`` puts northing first (EPSG:4326 does; CRS84 and projected CRSs do not)."""
    return crs.axis_info[0].direction.lower() in ("north", "south")


def geojson_geometries(geoms: Geometries) -> list[GeoJSON | None]:
    """GeoJSON dicts for an array of shapely geometries, built from one coordinate array.

    Pages of MultiPolygons (every OCS GE layer) are nested by list slicing over ``to_ragged_array``, several times
    faster than encoding each geometry to text and parsing it back; other inputs take the text path.
    """
    types = set(shapely.get_type_id(geoms).tolist())
    if types != {shapely.GeometryType.MULTIPOLYGON.value}:
        texts = shapely.to_geojson(geoms)
        return [json.loads(t) if t is not None else None for t in texts]
    _, coords, (ring_offsets, polygon_offsets, geometry_offsets) = shapely.to_ragged_array(geoms)
    points = coords.tolist()
    rings = [points[a:b] for a, b in zip(ring_offsets[:-1].tolist(), ring_offsets[1:].tolist(), strict=True)]
    polygons = [rings[a:b] for a, b in zip(polygon_offsets[:-1].tolist(), polygon_offsets[1:].tolist(), strict=True)]
    return [
        {"type": "MultiPolygon", "coordinates": polygons[a:b]}
        for a, b in zip(geometry_offsets[:-1].tolist(), geometry_offsets[1:].tolist(), strict=True)
    ]


def make_feature(layer: Layer, names: list[str], row: Row, geometry: GeoJSON | None) -> GeoJSON:
    """A GeoJSON feature from a row holding the store key then the fields named in ``names``."""
    properties = dict(zip(names, row[1:], strict=True))
    feature_id = properties[layer.id_field] if layer.unique_id else row[0]
    return {"type": "Feature", "id": feature_id, "geometry": geometry, "properties": properties}


def key_condition(layer: Layer, feature_id: str) -> tuple[str, object] | None:
    """Column and value that select one feature by its public id; None when the id cannot exist."""
    if layer.unique_id:
        return layer.id_field, feature_id
    try:
        return "fid", int(feature_id)
    except ValueError:
        return None


#: pandas dtypes that keep nulls for each field type.
PANDAS_TYPES = {"string": "object", "integer": "Int64", "number": "float64", "boolean": "boolean"}


def with_fields(layer: Layer, fields: Sequence[str] | None) -> Layer:
    """``layer`` narrowed to ``fields`` (kept in the layer's order), for the columns a read returns."""
    if fields is None:
        return layer
    unknown = sorted(set(fields) - layer.fields.keys())
    if unknown:
        raise ValueError(f"{layer.collection_id} has no field {', '.join(unknown)}")
    return replace(layer, fields={name: kind for name, kind in layer.fields.items() if name in fields})


def quote(name: str) -> str:
    """A double-quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'


def selected_fields(layer: Layer, query: FeatureQuery) -> list[str]:
    """Fields to return (after the store key): all, or the requested ones with the identifying field first."""
    if query.properties is None:
        return list(layer.fields)
    return list(dict.fromkeys([layer.id_field, *query.properties]))  # a field asked twice is returned once


def order_by(query: FeatureQuery) -> str:
    """ORDER BY list of a query; the integer key ends it so that equal sort values still page stably.

    Nulls sort as the smallest value in both stores (SQLite's rule; PostgreSQL's default is the opposite).
    """
    keys = [f"{quote(f)} {'DESC NULLS LAST' if desc else 'ASC NULLS FIRST'}" for f, desc in query.sortby]
    return ", ".join([*keys, "fid"])


def sort_columns(query: FeatureQuery) -> list[str]:
    """The columns a keyset needs, fetched before the page's fields: each sort field, then the store key."""
    return [*(quote(field) for field, _ in query.sortby), "fid"]


def keyset_condition(query: FeatureQuery, placeholder: str) -> tuple[str, list[object]]:
    """SQL selecting the rows that come after ``query.after`` in :func:`order_by`'s order.

    Rows come after a key when they are beyond it on the first sort field, or equal there and beyond on the next,
    and so on down to the store key; nulls are the smallest values (as in ``order_by``).
    """
    if query.after is None:
        return "1 = 1", []
    keys = [(quote(field), desc) for field, desc in query.sortby] + [("fid", False)]
    if len(query.after) != len(keys):
        raise UnsupportedQueryError("the paging cursor does not match the sort order of this request")
    alternatives: list[str] = []
    equal: list[tuple[str, list[object]]] = []
    params: list[object] = []
    for (column, desc), value in zip(keys, query.after, strict=True):
        beyond, beyond_params = _beyond(column, desc, value, placeholder)
        alternatives.append(" AND ".join([*(clause for clause, _ in equal), beyond]))
        params.extend([*(p for _, ps in equal for p in ps), *beyond_params])
        equal.append((f"{column} IS NULL", []) if value is None else (f"{column} = {placeholder}", [value]))
    return "(" + " OR ".join(f"({a})" for a in alternatives) + ")", params


def _beyond(column: str, desc: bool, value: object, placeholder: str) -> tuple[str, list[object]]:
    """Rows strictly after ``value`` on one sort key (nulls smallest: first ascending, last descending)."""
    if value is None:
        return ("1 = 0", []) if desc else (f"{column} IS NOT NULL", [])
    if desc:
        return f"({column} < {placeholder} OR {column} IS NULL)", [value]
    return f"{column} > {placeholder}", [value]


def page_sql(
    layer: Layer, table: str, where: str, params: list[object], query: FeatureQuery, geometry: str, placeholder: str
) -> tuple[str, list[object]]:
    """The SELECT of one page of ``layer`` from ``table`` (its SQL name) and its parameters.

    Each row holds the keyset columns (:func:`sort_columns`), the :func:`selected_fields`, then the ``geometry``
    expression unless skipped; the rows are those after ``query.after`` (else past the offset), in
    :func:`order_by`'s order. :func:`page_from_rows` reads them back.
    """
    columns = [*sort_columns(query), *map(quote, selected_fields(layer, query))]
    if not query.skip_geometry:
        columns.append(geometry)
    after, after_params = keyset_condition(query, placeholder)
    sql = (
        f"SELECT {', '.join(columns)} FROM {table} WHERE {where} AND {after} ORDER BY {order_by(query)} "
        f"LIMIT {placeholder} OFFSET {placeholder}"
    )
    return sql, [*params, *after_params, query.limit, 0 if query.after else query.offset]


def page_from_rows(
    layer: Layer, epsg: int, rows: list[Row], query: FeatureQuery, decode: Decoder, matched: int | None
) -> FeaturePage:
    """The page of the rows that :func:`page_sql` selected; the last one's keyset columns are its ``last_key``."""
    width = len(query.sortby)
    if not rows:
        return FeaturePage([], matched, None)
    names = selected_fields(layer, query)
    features = page_features(layer, epsg, names, [row[width:] for row in rows], query, decode)
    return FeaturePage(features, matched, tuple(rows[-1][: width + 1]))


def page_features(
    layer: Layer, epsg: int, names: list[str], rows: list[Row], query: FeatureQuery, decode: Decoder
) -> list[GeoJSON]:
    """Features of fetched rows (the store key, field values, then the geometry bytes unless skipped)."""
    if not rows:
        return []
    if query.skip_geometry:
        return [make_feature(layer, names, row, None) for row in rows]
    geoms = reproject(decode([row[-1] for row in rows]), epsg, query.out_crs)
    return [make_feature(layer, names, row[:-1], g) for row, g in zip(rows, geojson_geometries(geoms), strict=True)]
