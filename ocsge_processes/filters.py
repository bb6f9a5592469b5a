"""Parse CQL2 text and CQL2 JSON filters into pygeofilter ASTs, correctly and with messages people can act on.

pygeofilter 0.4 is the parser pygeoapi uses, with gaps this module closes: CQL2 text string literals cannot
contain a quote (``'L''Isle'`` fails), a CQL2 JSON ``{"bbox": [...]}`` literal is read in the wrong order,
``between`` expects a pre-standard argument layout, and errors come out as long lark traces. Used by the server for validation and as pygeoapi's parser.
"""

from __future__ import annotations

import dataclasses
import json

from lark.exceptions import LarkError, UnexpectedCharacters, UnexpectedEOF, UnexpectedToken
from pygeofilter import ast, values
from pygeofilter.parsers.cql2_json import parse as parse_json_ast
from pygeofilter.parsers.cql2_text import parse as parse_text_ast

from .errors import InvalidInputError

TEXT, JSON = "cql2-text", "cql2-json"
_MARK = "@@ocsge-literal-{}@@"


def parse_filter(source: str | dict, lang: str | None = None) -> ast.Node:
    """The AST of a CQL2 filter; ``lang`` defaults to JSON for a dict or text starting with '{', else text."""
    if lang not in (None, TEXT, JSON, "cql-text", "cql-json"):
        raise InvalidInputError(f"unknown filter-lang {lang!r}; expected {TEXT} or {JSON}")
    if isinstance(source, dict) or (lang or "").endswith("json") or (lang is None and source.lstrip()[:1] == "{"):
        return _parse_json(source)
    return _parse_text(source)


def _parse_text(text: str) -> ast.Node:
    masked, literals = _mask_strings(text)
    try:
        node = parse_text_ast(masked)
    except UnexpectedEOF:
        raise InvalidInputError("malformed CQL2 text filter: it ends too early (unclosed parenthesis?)") from None
    except (UnexpectedCharacters, UnexpectedToken) as err:
        column = getattr(err, "column", "?")
        position = err.pos_in_stream or 0
        snippet = masked[max(0, position - 10):position + 10]
        raise InvalidInputError(f"malformed CQL2 text filter at column {column}, near {snippet!r}") from None
    except (LarkError, ValueError, TypeError) as err:
        raise InvalidInputError(f"malformed CQL2 text filter: {err}") from None
    return _unmask(node, literals)


def _parse_json(source: str | dict) -> ast.Node:
    try:
        document = json.loads(source) if isinstance(source, str) else source
    except json.JSONDecodeError as err:
        raise InvalidInputError(f"malformed CQL2 JSON filter: {err}") from None
    try:
        return parse_json_ast(_standard_to_pygeofilter(document))
    except (KeyError, IndexError, ValueError, TypeError, AttributeError) as err:
        raise InvalidInputError(f"malformed CQL2 JSON filter: {type(err).__name__} {err}") from None


def _mask_strings(text: str) -> tuple[str, dict[str, str]]:
    """Replace each quoted literal holding CQL2's '' escape by a quote-free marker pygeofilter can read."""
    out: list[str] = []
    literals: dict[str, str] = {}
    i = 0
    while i < len(text):
        if text[i] != "'":
            out.append(text[i])
            i += 1
            continue
        value: list[str] = []
        i += 1
        while True:
            if i >= len(text):
                raise InvalidInputError("malformed CQL2 text filter: a quoted string is not closed")
            if text[i] == "'" and text[i + 1:i + 2] == "'":
                value.append("'")
                i += 2
            elif text[i] == "'":
                i += 1
                break
            else:
                value.append(text[i])
                i += 1
        literal = "".join(value)
        if "'" in literal:
            mark = _MARK.format(len(literals))
            literals[mark] = literal
            out.append(f"'{mark}'")
        else:
            out.append(f"'{literal}'")
    return "".join(out), literals


def _unmask(node: object, literals: dict[str, str]) -> object:
    if isinstance(node, str):
        return literals.get(node, node)
    if isinstance(node, list):
        return [_unmask(item, literals) for item in node]
    if dataclasses.is_dataclass(node) and not isinstance(node, (values.Geometry, values.Envelope)):
        changes = {f.name: _unmask(getattr(node, f.name), literals) for f in dataclasses.fields(node)
                   if f.init}
        return dataclasses.replace(node, **changes)
    return node


def _standard_to_pygeofilter(node: object) -> object:
    """CQL2 JSON as pygeofilter 0.4 reads it: bbox literals as polygons (it swaps their coordinates), and
    ``between`` with the standard's three arguments as its older ``[value, [low, high]]`` form."""
    if isinstance(node, list):
        return [_standard_to_pygeofilter(item) for item in node]
    if isinstance(node, dict):
        args = node.get("args")
        if str(node.get("op", "")).lower() == "between" and isinstance(args, list) and len(args) == 3:
            node = {**node, "args": [args[0], [args[1], args[2]]]}
        box = node.get("bbox")
        if set(node) == {"bbox"} and isinstance(box, list) and len(box) in (4, 6):
            minx, miny, maxx, maxy = (box[0], box[1], box[3], box[4]) if len(box) == 6 else box
            ring = [[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]
            return {"type": "Polygon", "coordinates": [ring]}
        return {key: _standard_to_pygeofilter(value) for key, value in node.items()}
    return node
