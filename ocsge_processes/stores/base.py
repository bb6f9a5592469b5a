"""The store interface shared by the embedded GeoPackage and PostGIS, so both behave the same.

A store holds one table per (layer, territory CRS). Queries come in as a :class:`FeatureQuery` whose bbox and
filter geometries are already in that CRS; features go out as GeoJSON dicts, reprojected per page in bulk.
"""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pyproj
import shapely
from pygeofilter import ast

from ..errors import UnsupportedQueryError
from ..layers import Layer
from ..territory import METROPOLE_EPSG
from .reproject import reproject

#: Above this many matches a filtered query reports no numberMatched rather than counting them all.
DEFAULT_COUNT_CAP = 10_000


@dataclass(frozen=True)
class FeatureQuery:
    """One page request, already validated by the caller."""

    #: In the storage CRS: a box (minx, miny, maxx, maxy), or the true shape of a client's bbox given in another CRS
    #: (``queryshape``); features whose geometry intersects it match.
    bbox: tuple[float, float, float, float] | shapely.Geometry | None = None
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
    after: tuple | None = None
    #: EPSG code or CRS of the output coordinates; None keeps the storage CRS.
    out_crs: pyproj.CRS | None = None
    hits_only: bool = False
    count_cap: int = DEFAULT_COUNT_CAP


@dataclass
class FeaturePage:
    """Features of one page, and how many match in all (None when counting would be too costly)."""

    features: list[dict]
    number_matched: int | None
    #: Sort values then store key of the page's last feature (the next page's ``after``); None on an empty page.
    last_key: tuple | None = None


def bbox_area(query: FeatureQuery) -> shapely.Geometry | None:
    """The region ``query.bbox`` selects, as a geometry in the storage CRS."""
    return shapely.box(*query.bbox) if isinstance(query.bbox, tuple) else query.bbox


def table_name(layer: Layer, epsg: int) -> str:
    """Physical table of ``layer`` in CRS ``epsg``: metropolitan data keeps the plain name."""
    return layer.table if epsg == METROPOLE_EPSG else f"{layer.table}_{epsg}"


class FeatureStore(ABC):
    """A place where OCS GE layers are stored and queried."""

    url: str

    @abstractmethod
    def query(self, layer: Layer, epsg: int, query: FeatureQuery) -> FeaturePage:
        """Features of ``layer`` matching ``query``."""

    @abstractmethod
    def get(self, layer: Layer, epsg: int, feature_id: str, out_crs: pyproj.CRS | None = None) -> dict | None:
        """One feature by its public id, or None."""

    @abstractmethod
    def tables(self) -> dict[str, int]:
        """Existing layer tables and their row counts."""

    @abstractmethod
    def extent(self, layer: Layer, epsg: int) -> tuple[float, float, float, float] | None:
        """Bounding box of a layer table in its CRS, None when empty or absent."""

    @abstractmethod
    def replace_slice(self, layer: Layer, epsg: int, frame: gpd.GeoDataFrame, slice_values: dict) -> int:
        """Replace the rows of one delivery slice by ``frame``, atomically; returns the rows written."""

    @abstractmethod
    def distinct(self, layer: Layer, epsg: int, field: str, where: ast.Node | None = None) -> list:
        """Sorted distinct non-null values of ``field`` among the features matching ``where``."""

    @abstractmethod
    def read_frame(
        self,
        layer: Layer,
        epsg: int,
        bbox: tuple[float, float, float, float] | None = None,
        equals: dict[str, object] | None = None,
    ) -> gpd.GeoDataFrame:
        """A whole layer as a GeoDataFrame, for domain computations: the features whose box meets ``bbox`` (a cheap
        index filter: the computations do the exact geometry work) and whose fields have the ``equals`` values."""

    def close(self) -> None:
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


def geojson_geometries(geoms: np.ndarray) -> list[dict | None]:
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
    rings = [points[a:b] for a, b in zip(ring_offsets[:-1].tolist(), ring_offsets[1:].tolist())]
    polygons = [rings[a:b] for a, b in zip(polygon_offsets[:-1].tolist(), polygon_offsets[1:].tolist())]
    return [
        {"type": "MultiPolygon", "coordinates": polygons[a:b]}
        for a, b in zip(geometry_offsets[:-1].tolist(), geometry_offsets[1:].tolist())
    ]


