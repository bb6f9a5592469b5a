"""The CQL2 text parser and the filter limits, without a server: precedence, nesting, shallow trees, and only our own
errors (never a RecursionError, a lark or a GEOS exception) for any sequence of CQL2 tokens."""

from __future__ import annotations

import contextlib
import json
import random

import pytest
from pygeofilter import ast

from ocsge_processes.errors import OcsgeError
from ocsge_processes.filters import MAX_FILTER_BRACKETS, MAX_FILTER_DEPTH, parse_filter
from ocsge_processes.layers import get_layer
from ocsge_processes.stores.cql2 import Dialect, translate

DIFF = get_layer("ocsge-difference")
SQL = Dialect("?", lambda op, geometry, params: f"{op}(geom)")


def _sql(text: str, lang: str | None = None) -> str:
    return translate(parse_filter(text, lang), DIFF, SQL).sql


def _depth(node: object) -> int:
    children = node.get_sub_nodes() if isinstance(node, ast.Node) else []
    return 1 + max((_depth(child) for child in children), default=0)


def test_and_binds_tighter_than_or() -> None:
    assert (
        _sql("millesime_avant = 1 OR millesime_avant = 2 AND millesime_apres = 3")
        == '(("millesime_avant" = ?) OR (("millesime_avant" = ?) AND ("millesime_apres" = ?)))'
    )


def test_not_not_is_valid_and_disappears_from_sql() -> None:
    assert _sql("NOT (NOT (millesime_avant = 1))") == '("millesime_avant" = ?)'
    assert _sql("NOT (NOT (NOT (millesime_avant = 1)))") == '(NOT ("millesime_avant" = ?))'
    with pytest.raises(OcsgeError, match="NOT"):
        parse_filter("NOT NOT millesime_avant = 1")  # CQL2's grammar wants a parenthesis in between


def test_long_chains_are_flat_in_sql_and_shallow_in_the_tree() -> None:
    text = " OR ".join(f"millesime_avant = {i}" for i in range(500))
    node = parse_filter(text)
    assert _depth(node) <= 12  # log2(500) levels of Or, then the comparison
    sql = translate(node, DIFF, SQL).sql
    assert sql.count("(") == 501 and sql.count(" OR ") == 499
    document = {"op": "and", "args": [{"op": "=", "args": [{"property": "millesime_avant"}, i]} for i in range(500)]}
    assert _depth(parse_filter(json.dumps(document), "cql2-json")) <= 12


def test_standard_bbox_literal_and_predicate_form() -> None:
    literal = parse_filter("S_INTERSECTS(geometry, BBOX(-1.2, 44.6, -1.1, 44.7))")
    predicate = parse_filter("BBOX(geometry, -1.2, 44.6, -1.1, 44.7)")
    as_json = parse_filter(
        json.dumps({"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": [-1.2, 44.6, -1.1, 44.7]}]})
    )
    assert literal == predicate == as_json


@pytest.mark.parametrize(
    "text", ["(" * (MAX_FILTER_BRACKETS + 1) + "millesime_avant = 1" + ")" * 65, "(" * 100_000, "NOT (" * 1000]
)
def test_deep_text_is_refused_before_parsing(text: str) -> None:
    with pytest.raises(OcsgeError, match=f"the limit is {MAX_FILTER_BRACKETS}"):
        parse_filter(text)


def test_nesting_limit_counts_levels_not_chain_length() -> None:
    text = "millesime_avant = 0"
    for level in range(MAX_FILTER_DEPTH):
        text = f"NOT ({text})" if level % 2 else f"millesime_avant = 1 AND millesime_avant = 2 AND ({text})"
    parse_filter(text)
    with pytest.raises(OcsgeError, match=f"{MAX_FILTER_DEPTH + 1} nested"):
        parse_filter(f"NOT ({text})")


def test_any_token_sequence_gives_a_result_or_our_error() -> None:
    vocabulary = [
        "(",
        ")",
        ",",
        "NOT",
        "AND",
        "OR",
        "=",
        "<>",
        ">=",
        "LIKE",
        "IN",
        "BETWEEN",
        "IS",
        "NULL",
        "TRUE",
        "code_cs_apres",
        "millesime_avant",
        "geometry",
        "'x'",
        "'a''b'",
        "1",
        "-2.5",
        "1e400",
        "POINT",
        "POLYGON",
        "BBOX",
        "S_INTERSECTS",
        "CASEI",
        "DATE",
        "TIMESTAMP",
        "'2020-01-01'",
        "T_AFTER",
        "+",
        "EMPTY",
        '"code_us_avant"',
        "'",
        '"',
        "99999999999999999999",
        "GEOMETRYCOLLECTION",
        "0 0",
        "1 1",
    ]
    generator = random.Random(11)
    for _ in range(5000):
        text = " ".join(generator.choice(vocabulary) for _ in range(generator.randint(1, 14)))
        with contextlib.suppress(OcsgeError):
            translate(parse_filter(text), DIFF, SQL)
