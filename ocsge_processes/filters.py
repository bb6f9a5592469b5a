"""Parse CQL2 text and CQL2 JSON filters into pygeofilter ASTs, correctly, within stated limits, and with messages
people can act on.

CQL2 text is read by our own parser (:mod:`ocsge_processes.cql2_text`: pygeofilter 0.4's grammar gets AND/OR
precedence and nested NOTs wrong); CQL2 JSON by pygeofilter, after fixing what it reads wrongly: a
``{"bbox": [...]}`` literal (it swaps the coordinates), ``between`` with the standard's three arguments, and long
``and``/``or`` lists (balanced, so the tree stays shallow). Every filter must also stay within the limits below,
which hold on both stores (docs/limits.md); their nesting is checked on the raw text, before any parser recurses.
Used by the request guard (every GET and POST filter) and as pygeoapi's parser.
"""

from __future__ import annotations

import json
from typing import Any

import shapely
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_json_ast

from .cql2_text import box_literal, parse_text
from .errors import InvalidInputError
from .jsondepth import json_depth

TEXT, JSON = "cql2-text", "cql2-json"

#: Predicates (comparisons, LIKE, BETWEEN, IN, IS NULL, spatial) in one filter. SQLite evaluates an OR or AND chain
#: as an expression tree as deep as the chain is long, and refuses trees deeper than 1 000.
MAX_FILTER_TERMS = 500
#: Literal values in one filter, IN lists included: each is one SQL parameter (SQLite takes at most 32 766).
MAX_FILTER_VALUES = 10_000
#: Nested levels of AND / OR / NOT (a chain of the same operator is one level): SQLite's parser overflows on SQL
#: nested about 35 parentheses deep.
MAX_FILTER_DEPTH = 20
#: Nested brackets in the filter as sent (parentheses in text; '[' and '{' in JSON), checked before parsing so that
#: no parser recurses without bound.
MAX_FILTER_BRACKETS = 64
#: Vertices of all geometry literals together: each is reprojected and tested against every candidate feature.
MAX_FILTER_VERTICES = 20_000


# Any: a CQL2 JSON filter as decoded from a request, free-form until it is read here
def parse_filter(source: str | dict[str, Any], lang: str | None = None) -> ast.Node:
    """The AST of a CQL2 filter; ``lang`` defaults to JSON for a dict or text starting with '{', else text."""
    if lang not in (None, TEXT, JSON, "cql-text", "cql-json"):
        raise InvalidInputError(f"unknown filter-lang {lang!r}; expected {TEXT} or {JSON}")
    if isinstance(source, dict) or (lang or "").endswith("json") or (lang is None and source.lstrip()[:1] == "{"):
        node = _parse_json(source)
    else:
        _check_brackets(_text_nesting(source), "parentheses")
        node = parse_text(source)
    check_complexity(node)
    return node


def check_complexity(node: object) -> None:
    """Raise InvalidInputError when a parsed filter goes past one of the limits above (walks without recursion)."""
    terms = values_ = vertices = depth = 0
    stack: list[tuple[object, type | None, int]] = [(node, None, 0)]
    while stack:
        item, parent, level = stack.pop()
        if isinstance(item, (ast.And, ast.Or)):
            level += type(item) is not parent
            stack.extend((child, type(item), level) for child in (item.lhs, item.rhs))
        elif isinstance(item, ast.Not):
            stack.append((item.sub_node, ast.Not, level + 1))
        elif isinstance(item, values.Geometry):
            vertices += _vertices(item)
        elif isinstance(item, ast.Node):
            terms += isinstance(item, ast.Predicate)
            values_ += isinstance(item, ast.Like)  # its pattern is not a sub-node
            stack.extend((child, type(item), level) for child in item.get_sub_nodes() or ())
        elif isinstance(item, list):
            stack.extend((child, parent, level) for child in item)
        else:
            values_ += 1
        depth = max(depth, level)
    for count, limit, what in (
        (terms, MAX_FILTER_TERMS, "predicates"),
        (values_, MAX_FILTER_VALUES, "values"),
        (depth, MAX_FILTER_DEPTH, "nested AND/OR/NOT levels"),
        (vertices, MAX_FILTER_VERTICES, "vertices in its geometries"),
    ):
        if count > limit:
            raise InvalidInputError(
                f"the filter has {count} {what}; the limit is {limit} (docs/limits.md): "
                "split the query or simplify the filter"
            )