def make_feature(layer: Layer, names: list[str], row: tuple, geometry: dict | None) -> dict:
    """A GeoJSON feature from a row holding the store key then the fields named in ``names``."""
    properties = dict(zip(names, row[1:]))
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


def selected_fields(layer: Layer, query: FeatureQuery) -> list[str]:
    """Fields to return (after the store key): all, or the requested ones with the identifying field first."""
    if query.properties is None:
        return list(layer.fields)
    return list(dict.fromkeys([layer.id_field, *query.properties]))  # a field asked twice is returned once


def order_by(query: FeatureQuery, quote: Callable[[str], str]) -> str:
    """ORDER BY list of a query; the integer key ends it so that equal sort values still page stably.

    Nulls sort as the smallest value in both stores (SQLite's rule; PostgreSQL's default is the opposite).
    """
    keys = [f"{quote(f)} {'DESC NULLS LAST' if desc else 'ASC NULLS FIRST'}" for f, desc in query.sortby]
    return ", ".join([*keys, "fid"])


def sort_columns(query: FeatureQuery, quote: Callable[[str], str]) -> list[str]:
    """The columns a keyset needs, fetched before the page's fields: each sort field, then the store key."""
    return [*(quote(field) for field, _ in query.sortby), "fid"]


def keyset_condition(query: FeatureQuery, quote: Callable[[str], str], placeholder: str) -> tuple[str, list]:
    """SQL selecting the rows that come after ``query.after`` in :func:`order_by`'s order.

    Rows come after a key when they are beyond it on the first sort field, or equal there and beyond on the next,
    and so on down to the store key; nulls are the smallest values (as in ``order_by``).
    """
    if query.after is None:
        return "1 = 1", []
    keys = [(quote(field), desc) for field, desc in query.sortby] + [("fid", False)]
    if len(query.after) != len(keys):
        raise UnsupportedQueryError("the paging cursor does not match the sort order of this request")
    alternatives, equal, params = [], [], []
    for (column, desc), value in zip(keys, query.after):
        beyond, beyond_params = _beyond(column, desc, value, placeholder)
        alternatives.append(" AND ".join([*(clause for clause, _ in equal), beyond]))
        params.extend([*(p for _, ps in equal for p in ps), *beyond_params])
        equal.append((f"{column} IS NULL", []) if value is None else (f"{column} = {placeholder}", [value]))
    return "(" + " OR ".join(f"({a})" for a in alternatives) + ")", params


def _beyond(column: str, desc: bool, value: object, placeholder: str) -> tuple[str, list]:
    """Rows strictly after ``value`` on one sort key (nulls smallest: first ascending, last descending)."""
    if value is None:
        return ("1 = 0", []) if desc else (f"{column} IS NOT NULL", [])
    if desc:
        return f"({column} < {placeholder} OR {column} IS NULL)", [value]
    return f"{column} > {placeholder}", [value]


def split_keys(rows: list, query: FeatureQuery) -> tuple[list, tuple | None]:
    """Rows without their leading keyset columns (see :func:`sort_columns`), and the last row's key."""
    width = len(query.sortby)
    if not rows:
        return [], None
    return [row[width:] for row in rows], tuple(rows[-1][: width + 1])


def page_features(
    layer: Layer, epsg: int, names: list[str], rows: list, query: FeatureQuery, decode: Callable[[list], np.ndarray]
) -> list[dict]:
    """Features of fetched rows (the store key, field values, then the geometry bytes unless skipped)."""
    if not rows:
        return []
    if query.skip_geometry:
        return [make_feature(layer, names, row, None) for row in rows]
    geoms = reproject(decode([row[-1] for row in rows]), epsg, query.out_crs)
    return [make_feature(layer, names, row[:-1], g) for row, g in zip(rows, geojson_geometries(geoms))]


def frame_from_rows(layer: Layer, epsg: int, rows: list, decode: Callable[[list], np.ndarray]) -> gpd.GeoDataFrame:
    """A typed GeoDataFrame of rows holding the store key, every field of ``layer`` then the geometry bytes."""
    names = list(layer.fields)
    columns = list(zip(*rows)) if rows else [[] for _ in range(len(names) + 2)]
    frame = gpd.GeoDataFrame(
        {n: list(columns[i + 1]) for i, n in enumerate(names)},
        geometry=decode(list(columns[-1])) if rows else [],
        crs=f"EPSG:{epsg}",
    )
    return frame.astype({n: PANDAS_TYPES[t] for n, t in layer.fields.items()})
