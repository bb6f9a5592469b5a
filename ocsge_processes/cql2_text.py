"""A CQL2 text parser (OGC 21-065r2, the parts a feature store can honour) that builds pygeofilter ASTs.

pygeofilter 0.4's grammar gives AND and OR the same precedence (``a OR b AND c`` is read ``(a OR b) AND c``),
refuses ``NOT (NOT (x))``, ``TRUE``, one-letter property names and the standard ``BBOX(...)`` literal, and builds
one tree level per AND/OR term, so long filters overflow the recursion of everything that walks the tree. This
parser follows the standard's BNF: OR below AND below NOT, n-ary AND/OR chains built as balanced trees (depth
log2 n), loops rather than recursion for lists, and recursion only into parentheses, whose nesting the caller
bounds before parsing (:func:`ocsge_processes.filters.parse_filter`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import NoReturn

import shapely
from pygeofilter import ast, values
from pygeofilter.cql2 import SPATIAL_PREDICATES_MAP, TEMPORAL_PREDICATES_MAP
from pygeofilter.util import parse_date, parse_datetime

from .errors import InvalidInputError, UnsupportedQueryError

_TOKEN = re.compile(
    r"""
    (?P<space>\s+)
  | (?P<string>'(?:[^']|'')*')
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?)
  | (?P<name>[^\W\d][\w.:]*)
  | (?P<op><=|>=|<>|!=|[=<>(),+\-*/])
