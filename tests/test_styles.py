"""The MapLibre styles: every nomenclature leaf coloured once (in the one-element array labels QGIS converts), sound
choropleth classes, a style per millésime that shows that millésime only, valid documents in step with the committed
``styles/`` folder. QGIS and MapLibre drawing them: tests/web/test_styles_qgis.py."""

from __future__ import annotations

import itertools
import json
import re
from pathlib import Path

import pytest

from ocsge_processes import nomenclature
from ocsge_processes.errors import InvalidInputError, UnknownCodeError
from ocsge_processes.layers import LAYERS
from ocsge_processes.styles import (
    ATTRIBUTION,
    BREAKS,
    STYLES,
    artificialisation_style,
    build_style,
    couverture_style,
    difference_style,
    parse_millesimes,
    style_layer,
    usage_style,
)

from .conftest import ROOT, ocsge

#: Style -> (collection, coded field, nomenclature) of the categorical maps.
CODED = {
    "couverture": ("ocsge-occupation-sol", "code_cs", nomenclature.couverture()),
    "usage": ("ocsge-occupation-sol", "code_us", nomenclature.usage()),
    "difference": ("ocsge-difference", "code_cs_apres", nomenclature.couverture()),
    "segmentation": ("ocsge-segmentation", "code_cs", nomenclature.couverture()),
    "segmentation-changement": ("ocsge-segmentation-changement", "code_cs_apres", nomenclature.couverture()),
}
LAYER_TYPES = {"fill", "line"}


def fill_color(style: dict) -> list:
    """The fill-color expression of the style's fill layer."""
    (fill,) = [layer for layer in style["layers"] if layer["type"] == "fill"]
    return fill["paint"]["fill-color"]


@pytest.mark.parametrize("name", list(CODED))
def test_every_code_is_matched_once_with_its_nomenclature_colour(name: str) -> None:
    """Leaves and the levels above them: a delivery coded at a coarser level (SYBARVAL's CS2.1.1) keeps its colour."""
    _collection, field, codes = CODED[name]
    expression = fill_color(build_style(name))
    assert expression[:2] == ["match", ["get", field]]
    arms, fallback = expression[2:-1], expression[-1]
    assert len(arms) % 2 == 0 and isinstance(fallback, str)
    labels, colors = arms[::2], arms[1::2]
    assert all(isinstance(label, list) and len(label) == 1 for label in labels), "QGIS reads one-element arrays only"
    labels = [label[0] for label in labels]
    assert sorted(labels) == sorted(codes.codes), "each code exactly once, nothing else"
    assert set(codes.leaves()) < set(labels)
    assert dict(zip(labels, colors, strict=True)) == {c: codes.get(c).color for c in codes.codes}
    assert fallback not in colors, "a code outside the nomenclature is told apart"


@pytest.mark.parametrize("name", list(CODED))
def test_legend_carries_the_french_labels_of_the_nomenclature(name: str) -> None:
    _collection, field, codes = CODED[name]
    legend = build_style(name)["metadata"]["ocsge:legend"]
    assert legend["field"] == field
    assert [item["code"] for item in legend["items"]] == codes.leaves()
    for item in legend["items"]:
        entry = codes.get(item["code"])
        assert (item["label"], item["short_label"], item["color"]) == (entry.label, entry.short_label, entry.color)


def test_us235_and_its_children_are_all_leaves_of_the_usage_map() -> None:
    """US235 is used when IGN could not tell US2/US3/US5 apart, so it needs a colour beside its children's."""
    labels = [label[0] for label in fill_color(usage_style())[2:-1:2]]
    assert {"US235", "US2", "US3", "US5"} <= set(labels)


def passes(test: list, feature: dict) -> bool:
    """Whether ``feature`` (properties, absent for null as in a vector tile) passes the filter ``test``: the
    operators the styles use, evaluated as MapLibre does (a comparison with a missing value fails)."""
    operator, *args = test
    if operator == "all":
        return all(passes(arg, feature) for arg in args)
    if operator == "!":
        return not passes(args[0], feature)
    if operator == "has":
        return args[0] in feature
    (_, field), value = args
    if field not in feature:
        return False
    compare = {"==": float.__eq__, ">=": float.__ge__, "<": float.__lt__, "<=": float.__le__}[operator]
    return compare(float(feature[field]), float(value))


def test_choropleth_breaks_increase_and_cover_0_to_100() -> None:
    assert BREAKS[0] == 0 and BREAKS[-1] == 100
    assert all(low < high for low, high in itertools.pairwise(BREAKS))
    items = artificialisation_style()["metadata"]["ocsge:legend"]["items"]
    classes = [item for item in items if item["min"] is not None]
    assert [(c["min"], c["max"]) for c in classes] == list(itertools.pairwise(BREAKS))