def _vertices(literal: values.Geometry) -> int:
    try:
        return int(shapely.get_num_coordinates(shapely.geometry.shape(literal.geometry)))
    except (ValueError, TypeError, AttributeError, KeyError, IndexError, shapely.errors.ShapelyError) as err:
        raise InvalidInputError(f"invalid geometry literal in the filter: {err}") from None


def _check_brackets(depth: int, what: str) -> None:
    if depth > MAX_FILTER_BRACKETS:
        raise InvalidInputError(
            f"the filter nests {what} {depth} deep; the limit is {MAX_FILTER_BRACKETS} (docs/limits.md)"
        )


def _text_nesting(text: str) -> int:
    """Deepest parenthesis nesting of CQL2 text, quoted strings and names skipped."""
    deepest = depth = 0
    quote = None
    for char in text:
        if quote:
            quote = None if char == quote else quote  # a doubled quote closes and reopens: same nesting
        elif char in "'\"":
            quote = char
        elif char == "(":
            depth += 1
            deepest = max(deepest, depth)
        elif char == ")":
            depth -= 1
    return deepest


def _document_nesting(document: object) -> int:
    """Deepest list / object nesting of an already decoded JSON document, without recursion."""
    deepest = 0
    stack: list[tuple[object, int]] = [(document, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            deepest = max(deepest, depth + 1)
            stack.extend((child, depth + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _parse_json(source: str | dict[str, Any]) -> ast.Node:
    document: object
    if isinstance(source, str):
        _check_brackets(json_depth(source), "brackets")
        try:
            document = json.loads(source)
        except json.JSONDecodeError as err:
            raise InvalidInputError(f"malformed CQL2 JSON filter: {err}") from None
    else:
        _check_brackets(_document_nesting(source), "brackets")
        document = source
    standard = _standard_to_pygeofilter(document)
    if isinstance(standard, bool):  # the whole filter is true or false: the text parser's TRUE / FALSE
        return ast.Include(not standard)
    try:
        node = parse_json_ast(standard) if isinstance(standard, dict) else None
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as err:
        raise InvalidInputError(f"malformed CQL2 JSON filter: {type(err).__name__} {err}") from None
    if not isinstance(node, ast.Node):  # a literal: a number, a list, a bbox or a date is no condition
        raise InvalidInputError(
            'malformed CQL2 JSON filter: expected a condition (an object with "op" and "args") or true / false, '
            f"got {_shown(document)}"
        )
    return node


def _shown(document: object) -> str:
    text = json.dumps(document, ensure_ascii=False, default=str)
    return text if len(text) <= 60 else f"{text[:60]}…"


def _standard_to_pygeofilter(node: object) -> object:
    """CQL2 JSON as pygeofilter 0.4 reads it: bbox literals as polygons (it swaps their coordinates), ``between``
    with the standard's three arguments as its older ``[value, [low, high]]`` form, and ``and``/``or`` lists as
    balanced pairs (it chains them one level per argument)."""
    if isinstance(node, list):
        return [_standard_to_pygeofilter(item) for item in node]
    if isinstance(node, dict):
        args = node.get("args")
        op = str(node.get("op", "")).lower()
        if op == "between" and isinstance(args, list) and len(args) == 3:
            node = {**node, "args": [args[0], [args[1], args[2]]]}
        if op in ("and", "or") and isinstance(args, list) and len(args) > 2:
            while len(args) > 2:
                args = [
                    {"op": op, "args": args[i : i + 2]} if i + 1 < len(args) else args[i]
                    for i in range(0, len(args), 2)
                ]
            node = {**node, "args": args}
        box = node.get("bbox")
        if set(node) == {"bbox"} and isinstance(box, list) and len(box) in (4, 6):
            return box_literal(box)
        return {key: _standard_to_pygeofilter(value) for key, value in node.items()}
    return node
