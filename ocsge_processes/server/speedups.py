"""Three functions of pygeoapi 0.24's items handler, our replacements (``patches.apply`` puts them in its place).

Profiling a 1 000-feature page (docs/benchmarks.md) found pygeoapi building new pyproj CRSs and Transformers for
every bbox (about 12 ms) and every filter geometry (10–12 ms), and spending about 28 ms in ``json.dumps``. Its bbox
and filter-geometry transforms were also wrong near the edges (only a bbox's two corners, only a geometry's
vertices are moved, while a straight edge in one CRS is a curve in another): ours give the shapes' true outlines
in the storage CRS (``stores.queryshape``), with cached CRSs and transformers.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
from typing import Any, overload

import orjson
import pyproj
import shapely
from pygeoapi.crs import _inplace_replace_geometry_filter_name, get_crs
from pygeoapi.util import json_serial
from pygeofilter import ast, values
from pyproj.exceptions import CRSError
from shapely.geometry.base import BaseGeometry

from ..errors import InvalidInputError
from ..stores import queryshape
from ..stores.base import lat_first
from ..stores.cql2 import SPATIAL_OPS


@functools.lru_cache(maxsize=64)
def _crs(uri: str) -> pyproj.CRS:
    return get_crs(uri)


def transform_bbox(bbox: list[float], from_crs: str, to_crs: str, always_xy: bool = False) -> BaseGeometry | None:
    """The bbox's true shape in the storage CRS, where pygeoapi transforms only its two corners: a polygon whose
    densified edges follow the bbox's edges in its own CRS (queryshape), or None when it covers every place the
    storage CRS holds data (no spatial condition is needed). The provider passes it on to the store."""
    source, target = _crs(str(from_crs)), _crs(str(to_crs))
    half = len(bbox) // 2
    x0, y0, x1, y1 = bbox[0], bbox[1], bbox[half], bbox[half + 1]
    if always_xy and lat_first(source):
        x0, y0, x1, y1 = y0, x0, y1, x1
    box = shapely.box(x0, y0, x1, y1)
    if queryshape.covers_storage_region(box, source, target):
        return None
    try:
        return queryshape.to_storage(box, source, target)
    except InvalidInputError as err:  # the one error pygeoapi's caller turns into a 400 with our message
        raise CRSError(str(err)) from err


def modify_pygeofilter(
    ast_tree: ast.Node,
    *,
    filter_crs_uri: str,
    storage_crs_uri: str | None = None,
    geometry_column_name: str | None = None,
) -> ast.Node:
    """pygeoapi's ``modify_pygeofilter``: filter geometries to the storage CRS (an EWKT CRS wins over
    ``filter-crs``), tagged with that CRS. Their edges are densified (queryshape), where pygeoapi moves only their
    vertices; envelopes and BBOX predicates become the polygons of their true shapes."""
    tree = (
        _with_shapes(ast_tree, _crs(filter_crs_uri), _crs(storage_crs_uri))
        if storage_crs_uri
        else copy.deepcopy(ast_tree)
    )
    if geometry_column_name:
        _inplace_replace_geometry_filter_name(tree, geometry_column_name)
    return tree


@overload
def _with_shapes(node: ast.Node, source: pyproj.CRS, storage: pyproj.CRS) -> ast.Node: ...
@overload
def _with_shapes(
    node: values.Geometry | values.Envelope, source: pyproj.CRS, storage: pyproj.CRS
) -> values.Geometry: ...
@overload
def _with_shapes(
    node: ast.Node | values.Geometry | values.Envelope, source: pyproj.CRS, storage: pyproj.CRS
) -> ast.Node | values.Geometry: ...
@overload
def _with_shapes(node: object, source: pyproj.CRS, storage: pyproj.CRS) -> object: ...
def _with_shapes(node: object, source: pyproj.CRS, storage: pyproj.CRS) -> object:
    """A copy of ``node`` whose geometry literals (and envelopes, and BBOX predicates) are in ``storage``."""
    if isinstance(node, list):
        return [_with_shapes(item, source, storage) for item in node]
    if isinstance(node, values.Geometry):
        inline = node.geometry.get("crs", {}).get("properties", {}).get("name")
        return _literal(shapely.geometry.shape(node.geometry), _crs(inline) if inline else source, storage)
    if isinstance(node, values.Envelope):
        box = shapely.box(min(node.x1, node.x2), min(node.y1, node.y2), max(node.x1, node.x2), max(node.y1, node.y2))
        return _literal(box, source, storage)
    if isinstance(node, ast.BBox):
        box = shapely.box(node.minx, node.miny, node.maxx, node.maxy)
        node = ast.GeometryIntersects(node.lhs, _literal(box, _crs(node.crs) if node.crs else source, storage))
    if isinstance(node, ast.SpatialComparisonPredicate) and type(node) in SPATIAL_OPS:
        lhs, rhs = _with_shapes(node.lhs, source, storage), _with_shapes(node.rhs, source, storage)
        if any(
            isinstance(side, values.Geometry)
            and not side.geometry.get("coordinates")
            and not side.geometry.get("geometries")
            for side in (lhs, rhs)
        ):
            # The literal lies away from every place the storage CRS holds data: no feature can meet it.
            return ast.Include(not_=SPATIAL_OPS[type(node)] != "disjoint")
        return type(node)(lhs, rhs)
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        changes = {
            f.name: _with_shapes(getattr(node, f.name), source, storage) for f in dataclasses.fields(node) if f.init
        }
        return dataclasses.replace(node, **changes)
    return copy.deepcopy(node)


def _literal(geometry: BaseGeometry, source: pyproj.CRS, storage: pyproj.CRS) -> values.Geometry:
    authority, code = storage.to_authority()
    mapped = shapely.geometry.mapping(queryshape.to_storage(geometry, source, storage))
    return values.Geometry({**mapped, "crs": {"properties": {"name": f"urn:ogc:def:crs:{authority}::{code}"}}})


# Any: a response document is free-form JSON.
def to_json(dict_: dict[str, Any], pretty: bool = False) -> str:
    """pygeoapi's ``to_json`` (same escaping of < and >) on orjson."""
    option = orjson.OPT_INDENT_2 if pretty else 0
    text = orjson.dumps(dict_, default=json_serial, option=option | orjson.OPT_NON_STR_KEYS).decode("utf-8")
    return text.replace("<", "&lt;").replace(">", "&gt;")