@pytest.mark.parametrize(
    ("rate", "label"),
    [
        (0, "0 – 5 %"),
        (4.99, "0 – 5 %"),
        (5, "5 – 10 %"),
        (37.5, "20 – 40 %"),
        (60, "60 – 100 %"),
        (100, "60 – 100 %"),
        (None, "Non calculé"),
    ],
)
def test_each_rate_is_painted_by_one_class_layer_in_its_legend_colour(rate: float | None, label: str) -> None:
    """One fill layer per class, chosen by filters (QGIS 3.22 skips `step`): a rate passes exactly one of them."""
    style = artificialisation_style(millesimes={"millesime_avant": 2021, "millesime_apres": 2024})
    feature = {"millesime_avant": 2021, "millesime_apres": 2024}
    if rate is not None:
        feature["taux_artificialisation"] = rate
    fills = [layer for layer in style["layers"] if layer["type"] == "fill"]
    painting = [layer for layer in fills if passes(layer["filter"], feature)]
    (item,) = [i for i in style["metadata"]["ocsge:legend"]["items"] if i["label"] == label]
    assert [layer["paint"]["fill-color"] for layer in painting] == [item["color"]]
    assert not any(passes(layer["filter"], {**feature, "millesime_apres": 2018}) for layer in fills)


def test_choropleth_ramp_darkens_class_by_class() -> None:
    """A sequential palette: each class is darker than the one below it."""
    items = artificialisation_style()["metadata"]["ocsge:legend"]["items"]

    def luminance(color: str) -> float:
        r, g, b = (int(color[i : i + 2], 16) for i in (1, 3, 5))
        return 0.2126 * r + 0.7152 * g + 0.0722 * b

    lums = [luminance(item["color"]) for item in items if item["min"] is not None]
    assert all(a > b for a, b in itertools.pairwise(lums)), lums


@pytest.mark.parametrize("name", list(STYLES))
def test_style_is_a_maplibre_v8_document_on_the_collection(name: str) -> None:
    style = build_style(name)
    assert style["version"] == 8 and style["name"]
    expected = CODED[name][0] if name in CODED else "artificialisation-communes"
    assert style["metadata"]["ocsge:collection"] == expected
    assert list(style["sources"]) == [expected]
    source = style["sources"][expected]
    assert source["type"] == "vector" and source["attribution"] == ATTRIBUTION
    assert source["tiles"] == [
        f"http://127.0.0.1:5000/collections/{expected}/tiles/WebMercatorQuad/{{z}}/{{y}}/{{x}}?f=mvt"
    ]
    ids = [layer["id"] for layer in style["layers"]]
    assert len(ids) == len(set(ids)) and all(ids)
    for layer in style["layers"]:
        assert layer["type"] in LAYER_TYPES
        assert layer["source"] in style["sources"]
        assert layer["source-layer"] == expected and expected in LAYERS


def test_base_url_and_tile_template_are_parameters() -> None:
    style = couverture_style("https://example.org/ocsge/", "{base}/t/{id}/{z}/{x}/{y}.pbf")
    assert style["sources"]["ocsge-occupation-sol"]["tiles"] == [
        "https://example.org/ocsge/t/ocsge-occupation-sol/{z}/{x}/{y}.pbf"
    ]
    assert difference_style("http://h:8080")["sources"]["ocsge-difference"]["tiles"][0].startswith(
        "http://h:8080/collections/ocsge-difference/tiles/"
    )


