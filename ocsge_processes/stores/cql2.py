"""CQL2 (as a pygeofilter AST) to a SQL WHERE clause, for SQLite/GeoPackage and PostGIS alike.

Both stores share this translator so that a filter means the same thing on each. What a store cannot honour
(temporal or array operators, arithmetic, unknown functions, unknown properties, type mismatches) raises
:class:`UnsupportedQueryError`, which the server turns into a 400: a filter is never silently ignored. AND and
OR chains become one flat ``(a OR b OR c ...)`` and NOT NOT disappears, so SQL nests only as deep as the filter's
logic does (SQLite's parser stack overflows on deeply nested SQL).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import shapely
from pygeofilter import ast, values
from shapely.geometry.base import BaseGeometry

from ..errors import UnsupportedQueryError
from ..layers import Layer
from .base import checked_integer, quote

#: CQL2 spatial operators we evaluate, by pygeofilter class, as the OGC/GEOS predicate name.
SPATIAL_OPS: dict[type, str] = {
    ast.GeometryIntersects: "intersects",
    ast.GeometryDisjoint: "disjoint",
    ast.GeometryContains: "contains",
    ast.GeometryWithin: "within",
    ast.GeometryTouches: "touches",
    ast.GeometryCrosses: "crosses",
    ast.GeometryOverlaps: "overlaps",
    ast.GeometryEquals: "equals",
}

#: The predicate that holds when the two arguments are swapped.
CONVERSE = {"contains": "within", "within": "contains"}

_COMPARISONS = {
    ast.Equal: "=",
    ast.NotEqual: "<>",
    ast.LessThan: "<",
    ast.LessEqual: "<=",
    ast.GreaterThan: ">",
    ast.GreaterEqual: ">=",
}

_PY_TYPES = {"string": (str,), "integer": (int,), "number": (int, float), "boolean": (bool,)}

GEOMETRY_NAMES = ("geometry", "geom", "the_geom")


@dataclass
class Dialect:
    """How one database spells placeholders and spatial predicates."""

    placeholder: str
    #: Builds the SQL of ``op(geometry column, literal)`` and appends its parameters.
    spatial: Callable[[str, BaseGeometry, list[object]], str]
    case_insensitive_like: str = "LOWER({0}) LIKE LOWER({1})"


@dataclass
class Translation:
    """A WHERE clause and its parameters, in placeholder order."""

    sql: str
    params: list[object] = field(default_factory=list)


def translate(node: ast.Node, layer: Layer, dialect: Dialect) -> Translation:
    """SQL for ``node`` over the columns of ``layer``."""
    params: list[object] = []
    sql = _Translator(layer, dialect, params).visit(node)
    return Translation(sql, params)


def literal_geometry(value: object) -> BaseGeometry:
    """A shapely geometry from a pygeofilter geometry or envelope literal."""
    if isinstance(value, values.Envelope):
        return shapely.box(
            min(value.x1, value.x2), min(value.y1, value.y2), max(value.x1, value.x2), max(value.y1, value.y2)
        )
    if isinstance(value, values.Geometry):
        return shapely.geometry.shape(value.geometry)
    raise UnsupportedQueryError(f"expected a geometry literal, got {value!r}")


class _Translator:
    def __init__(self, layer: Layer, dialect: Dialect, params: list[object]) -> None:
        self.layer = layer
        self.dialect = dialect
        self.params = params

    def visit(self, node: object) -> str:
        if isinstance(node, (ast.And, ast.Or)):
            joiner = " AND " if isinstance(node, ast.And) else " OR "
            return "(" + joiner.join(self.visit(term) for term in _chain(node)) + ")"
        if isinstance(node, ast.Not):
            inner, negated = node.sub_node, True
            while isinstance(inner, ast.Not):  # NOT NOT x is x: no parentheses for the SQL parser to stack
                inner, negated = inner.sub_node, not negated
            return f"(NOT {self.visit(inner)})" if negated else self.visit(inner)
        if isinstance(node, bool):  # a TRUE / FALSE literal where a condition is expected
            return "(1 = 1)" if node else "(1 = 0)"
        if isinstance(node, ast.Include):
            return "(1 = 0)" if node.not_ else "(1 = 1)"
        if isinstance(node, ast.Comparison) and type(node) in _COMPARISONS:
            return self._comparison(node)
        if isinstance(node, ast.Between):
            lhs, field_type = self._scalar(node.lhs)
            low = self._value(node.low, field_type)
            high = self._value(node.high, field_type)
            return f"({lhs} {'NOT ' if node.not_ else ''}BETWEEN {low} AND {high})"
        if isinstance(node, ast.In):
            lhs, field_type = self._scalar(node.lhs)
            if not isinstance(node.sub_nodes, list) or not node.sub_nodes:
                raise UnsupportedQueryError(f"IN needs a non-empty list of values, got {node.sub_nodes!r}")
            items = ", ".join(self._value(v, field_type) for v in node.sub_nodes)
            return f"({lhs} {'NOT ' if node.not_ else ''}IN ({items}))"
        if isinstance(node, ast.IsNull):
            lhs, _ = self._scalar(node.lhs)
            return f"({lhs} IS {'NOT ' if node.not_ else ''}NULL)"
        if isinstance(node, ast.Like):
            return self._like(node)
        if isinstance(node, ast.SpatialComparisonPredicate) and type(node) in SPATIAL_OPS:
            return self._spatial(SPATIAL_OPS[type(node)], node.lhs, node.rhs)
        if isinstance(node, ast.BBox):
            box = values.Envelope(node.minx, node.maxx, node.miny, node.maxy)
            return self._spatial("intersects", node.lhs, box)
        raise UnsupportedQueryError(f"unsupported CQL2 expression: {_describe(node)}")

    def _comparison(self, node: ast.Comparison) -> str:
        op = _COMPARISONS[type(node)]
        if isinstance(node.lhs, (ast.Attribute, ast.Function)):
            lhs, field_type = self._scalar(node.lhs)
            return f"({lhs} {op} {self._value(node.rhs, field_type)})"
        if isinstance(node.rhs, (ast.Attribute, ast.Function)):
            rhs, field_type = self._scalar(node.rhs)
            return f"({self._value(node.lhs, field_type)} {op} {rhs})"
        raise UnsupportedQueryError(
            f"unsupported comparison {_describe(node)}: one side must be a property (arithmetic is not supported)"
        )

    def _like(self, node: ast.Like) -> str:
        lhs, field_type = self._scalar(node.lhs)
        if field_type != "string":
            raise UnsupportedQueryError(f"LIKE needs a text property, got {_describe(node.lhs)} ({field_type})")
        text: object = node.pattern
        nocase = node.nocase
        if isinstance(text, ast.Function) and text.name.lower() in ("lower", "casei") and len(text.arguments) == 1:
            text, nocase = text.arguments[0], True  # LIKE CASEI('pattern')
        if not isinstance(text, str):
            raise UnsupportedQueryError(f"LIKE needs a quoted pattern (or CASEI of one), got {_describe(text)}")
        pattern = self._value(_sql_like_pattern(node, text), "string")
        sql = self.dialect.case_insensitive_like.format(lhs, pattern) if nocase else f"{lhs} LIKE {pattern}"
        if self.dialect.placeholder == "?":
            sql += " ESCAPE '\\'"
        return f"({'NOT ' if node.not_ else ''}{sql})"

    def _spatial(self, op: str, lhs: object, rhs: object) -> str:
        if _is_geometry_attribute(rhs) and not _is_geometry_attribute(lhs):
            lhs, rhs = rhs, lhs
            op = CONVERSE.get(op, op)
        if not _is_geometry_attribute(lhs):
            raise UnsupportedQueryError(
                f"spatial predicates compare the feature geometry with a literal; got {_describe(lhs)}"
            )
        geometry = literal_geometry(rhs)
        if geometry.is_empty:
            raise UnsupportedQueryError("empty geometry literal in the filter: give it coordinates")
        if not geometry.is_valid:
            raise UnsupportedQueryError(f"invalid geometry literal in the filter: {shapely.is_valid_reason(geometry)}")
        return self.dialect.spatial(op, geometry, self.params)

    def _scalar(self, node: object) -> tuple[str, str]:
        """SQL of a property (or CASEI of one) and its field type."""
        if isinstance(node, ast.Function):
            if node.name.lower() in ("lower", "casei") and len(node.arguments) == 1:
                inner, field_type = self._scalar(node.arguments[0])
                return f"LOWER({inner})", field_type
            raise UnsupportedQueryError(f"unsupported function {node.name!r}; only CASEI is supported")
        if isinstance(node, ast.Attribute):
            if node.name not in self.layer.fields:
                raise UnsupportedQueryError(
                    f"unknown property {node.name!r} in the filter; queryable properties of "
                    f"{self.layer.collection_id}: {', '.join(self.layer.fields)}"
                )
            return quote(node.name), self.layer.fields[node.name]
        raise UnsupportedQueryError(f"unsupported operand {_describe(node)}: expected a property")

    def _value(self, value: object, field_type: str) -> str:
        if isinstance(value, ast.Function) and value.name.lower() in ("lower", "casei") and len(value.arguments) == 1:
            return f"LOWER({self._value(value.arguments[0], field_type)})"
        if isinstance(value, (ast.Node, values.Geometry, values.Envelope, list, dict)):
            raise UnsupportedQueryError(f"expected a literal value, got {_describe(value)}")
        if (value is not None and not isinstance(value, _PY_TYPES[field_type])) or (
            field_type != "boolean" and isinstance(value, bool)
        ):
            raise UnsupportedQueryError(
                f"type mismatch: a {field_type} property compared with {value!r} ({type(value).__name__})"
            )
        if isinstance(value, int) and not isinstance(value, bool):
            try:
                checked_integer(value)
            except ValueError as err:
                raise UnsupportedQueryError(str(err)) from None
        self.params.append(value)
        return self.dialect.placeholder


def _chain(node: ast.And | ast.Or) -> list[ast.Node]:
    """The terms of a chain of one operator (And or Or) in order, however the tree nests them, without recursion."""
    kind = type(node)
    terms: list[ast.Node] = []
    stack: list[ast.Node] = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, (ast.And, ast.Or)) and type(item) is kind:
            stack.extend((item.rhs, item.lhs))
        else:
            terms.append(item)
    return terms


def _sql_like_pattern(node: ast.Like, pattern: str) -> str:
    """The CQL2 pattern rewritten with SQL wildcards (% and _) and backslash escapes."""
    out = []
    chars = iter(pattern)
    for char in chars:
        if char == node.escapechar:
            literal = next(chars, "")
            out.append("\\" + literal if literal in "%_\\" else literal)
        elif char == node.wildcard:
            out.append("%")
        elif char == node.singlechar and node.singlechar != ".":
            out.append("_")
        elif char == "_":
            # CQL2 uses '_' for one character; pygeofilter reports '.' as singlechar, so honour both spellings.
            out.append("_")
        elif char in "%\\":
            out.append("\\" + char)
        else:
            out.append(char)
    return "".join(out)


def _is_geometry_attribute(node: object) -> bool:
    return isinstance(node, ast.Attribute) and node.name in GEOMETRY_NAMES


def _describe(node: object) -> str:
    if isinstance(node, ast.Node):
        try:
            return f"{type(node).__name__} {node.get_template()}"
        except (AttributeError, NotImplementedError, TypeError):
            return type(node).__name__
    return repr(node)
