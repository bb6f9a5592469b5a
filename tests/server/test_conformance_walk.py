"""Every CQL2 conformance class the live server declares, walked operator by operator in CQL2 text and CQL2 JSON
on both stores: both encodings select the same features, and exactly those that Python (shapely for the spatial
predicates) selects from every feature fetched once.

Comparisons follow SQL's three-valued logic, as CQL2 does: a comparison with a null is unknown, NOT unknown is
unknown, and only true selects a feature.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable
from dataclasses import dataclass

import pytest
import requests
import shapely

CQL2 = "http://www.opengis.net/spec/cql2/1.0/conf/"
DIFF = "/collections/ocsge-difference/items"
COMMUNES = "/collections/communes/items"
L93 = "http://www.opengis.net/def/crs/EPSG/0/2154"


@dataclass
class Case:
    conformance: str  # the class, without the CQL2 prefix
    text: str
    document: dict | bool
    expected: Callable[[dict], bool | None]  # on a feature's properties, or on its shapely geometry


def _p(name: str) -> dict:
    return {"property": name}


def _op(op: str, *args: object) -> dict:
    return {"op": op, "args": list(args)}


def _cmp(name: str, test: Callable[[object], bool]) -> Callable[[dict], bool | None]:
    return lambda props: None if props.get(name) is None else test(props[name])


def _not(f: Callable) -> Callable:
    return lambda x: None if f(x) is None else not f(x)


def _and(f: Callable, g: Callable) -> Callable:
    def both(x):
        a, b = f(x), g(x)
        return False if a is False or b is False else (None if a is None or b is None else True)

    return both


def _or(f: Callable, g: Callable) -> Callable:
    def either(x):
        a, b = f(x), g(x)
        return True if a or b else (None if a is None or b is None else False)

    return either


def _like(pattern: str, nocase: bool = False) -> Callable[[str], bool]:
    glob = pattern.replace("%", "*").replace("_", "?")
    return (
        (lambda v: fnmatch.fnmatchcase(v.lower(), glob.lower())) if nocase else (lambda v: fnmatch.fnmatchcase(v, glob))
    )


A = (
    "code_cs_apres = 'CS1.1.1.1'",
    _op("=", _p("code_cs_apres"), "CS1.1.1.1"),
    _cmp("code_cs_apres", lambda v: v == "CS1.1.1.1"),
)
B = ("millesime_avant = 2015", _op("=", _p("millesime_avant"), 2015), _cmp("millesime_avant", lambda v: v == 2015))
C = ("code_us_avant = 'US5'", _op("=", _p("code_us_avant"), "US5"), _cmp("code_us_avant", lambda v: v == "US5"))


def attribute_cases() -> list[Case]:
    """Cases on the properties of ocsge-difference (real SYBARVAL changes and generated ones, some nulls)."""

    def simple(cls: str, text: str, op: str, name: str, value: object, test: Callable) -> Case:
        return Case(cls, text, _op(op, _p(name), value), _cmp(name, test))

    return [
        simple(
            "basic-cql2", "code_cs_apres = 'CS1.1.1.1'", "=", "code_cs_apres", "CS1.1.1.1", lambda v: v == "CS1.1.1.1"
        ),
        simple(
            "basic-cql2", "code_cs_apres <> 'CS1.1.1.1'", "<>", "code_cs_apres", "CS1.1.1.1", lambda v: v != "CS1.1.1.1"
        ),
        simple("basic-cql2", "millesime_avant < 2018", "<", "millesime_avant", 2018, lambda v: v < 2018),
        simple("basic-cql2", "millesime_avant <= 2015", "<=", "millesime_avant", 2015, lambda v: v <= 2015),
        simple("basic-cql2", "millesime_apres > 2018", ">", "millesime_apres", 2018, lambda v: v > 2018),
        simple("basic-cql2", "millesime_apres >= 2024", ">=", "millesime_apres", 2024, lambda v: v >= 2024),
        simple("basic-cql2", "code_us_apres < 'US2'", "<", "code_us_apres", "US2", lambda v: v < "US2"),
        Case(
            "basic-cql2",
            "code_cs_avant IS NULL",
            _op("isNull", _p("code_cs_avant")),
            lambda props: props.get("code_cs_avant") is None,
        ),
        Case(
            "basic-cql2",
            "code_cs_avant IS NOT NULL",
            _op("not", _op("isNull", _p("code_cs_avant"))),
            lambda props: props.get("code_cs_avant") is not None,
        ),
        Case("basic-cql2", f"{A[0]} AND {B[0]}", _op("and", A[1], B[1]), _and(A[2], B[2])),
        Case("basic-cql2", f"{A[0]} OR {C[0]}", _op("or", A[1], C[1]), _or(A[2], C[2])),
        Case("basic-cql2", f"NOT ({C[0]})", _op("not", C[1]), _not(C[2])),
        Case("basic-cql2", f"NOT (NOT ({A[0]}))", _op("not", _op("not", A[1])), A[2]),
        Case(
            "basic-cql2",
            f"{A[0]} OR {B[0]} AND {C[0]}",
            _op("or", A[1], _op("and", B[1], C[1])),
            _or(A[2], _and(B[2], C[2])),
        ),
        Case(
            "basic-cql2",
            f"({A[0]} OR {B[0]}) AND NOT {C[0]}",
            _op("and", _op("or", A[1], B[1]), _op("not", C[1])),
            _and(_or(A[2], B[2]), _not(C[2])),
        ),
        Case("basic-cql2", "TRUE", True, lambda props: True),
        Case("basic-cql2", "FALSE", False, lambda props: False),
        simple(
            "advanced-comparison-operators",
            "code_cs_apres LIKE 'CS1.1%'",
            "like",
            "code_cs_apres",
            "CS1.1%",
            _like("CS1.1%"),
        ),
        simple(
            "advanced-comparison-operators",
            "code_cs_apres LIKE 'CS2._._'",
            "like",
            "code_cs_apres",
            "CS2._._",
            _like("CS2._._"),
        ),
        Case(
            "advanced-comparison-operators",
            "code_cs_apres NOT LIKE 'CS1%'",
            _op("not", _op("like", _p("code_cs_apres"), "CS1%")),
            _not(_cmp("code_cs_apres", _like("CS1%"))),
        ),
        Case(
            "advanced-comparison-operators",
            "millesime_avant BETWEEN 2014 AND 2016",
            _op("between", _p("millesime_avant"), 2014, 2016),
            _cmp("millesime_avant", lambda v: 2014 <= v <= 2016),
        ),
        Case(
            "advanced-comparison-operators",
            "millesime_avant NOT BETWEEN 2014 AND 2016",
            _op("not", _op("between", _p("millesime_avant"), 2014, 2016)),
            _cmp("millesime_avant", lambda v: not 2014 <= v <= 2016),
        ),
        Case(
            "advanced-comparison-operators",
            "code_us_apres IN ('US2', 'US5', 'US9')",
            _op("in", _p("code_us_apres"), ["US2", "US5", "US9"]),
            _cmp("code_us_apres", lambda v: v in ("US2", "US5", "US9")),
        ),
        Case(
            "advanced-comparison-operators",
            "code_us_apres NOT IN ('US2', 'US5')",
            _op("not", _op("in", _p("code_us_apres"), ["US2", "US5"])),
            _cmp("code_us_apres", lambda v: v not in ("US2", "US5")),
        ),
        Case(
            "case-insensitive-comparison",
            "CASEI(code_us_apres) = CASEI('us5')",
            _op("=", _op("casei", _p("code_us_apres")), _op("casei", "us5")),
            _cmp("code_us_apres", lambda v: v.lower() == "us5"),
        ),
        Case(
            "case-insensitive-comparison",
            "CASEI(code_cs_apres) LIKE CASEI('cs1.1.1%')",
            _op("like", _op("casei", _p("code_cs_apres")), _op("casei", "cs1.1.1%")),
            _cmp("code_cs_apres", _like("cs1.1.1%", nocase=True)),
        ),
        Case(
            "case-insensitive-comparison",
            "CASEI(code_us_avant) IN (CASEI('us1.1'), CASEI('Us5'))",
            _op("in", _op("casei", _p("code_us_avant")), [_op("casei", "us1.1"), _op("casei", "Us5")]),
            _cmp("code_us_avant", lambda v: v.lower() in ("us1.1", "us5")),
        ),
    ]


def spatial_cases(communes: list[dict]) -> list[Case]:
    """Cases on the real commune contours, with literals in Lambert-93 built from them (no reprojection, so the
    expected answer is exact)."""
    shapes = [shapely.geometry.shape(f["geometry"]) for f in communes]
    x0, y0, x1, y1 = shapely.union_all(shapes).bounds
    w, h = x1 - x0, y1 - y0
    centre = shapely.box(x0 + 0.4 * w, y0 + 0.4 * h, x0 + 0.6 * w, y0 + 0.6 * h)
    inside = shapes[0].representative_point()
    line = shapely.LineString([(x0 + 0.1 * w, y0 + 0.2 * h), (x0 + 0.9 * w, y0 + 0.7 * h)])
    smallest = min(shapes, key=lambda s: shapely.get_num_coordinates(s))
    vertex = shapely.Point(shapely.get_coordinates(smallest)[0])
    literals = {
        "point": inside,
        "linestring": line,
        "polygon": centre,
        "multipoint": shapely.MultiPoint([s.representative_point() for s in shapes[1:4]]),
        "multilinestring": shapely.MultiLineString([line, shapely.LineString([(x0, y1), (x1, y0)])]),
        "multipolygon": shapely.MultiPolygon(
            [shapely.box(x0, y0, x0 + 0.2 * w, y0 + 0.2 * h), shapely.box(x1 - 0.2 * w, y1 - 0.2 * h, x1, y1)]
        ),
    }
    cases = [
        _spatial("basic-spatial-functions", "s_intersects", literals["point"]),
        _bbox_case((x0 + 0.3 * w, y0 + 0.3 * h, x0 + 0.5 * w, y0 + 0.5 * h)),
    ]
    cases += [_spatial("basic-spatial-functions-plus", "s_intersects", g) for g in literals.values()]
    cases += [
        _spatial("spatial-functions", "s_intersects", literals["multipolygon"]),
        _spatial("spatial-functions", "s_disjoint", centre),
        _spatial("spatial-functions", "s_contains", inside),
        _spatial("spatial-functions", "s_within", shapely.box(x0 + 0.05 * w, y0 + 0.05 * h, x1, y1)),
        _spatial("spatial-functions", "s_overlaps", centre),
        _spatial("spatial-functions", "s_crosses", line),
        _spatial("spatial-functions", "s_touches", vertex),
        _spatial("spatial-functions", "s_equals", smallest),
    ]
    return cases


def _spatial(cls: str, op: str, literal: shapely.Geometry) -> Case:
    return Case(
        cls,
        f"{op.upper()}(geometry, {literal.wkt})",
        _op(op, _p("geometry"), shapely.geometry.mapping(literal)),
        lambda shape: getattr(shape, op[2:])(literal),
    )


def _bbox_case(box: tuple[float, float, float, float]) -> Case:
    rectangle = shapely.box(*box)
    return Case(
        "basic-spatial-functions",
        f"S_INTERSECTS(geometry, BBOX({', '.join(map(repr, box))}))",
        _op("s_intersects", _p("geometry"), {"bbox": list(box)}),
        lambda shape: shape.intersects(rectangle),
    )


def _all(server: str, path: str, **params) -> list[dict]:
    response = requests.get(server + path, params={"f": "json", "limit": 10_000, **params}, timeout=120)
    assert response.status_code == 200, response.text[:500]
    body = response.json()
    assert body["numberReturned"] == body["numberMatched"] < 10_000, "the walk reads every feature in one page"
    return body["features"]


def _ids(server: str, path: str, case: Case, encoding: str, **params) -> set:
    if encoding == "text":
        query = {"filter": case.text}
    else:
        query = {"filter-lang": "cql2-json", "filter": json.dumps(case.document)}
    return {f["id"] for f in _all(server, path, **params, **query)}


@pytest.fixture(scope="module")
def declared(server: str) -> set[str]:
    classes = requests.get(server + "/conformance", params={"f": "json"}, timeout=30).json()["conformsTo"]
    return {uri[len(CQL2) :] for uri in classes if uri.startswith(CQL2)}


def test_the_walk_covers_every_declared_cql2_class(server: str, declared: set[str]) -> None:
    communes = _all(server, COMMUNES, crs=L93)
    walked = {case.conformance for case in attribute_cases() + spatial_cases(communes)} | {"cql2-text", "cql2-json"}
    assert declared == walked, f"declared, not walked: {declared - walked}; walked, not declared: {walked - declared}"


def test_attribute_operators_in_text_and_json(server: str, declared: set[str]) -> None:
    features = _all(server, DIFF, skipGeometry="true")
    assert any(f["properties"]["code_cs_avant"] is None for f in features), "the data has nulls to test"
    failures = []
    for case in attribute_cases():
        assert case.conformance in declared
        expected = {f["id"] for f in features if case.expected(f["properties"]) is True}
        by_text = _ids(server, DIFF, case, "text", skipGeometry="true")
        by_json = _ids(server, DIFF, case, "json", skipGeometry="true")
        if not by_text == by_json == expected:
            failures.append(f"{case.text}: text {len(by_text)}, json {len(by_json)}, expected {len(expected)}")
    assert not failures, failures
    selective = [
        c for c in attribute_cases() if 0 < sum(c.expected(f["properties"]) is True for f in features) < len(features)
    ]
    assert len(selective) >= len(attribute_cases()) - 3, "nearly every case selects some features, not all"


def test_spatial_operators_in_text_and_json(server: str, declared: set[str]) -> None:
    communes = _all(server, COMMUNES, crs=L93)
    failures, selective = [], 0
    for case in spatial_cases(communes):
        assert case.conformance in declared
        expected = {f["id"] for f in communes if case.expected(shapely.geometry.shape(f["geometry"]))}
        selective += 0 < len(expected) < len(communes)
        by_text = _ids(server, COMMUNES, case, "text", **{"filter-crs": L93, "skipGeometry": "true"})
        by_json = _ids(server, COMMUNES, case, "json", **{"filter-crs": L93, "skipGeometry": "true"})
        if not by_text == by_json == expected:
            failures.append(
                f"{case.conformance} {case.text[:60]}: text {sorted(by_text)}, json {sorted(by_json)}, "
                f"expected {sorted(expected)}"
            )
    assert not failures, failures
    assert selective >= 12, "the literals select some communes and not others"