@pytest.mark.parametrize(
    ("base", "tiles", "message"),
    [
        ("127.0.0.1:5000", "{base}/{z}/{x}/{y}", "must be an http(s) URL"),
        ("ftp://host", "{base}/{z}/{x}/{y}", "must be an http(s) URL"),
        ("http://host?f=json", "{base}/{z}/{x}/{y}", "must be an http(s) URL"),
        ("http://host", "{base}/{z}/{TileRow}/{TileCol}", "lacks {x}, {y}"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(base: str, tiles: str, message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        couverture_style(base, tiles)


def test_unknown_style_lists_the_known_ones() -> None:
    with pytest.raises(UnknownCodeError, match="couverture, usage, difference, artificialisation"):
        build_style("relief")


def test_styles_folder_is_up_to_date(tmp_path: Path) -> None:
    """`ocsge styles` writes exactly the committed files, byte for byte."""
    ocsge("styles", "--out", str(tmp_path))
    fresh = {p.name: p.read_text(encoding="utf-8") for p in tmp_path.glob("*.json")}
    committed = {p.name: p.read_text(encoding="utf-8") for p in (ROOT / "styles").glob("*.json")}
    assert sorted(fresh) == sorted(committed) == sorted(f"{name}.json" for name in STYLES)
    for name, text in committed.items():
        assert text == fresh[name], f"run `ocsge styles` to refresh styles/{name}"
        assert json.loads(text)["version"] == 8


def test_cli_refuses_a_bad_base_url_and_writes_nothing(tmp_path: Path) -> None:
    done = ocsge("styles", "--out", str(tmp_path / "out"), "--base-url", "localhost:5000", check=False)
    assert done.returncode != 0 and "must be an http(s) URL" in done.stderr
    assert not (tmp_path / "out").exists()


#: A millésime of each style's collection, as query parameters and as the style's filter.
ONE_MILLESIME = {
    "couverture": {"millesime": 2021},
    "usage": {"millesime": 2024},
    "difference": {"millesime_avant": 2021, "millesime_apres": 2024},
    "artificialisation": {"millesime_avant": 2015, "millesime_apres": 2018},
}


@pytest.mark.parametrize("name", list(ONE_MILLESIME))  # the styles of collections with millésimes
def test_style_of_one_millesime_asks_the_tiles_and_filters_the_layers_on_it(name: str) -> None:
    chosen = ONE_MILLESIME[name]
    style = build_style(name, millesimes=chosen)
    collection = style["metadata"]["ocsge:collection"]
    tiles = style["sources"][collection]["tiles"][0]
    assert tiles.endswith("?f=mvt&" + "&".join(f"{k}={v}" for k, v in chosen.items()))
    template = build_style(name)
    assert [layer["id"] for layer in style["layers"]] == [layer["id"] for layer in template["layers"]]
    rates = [{"taux_artificialisation": rate} for rate in (0, 12, 100)] + [{}]  # what the class filters read
    for layer, same in zip(style["layers"], template["layers"], strict=True):
        assert "filter" in layer, f"{layer['id']} would draw every millésime"
        for sample in rates:
            mine = {**sample, **chosen}
            assert passes(layer["filter"], mine) == ("filter" not in same or passes(same["filter"], mine))
            for field in chosen:  # another millésime in any one attribute: left out
                assert not passes(layer["filter"], {**mine, field: chosen[field] - 3})
    assert style["metadata"]["ocsge:millesimes"] == chosen
    assert style["name"].endswith(" → ".join(map(str, chosen.values())))
    assert all("millesime" not in json.dumps(layer.get("filter")) for layer in template["layers"])
    assert template["metadata"]["ocsge:millesimes"] == {}
    assert "millesime" not in template["sources"][collection]["tiles"][0]
    # the same drawing otherwise: colours and legend do not depend on the millésime
    assert [layer["paint"] for layer in style["layers"]] == [layer["paint"] for layer in template["layers"]]
    assert style["metadata"]["ocsge:legend"] == template["metadata"]["ocsge:legend"]


def test_tile_template_without_query_gets_one_for_the_millesime() -> None:
    style = couverture_style("https://example.org", "{base}/t/{id}/{z}/{x}/{y}.pbf", {"millesime": 2024})
    assert style["sources"]["ocsge-occupation-sol"]["tiles"] == [
        "https://example.org/t/ocsge-occupation-sol/{z}/{x}/{y}.pbf?millesime=2024"
    ]


@pytest.mark.parametrize(
    ("name", "params", "message"),
    [
        ("couverture", {"millesime": "deux-mille"}, "millesime='deux-mille' is not a year"),
        ("couverture", {"annee": "2021"}, "unknown parameter 'annee'"),
        ("couverture", {"millesime_avant": "2021"}, "allowed: millesime"),
        ("difference", {"millesime_apres": "2024"}, "gives millesime_avant and millesime_apres, not millesime_apres"),
        ("artificialisation", {"millesime": "2024"}, "allowed: millesime_avant, millesime_apres"),
    ],
)
def test_millesime_parameters_are_checked_with_the_reason(name: str, params: dict, message: str) -> None:
    with pytest.raises(InvalidInputError, match=re.escape(message)):
        parse_millesimes(style_layer(name), params)


def test_millesime_parameters_become_years_in_the_order_of_the_fields() -> None:
    chosen = parse_millesimes(style_layer("difference"), {"millesime_apres": "2024", "millesime_avant": " 2021"})
    assert list(chosen.items()) == [("millesime_avant", 2021), ("millesime_apres", 2024)]
    assert parse_millesimes(style_layer("couverture"), {}) == {}


def test_a_style_of_half_a_pair_is_refused() -> None:
    """A change style on millesime_apres alone would still draw several earlier millésimes over each other."""
    with pytest.raises(InvalidInputError, match="gives millesime_avant and millesime_apres"):
        difference_style(millesimes={"millesime_apres": 2024})