""",
    re.VERBOSE,
)
_COMPARISONS = {
    "=": ast.Equal,
    "<>": ast.NotEqual,
    "!=": ast.NotEqual,
    "<": ast.LessThan,
    "<=": ast.LessEqual,
    ">": ast.GreaterThan,
    ">=": ast.GreaterEqual,
}
#: What a scalar expression reads as: a property or a function call (nodes), or a literal. pygeofilter's type hints
#: for the operands of comparisons, LIKE, BETWEEN and spatial and temporal predicates are narrower than what CQL2
#: allows there and its own parsers put there (dates, geometries, a literal on the left): the calls that pass an
#: Operand say so, and the translator checks every operand against its field.
Operand = ast.Node | values.Geometry | values.Interval | date | datetime | str | int | float
_GEOMETRIES = {"POINT", "LINESTRING", "POLYGON", "MULTIPOINT", "MULTILINESTRING", "MULTIPOLYGON", "GEOMETRYCOLLECTION"}


@dataclass(frozen=True)
class _Token:
    kind: str  # string, quoted, number, name, op, end
    text: str
    start: int


def parse_text(text: str) -> ast.Node:
    """The pygeofilter AST of a CQL2 text filter; InvalidInputError says where and what was expected."""
    return _Parser(text).parse()


def balanced(kind: Callable[[ast.Node, ast.Node], ast.Node], items: list[ast.Node]) -> ast.Node:
    """``items`` joined by ``kind`` (ast.And or ast.Or) as a balanced tree, so its depth grows as log2 n."""
    while len(items) > 1:
        items = [kind(items[i], items[i + 1]) if i + 1 < len(items) else items[i] for i in range(0, len(items), 2)]
    return items[0]


def _tokens(text: str) -> list[_Token]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            if text[position] == "'":
                raise InvalidInputError(
                    f"malformed CQL2 text filter: the quoted string at column {position + 1} is not closed"
                )
            raise InvalidInputError(
                f"malformed CQL2 text filter at column {position + 1}: unexpected character {text[position]!r}"
            )
        kind = match.lastgroup
        assert kind is not None, "every alternative of _TOKEN is a named group"
        if kind != "space":
            tokens.append(_Token(kind, match.group(), position))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    # -- token helpers ------------------------------------------------------------------------------------

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def keyword(self, *words: str) -> bool:
        """Whether the current token is one of the (case-insensitive) keywords ``words``."""
        return self.token.kind == "name" and self.token.text.upper() in words

    def take(self) -> _Token:
        token = self.token
        self.index += 1
        return token

    def accept(self, op: str) -> bool:
        if self.token.kind == "op" and self.token.text == op:
            self.index += 1
            return True
        return False

    def expect(self, op: str, what: str) -> None:
        if not self.accept(op):
            self.fail(f"expected {what}")

    def expect_keyword(self, word: str) -> None:
        if not self.keyword(word):
            self.fail(f"expected {word}")
        self.index += 1

    def fail(self, expected: str) -> NoReturn:
        token = self.token
        found = "the end of the filter" if token.kind == "end" else repr(token.text)
        near = self.text[max(0, token.start - 15) : token.start + 15]
        raise InvalidInputError(
            f"malformed CQL2 text filter at column {token.start + 1}, near {near!r}: {expected}, found {found}"
        )

    # -- boolean expressions ------------------------------------------------------------------------------

    def parse(self) -> ast.Node:
        node = self.boolean()
        if self.token.kind != "end":
            self.fail("expected AND, OR or the end of the filter")
        return node

    def boolean(self) -> ast.Node:
        return self.chain("OR", ast.Or, self.term)

    def term(self) -> ast.Node:
        return self.chain("AND", ast.And, self.factor)

    def chain(
        self, word: str, kind: Callable[[ast.Node, ast.Node], ast.Node], operand: Callable[[], ast.Node]
    ) -> ast.Node:
        """``operand (word operand)*`` as a balanced tree of ``kind``: OR of terms, AND of factors."""
        operands = [operand()]
        while self.keyword(word):
            self.index += 1
            operands.append(operand())
        return balanced(kind, operands)

    def factor(self) -> ast.Node:
        if self.keyword("NOT"):
            self.index += 1
            if self.keyword("NOT"):
                self.fail("expected a predicate or a parenthesis after NOT (write NOT (NOT ...))")
            return ast.Not(self.primary())
        return self.primary()

    def primary(self) -> ast.Node:
        if self.accept("("):
            node = self.boolean()
            self.expect(")", "')' closing the parenthesis")
            return node
        if self.keyword("TRUE", "FALSE", "INCLUDE", "EXCLUDE"):
            return ast.Include(self.take().text.upper() in ("FALSE", "EXCLUDE"))
        if self.keyword(*(name.upper() for name in SPATIAL_PREDICATES_MAP)):
            spatial = SPATIAL_PREDICATES_MAP[self.take().text.lower()]
            return spatial(*self.arguments(2))  # type: ignore[arg-type]  # pygeofilter's hints too narrow: see Operand
        if self.keyword(*(name.upper() for name in TEMPORAL_PREDICATES_MAP)):
            temporal = TEMPORAL_PREDICATES_MAP[self.take().text.lower()]
            return temporal(*self.arguments(2))  # type: ignore[arg-type]  # pygeofilter's hints too narrow: see Operand
        if self.keyword("A_EQUALS", "A_CONTAINS", "A_CONTAINEDBY", "A_OVERLAPS"):
            raise UnsupportedQueryError(
                f"unsupported CQL2 array function {self.token.text}: the collections have no array properties"
            )
        if self.keyword("BBOX") and self.tokens[self.index + 1].text == "(" and self._bbox_predicate():
            return self.bbox_predicate()
        return self.predicate()

    def arguments(self, count: int) -> list[Operand]:
        self.expect("(", "'(' after the function name")
        found = [self.scalar()]
        for _ in range(count - 1):
            self.expect(",", "',' between the arguments")
            found.append(self.scalar())
        self.expect(")", f"')' after the {count} arguments")
        return found

    def _bbox_predicate(self) -> bool:
        """``BBOX(property, x1, y1, x2, y2)``, pygeofilter's predicate form, rather than the CQL2 literal."""
        following = self.tokens[self.index + 2]
        return following.kind in ("name", "quoted")

    def bbox_predicate(self) -> ast.Node:
        self.index += 2
        lhs = self.property_name()
        numbers = []
        while self.accept(","):
            numbers.append(self.signed_number())
        self.expect(")", "')' closing BBOX")
        if len(numbers) != 4:
            self.fail("expected BBOX(property, minx, miny, maxx, maxy)")
        return ast.GeometryIntersects(lhs, box_literal(numbers))

    def predicate(self) -> ast.Node:
        lhs = self.scalar()
        if self.token.kind == "op" and self.token.text in _COMPARISONS:
            comparison = _COMPARISONS[self.take().text]
            return comparison(lhs, self.scalar())  # type: ignore[arg-type]  # pygeofilter's hints too narrow: see Operand
        negate = self.keyword("NOT")
        if negate:
            self.index += 1
        if self.keyword("LIKE"):
            self.index += 1
            pattern = self.like_pattern()
            return ast.Like(lhs, pattern, False, "%", ".", "\\", negate)  # type: ignore[arg-type]  # pygeofilter's hints too narrow: see Operand
        if self.keyword("BETWEEN"):
            self.index += 1
            low = self.scalar()
            self.expect_keyword("AND")
            return ast.Between(lhs, low, self.scalar(), negate)  # type: ignore[arg-type]  # pygeofilter's hints too narrow: see Operand
        if self.keyword("IN"):
            self.index += 1
            self.expect("(", "'(' opening the IN list")
            items: list[ast.AstType] = [self.scalar()]
            while self.accept(","):
                items.append(self.scalar())
            self.expect(")", "')' closing the IN list")
            return ast.In(lhs, items, negate)
        if not negate and self.keyword("IS"):
            self.index += 1
            is_not = self.keyword("NOT")
            if is_not:
                self.index += 1
            self.expect_keyword("NULL")
            return ast.IsNull(lhs, is_not)
        self.fail(
            "expected LIKE, BETWEEN or IN"
            if negate
            else "expected a comparison (=, <>, <, <=, >, >=, LIKE, BETWEEN, IN, IS NULL)"
        )

    def like_pattern(self) -> str | ast.Function:
        """A pattern string, or CASEI(pattern) kept as a function the translator reads as case-insensitive."""
        pattern = self.scalar()
        if isinstance(pattern, str):
            return pattern
        if isinstance(pattern, ast.Function) and len(pattern.arguments) == 1 and isinstance(pattern.arguments[0], str):
            return pattern
        raise UnsupportedQueryError(f"LIKE needs a quoted pattern (or CASEI of one), got {pattern!r}")

    # -- scalar expressions -------------------------------------------------------------------------------

    def scalar(self) -> Operand:
        value = self.operand()
        if self.token.kind == "op" and self.token.text in "+-*/":
            raise UnsupportedQueryError(
                f"unsupported CQL2 arithmetic ({self.token.text!r} at column "
                f"{self.token.start + 1}): compare a property with a literal"
            )
        return value

    def operand(self) -> Operand:
        token = self.token
        if token.kind == "string":
            self.index += 1
            return token.text[1:-1].replace("''", "'")
        if token.kind == "number" or (token.kind == "op" and token.text in "+-"):
            return self.signed_number()
        if token.kind == "quoted":
            return self.property_name()
        if token.kind != "name":
            self.fail("expected a property, a literal or a function")
        word = token.text.upper()
        if word in ("TRUE", "FALSE"):
            self.index += 1
            return word == "TRUE"
        if word in _GEOMETRIES:
            return self.geometry()
        if self.tokens[self.index + 1].text != "(":
            return self.property_name()
        if word == "BBOX":
            self.index += 1
            return box_literal(self.numbers())
        if word in ("DATE", "TIMESTAMP"):
            self.index += 1
            return self.instant(word)
        if word == "INTERVAL":
            self.index += 1
            self.expect("(", "'(' after INTERVAL")
            start = self.instant_text()
            self.expect(",", "',' between the two instants")
            end = self.instant_text()
            self.expect(")", "')' closing INTERVAL")
            return values.Interval(start, end)
        self.index += 1
        name = "lower" if word == "CASEI" else token.text.lower()
        self.expect("(", "'(' after the function name")
        arguments: list[ast.AstType] = []
        if not self.accept(")"):
            arguments.append(self.scalar())
            while self.accept(","):
                arguments.append(self.scalar())
            self.expect(")", "')' closing the function arguments")
        return ast.Function(name, arguments)

    def property_name(self) -> ast.Attribute:
        token = self.take()
        if token.kind == "quoted":
            return ast.Attribute(token.text[1:-1].replace('""', '"'))
        if token.kind != "name":
            self.index -= 1
            self.fail("expected a property name")
        return ast.Attribute(token.text)

    def signed_number(self) -> int | float:
        sign = -1 if self.accept("-") else 1
        if sign == 1:
            self.accept("+")
        if self.token.kind != "number":
            self.fail("expected a number")
        text = self.take().text
        return sign * (int(text) if text.isdigit() else float(text))

    def numbers(self) -> list[int | float]:
        self.expect("(", "'('")
        found = [self.signed_number()]
        while self.accept(","):
            found.append(self.signed_number())
        self.expect(")", "')' closing the number list")
        return found

    def instant_text(self) -> date | datetime | None:
        if self.token.kind == "string" and self.token.text == "'..'":
            self.index += 1
            return None
        if self.keyword("DATE", "TIMESTAMP"):
            return self.instant(self.take().text.upper())
        if self.token.kind == "string":
            text = self.take().text[1:-1]
            return _instant("DATE" if len(text) == 10 else "TIMESTAMP", text, self)
        self.fail("expected a DATE, a TIMESTAMP or a quoted instant")

    def instant(self, word: str) -> date | datetime:
        self.expect("(", f"'(' after {word}")
        if self.token.kind != "string":
            self.fail(f"expected a quoted {word.lower()}")
        value = _instant(word, self.take().text[1:-1], self)
        self.expect(")", f"')' closing {word}")
        return value

    def geometry(self) -> values.Geometry:
        """A WKT literal: the tokens up to its balanced closing parenthesis, read by GEOS."""
        start = self.take().start
        if self.keyword("Z", "M", "ZM"):
            self.index += 1
        if self.keyword("EMPTY"):
            end = self.take()
        else:
            if self.token.text != "(":
                self.fail("expected '(' opening the geometry's coordinates")
            depth = 0
            while True:
                token = self.take()
                if token.kind == "end":
                    self.index -= 1
                    self.fail("expected ')' closing the geometry")
                depth += {"(": 1, ")": -1}.get(token.text, 0) if token.kind == "op" else 0
                if depth == 0:
                    end = token
                    break
        wkt = self.text[start : end.start + len(end.text)]
        try:
            geometry = shapely.from_wkt(wkt)
        except shapely.errors.GEOSException as err:
            raise InvalidInputError(
                f"malformed geometry literal in the CQL2 text filter at column {start + 1}: {err}"
            ) from None
        return values.Geometry(shapely.geometry.mapping(geometry))


def box_literal(numbers: Sequence[float]) -> values.Geometry:
    """A CQL2 BBOX literal (4 numbers, or 6 with heights) as a polygon, like the JSON ``{"bbox": ...}`` form."""
    if len(numbers) not in (4, 6):
        raise InvalidInputError(f"a BBOX has 4 or 6 numbers, got {len(numbers)}")
    minx, miny, maxx, maxy = (numbers[0], numbers[1], numbers[3], numbers[4]) if len(numbers) == 6 else numbers
    ring = [[minx, miny], [maxx, miny], [maxx, maxy], [minx, maxy], [minx, miny]]
    return values.Geometry({"type": "Polygon", "coordinates": [ring]})


def _instant(word: str, text: str, parser: _Parser) -> date | datetime:
    try:
        return parse_date(text) if word == "DATE" else parse_datetime(text)
    except (ValueError, TypeError):
        parser.index -= 1
        parser.fail(f"expected an ISO 8601 {'date' if word == 'DATE' else 'timestamp'}")
