"""GpkgStore.distinct hops along a column's index and answers as the one ``SELECT DISTINCT`` scan did: the scan's
own answer is the reference, on slices laid out as ingestion lays them (each slice's fids together, a département's
slices apart)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from pygeofilter import ast

from ocsge_processes.filters import parse_filter
from ocsge_processes.layers import DIFFERENCE, OCCUPATION_SOL
from ocsge_processes.stores import gpkg
from ocsge_processes.stores.base import FeatureQuery, quote
from ocsge_processes.stores.gpkg import GpkgStore

from .test_columnar import _written


@pytest.fixture
def store(tmp_path: Path) -> GpkgStore:
    """33's 2021 slice (fids 1-40), 40's 2024 slice (41-70), then 33's 2024 slice (71-100)."""
    store = GpkgStore(tmp_path / "s.gpkg")
    for departement, millesime, count in (("33", 2021, 40), ("40", 2024, 30), ("33", 2024, 30)):
        frame = _written(millesime, count).assign(departement=departement)
        store.replace_slice(OCCUPATION_SOL, 2154, frame, {"departement": departement, "millesime": millesime})
    return store


#: Over the first squares of each slice, by the R-tree and then the exact test.
_TRIANGLE = "POLYGON((700000 6600000, 700150 6600000, 700150 6600150, 700000 6600000))"


def _scanned(store: GpkgStore, field: str, where: ast.Node | None) -> list[object]:
    """The statement distinct ran before it hopped."""
    condition, params = store._where(OCCUPATION_SOL, "occupation_sol", FeatureQuery(where=where))
    sql = f"SELECT DISTINCT {quote(field)} FROM occupation_sol WHERE {condition} AND {quote(field)} IS NOT NULL"
    with sqlite3.connect(store.path) as conn:
        gpkg._register_functions(conn)
        return [row[0] for row in conn.execute(sql + " ORDER BY 1", params)]


def _traced(store: GpkgStore, field: str, where: ast.Node | None) -> tuple[list[object], bool]:
    """distinct's answer, and whether it fell back to the scan."""
    statements: list[str] = []
    store._reader().set_trace_callback(statements.append)
    try:
        values = store.distinct(OCCUPATION_SOL, 2154, field, where)
    finally:
        store._reader().set_trace_callback(None)
    return values, any("SELECT DISTINCT" in s for s in statements)


@pytest.mark.parametrize(
    ("field", "cql", "expected", "scanned"),
    [
        ("millesime", "departement = '33'", [2021, 2024], False),
        ("millesime", "departement = '40'", [2024], False),
        ("millesime", "departement = '64'", [], False),  # a département the table does not hold
        ("millesime", "code_cs = 'CS9'", [], False),  # a where that matches nothing
        ("departement", None, ["33", "40"], False),
        ("code_us", None, ["US235"], False),  # indexed text with NULLs
        ("code_cs", "departement = '40' AND millesime = 2024", None, False),
        ("departement", f"S_INTERSECTS(geometry, {_TRIANGLE})", ["33", "40"], False),
        ("ossature", "departement = '33'", [0, 1], True),  # an integer column without an index, NULLs
        ("source", None, ["l'IGN"], True),  # a text column without an index, NULLs
    ],
)
def test_distinct_answers_as_the_scan(
    store: GpkgStore, field: str, cql: str | None, expected: list[object] | None, scanned: bool
) -> None:
    where = None if cql is None else parse_filter(cql)
    values, fell_back = _traced(store, field, where)
    assert values == _scanned(store, field, where)
    assert expected is None or values == expected
    assert fell_back == scanned
    assert not store._reader().in_transaction  # a read transaction left open would pin the WAL


def test_a_value_past_the_budget_falls_back_to_the_scan(store: GpkgStore, monkeypatch: pytest.MonkeyPatch) -> None:
    """33's 2024 rows come after 40's 30: 2024's test for 33 reads 31 entries to find one."""
    where = parse_filter("departement = '33'")
    monkeypatch.setattr(gpkg, "_HOP_ENTRIES", 31)
    assert _traced(store, "millesime", where) == ([2021, 2024], False)
    monkeypatch.setattr(gpkg, "_HOP_ENTRIES", 30)
    assert _traced(store, "millesime", where) == ([2021, 2024], True)
    assert _traced(store, "millesime", parse_filter("departement = '40'")) == ([2024], False)


def test_many_values_fall_back_to_the_scan(store: GpkgStore, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gpkg, "_HOP_VALUES", 10)
    values, fell_back = _traced(store, "id", None)
    assert fell_back and values == _scanned(store, "id", None) and len(values) == 70  # ids repeat across millésimes
    assert _traced(store, "id", parse_filter("id = 'OCS2021_0'")) == (["OCS2021_0"], True)  # 70 values to test
    assert _traced(store, "millesime", None) == ([2021, 2024], False)


def test_a_failed_distinct_leaves_no_transaction_open(store: GpkgStore) -> None:
    with pytest.raises(sqlite3.OperationalError, match="no such table"):
        store.distinct(DIFFERENCE, 2154, "millesime_apres", ast.Equal(ast.Attribute("departement"), "33"))
    assert not store._reader().in_transaction
