"""The stylesheets each collection links, drawn by the clients users open them in: QGIS (Debian's 3.22, offscreen,
through ``tests/qgis_client.py``) and MapLibre (Chromium, on the /map page), on both stores. Each linked style paints
the nomenclature's colours of the codes present (not the grey of an unconverted expression) and shows its own
millésime only."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request

import pytest
import shapely.geometry

from ocsge_processes import nomenclature
from ocsge_processes.styles import UNKNOWN_COLOR

from .. import qgis_client
from .conftest import SCREENSHOTS, features, palette_pixels, screenshot

COLLECTION = "ocsge-occupation-sol"
#: Arcachon and La Teste-de-Buch, where the demo store holds both generated millésimes (lon/lat).
BBOX = (-1.19, 44.63, -1.13, 44.67)
#: The styles of the collection.
STYLE_NAMES = ("couverture", "usage")
#: The nomenclature of each coded field that a style colours.
NOMENCLATURES = {
    "code_cs": nomenclature.couverture(),
    "code_cs_apres": nomenclature.couverture(),
    "code_us": nomenclature.usage(),
}
#: A code counts as painted from this many pixels: a 250 m cell of the generated data covers about 700 pixels of a
#: 512-pixel render of the box, while colours blended at edges (antialiasing, outlines) rarely repeat that often.
MIN_PIXELS = 50
#: A value covering this share of the box must show: 1 % of a 512-pixel render is some 2 600 pixels, far more than
#: the few hundred that antialiased edges and outlines can take from a patch.
LARGE_SHARE = 0.01


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=60) as response:
        return json.load(response)


def stylesheets(server: str, collection: str = COLLECTION) -> list[dict]:
    """The collection's ``stylesheet`` links, in the order it lists them."""
    links = get_json(f"{server}/collections/{collection}?f=json")["links"]
    return [link for link in links if link["rel"] == "stylesheet"]


def style_name(href: str) -> str:
    return urllib.parse.urlsplit(href).path.rsplit("/", 1)[1].removesuffix(".json")


def port(server: str) -> str:
    """The server's port, which tells the two stores' renders apart in the screenshots folder."""
    return server.rsplit(":", 1)[1]


def year_of(href: str) -> int:
    return int(urllib.parse.parse_qs(urllib.parse.urlsplit(href).query)["millesime"][0])


def palette(codes: nomenclature.Nomenclature) -> dict[str, str]:
    return {code: codes.get(code).color for code in codes.leaves()}


@pytest.fixture(scope="module")
def qgis() -> None:
    qgis_client.require_qgis()


def test_collection_links_a_style_per_millesime_the_newest_first(server: str) -> None:
    links = stylesheets(server)
    years = sorted({int(y) for y in get_json(f"{server}/map/settings.json")["millesimes"][COLLECTION]}, reverse=True)
    assert len(years) >= 2, "the demo store holds two millésimes"
    for name in STYLE_NAMES:
        mine = [link for link in links if style_name(link["href"]) == name]
        assert [year_of(link["href"]) for link in mine] == years
        assert "par défaut" in mine[0]["title"] and all("par défaut" not in link["title"] for link in mine[1:])
        for link in mine:
            style = get_json(link["href"])
            assert style["metadata"]["ocsge:millesimes"] == {"millesime": year_of(link["href"])}


@pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
@pytest.mark.parametrize(
    ("query", "status", "says"),
    [
        ("millesime=deux-mille", 400, "millesime='deux-mille' is not a year"),
        ("millesime=2024&annee=2021", 400, "unknown parameter 'annee'"),
        ("millesime_apres=2024", 400, "allowed: millesime"),
    ],
)
def test_a_bad_style_millesime_is_answered_with_the_reason(server: str, query: str, status: int, says: str) -> None:
    try:
        urllib.request.urlopen(f"{server}/map/styles/couverture.json?{query}", timeout=60)
    except urllib.error.HTTPError as error:
        body = json.load(error)
        assert error.code == status and error.headers["Content-Type"] == "application/json"
        assert body["code"] == "InvalidRequest" and says in body["description"], body
    else:
        pytest.fail(f"{query} was accepted")


def legend_palette(legend: dict) -> set[str]:
    """Every colour the style may paint but its fallback: the nomenclature's (each code, leaf or not) or the
    classes'."""
    if legend["kind"] == "codes":
        return {code.color for code in NOMENCLATURES[legend["field"]].codes.values()}
    return {item["color"] for item in legend["items"]}


def colour_shares(server: str, collection: str, legend: dict, chosen: dict[str, int]) -> dict[str, float]:
    """The share of the box that the features of millésime ``chosen`` cover, by the colour the legend gives them."""
    box = shapely.geometry.box(*BBOX)
    found = features(server, collection, bbox=",".join(map(str, BBOX)), properties=legend["field"], **chosen)
    shares: dict[str, float] = {}
    for feature in found:
        colour = legend_colour(legend, feature["properties"].get(legend["field"]))
        assert colour, f"{feature['properties']} has no colour in the legend"
        area = shapely.geometry.shape(feature["geometry"]).intersection(box).area / box.area
        shares[colour] = shares.get(colour, 0) + area
    return shares


def legend_colour(legend: dict, value: object) -> str | None:
    """The colour ``value`` of the legend's field has: a code's in its nomenclature, a rate's class's."""
    if legend["kind"] == "codes":
        codes = NOMENCLATURES[legend["field"]]
        return codes.get(str(value)).color if value in codes.codes else None
    for item in legend["items"]:
        if item["min"] is None:
            if value is None:
                return item["color"]
        elif value is not None and item["min"] <= value and (value < item["max"] or item["max"] == 100):
            return item["color"]
    return None


@pytest.mark.parametrize("collection", ["ocsge-occupation-sol", "ocsge-difference", "artificialisation-communes"])
def test_qgis_paints_each_linked_style_in_its_legend_colours(qgis: None, server: str, collection: str) -> None:
    """Every style the collection links, loaded in QGIS from its link: the colours painted are the legend's (the
    nomenclature's, or the classes') for what the features of its millésime hold in the box, and never the grey of
    an expression QGIS could not convert."""
    links = stylesheets(server, collection)
    assert links, f"{collection} links no style"
    for link in links:
        style = get_json(link["href"])
        chosen, legend = style["metadata"]["ocsge:millesimes"], style["metadata"]["ocsge:legend"]
        assert chosen, f"{link['href']} is a style of every millésime"
        png = SCREENSHOTS / f"qgis-{style_name(link['href'])}-{'-'.join(map(str, chosen.values()))}-{port(server)}.png"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        drawn = qgis_client.render(style["sources"][collection]["tiles"][0], link["href"], BBOX, png=png)
        shares = colour_shares(server, collection, legend, chosen)
        painted = {colour for colour in legend_palette(legend) if drawn.colours.get(colour, 0) >= MIN_PIXELS}
        assert drawn.colours.get(UNKNOWN_COLOR, 0) == 0, f"QGIS painted the fallback grey: {drawn.warnings}"
        assert painted, f"no legend colour in QGIS's render of {link['href']} ({png}): {drawn.warnings}"
        assert painted <= set(shares), f"{link['href']}: colours of values absent from its millésime"
        # the colour covering most of the box shows, and so does any covering a good share of it
        large = {colour for colour, share in shares.items() if share >= LARGE_SHARE} | {max(shares, key=shares.get)}
        assert large <= painted, f"{link['href']}: {large - painted} not painted ({png})"
        for expression in drawn.filters:  # QGIS kept the style's millésime
            assert all(f'"{field}" IS {year}' in expression for field, year in chosen.items()), expression


@pytest.mark.parametrize(("name", "field"), [("couverture", "code_cs"), ("usage", "code_us")])
def test_qgis_draws_the_millesime_of_the_style_only(qgis: None, server: str, name: str, field: str) -> None:
    """The style of a millésime, put on the tiles of every millésime (as a QGIS user who typed the collection's tile
    URL would), draws what it draws on the tiles of its own millésime: its filter leaves the other one out. For
    each style of the collection, with the colours of the nomenclature of the field it colours."""
    links = [link for link in stylesheets(server) if style_name(link["href"]) == name]
    colours = palette(NOMENCLATURES[field])
    drawn = {}
    for link in links:
        style = get_json(link["href"])
        own = style["sources"][COLLECTION]["tiles"][0]
        every = own.split("&millesime=")[0]
        assert "millesime" not in every
        alone = qgis_client.render(own, link["href"], BBOX).painted(colours)
        mixed = qgis_client.render(every, link["href"], BBOX).painted(colours)
        assert mixed == alone, f"{link['href']} over the tiles of every millésime"
        drawn[year_of(link["href"])] = alone
    assert len(drawn) >= 2 and len({json.dumps(d, sort_keys=True) for d in drawn.values()}) == len(drawn), (
        "each millésime draws a different map"
    )


def test_maplibre_draws_each_linked_style_with_its_millesime_only(page, server: str) -> None:
    """The /map page's MapLibre given each linked stylesheet as it is (``setStyle``): the tiles it asks carry the
    style's millésime, the features it renders are of that millésime, in the nomenclature's colours."""
    colours = palette(nomenclature.couverture())
    page.goto(f"{server}/map#14/44.65/-1.16")
    page.wait_for_selector("#map[data-ready=true]", timeout=60_000)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url) if "/tiles/" in request.url else None)
    for link in [link for link in stylesheets(server) if style_name(link["href"]) == "couverture"]:
        year = year_of(link["href"])
        requested.clear()
        page.evaluate(
            """async (href) => {
                const map = window.ocsgeMap;
                map.setStyle(href, { diff: false });
                await new Promise((done) => map.once("idle", done));
            }""",
            link["href"],
        )
        page.wait_for_function("() => window.ocsgeMap.loaded() && window.ocsgeMap.areTilesLoaded()", timeout=60_000)
        rendered = page.evaluate(
            "() => window.ocsgeMap.queryRenderedFeatures({ layers: ['couverture-fill'] })"
            ".map((f) => [f.properties.millesime, f.properties.code_cs])"
        )
        assert rendered, f"MapLibre drew nothing with {link['href']}"
        assert {millesime for millesime, _ in rendered} == {year}
        assert requested and all(f"millesime={year}" in url for url in requested), requested[:3]
        painted = {
            code: n
            for code, n in palette_pixels(screenshot(page, f"maplibre-couverture-{year}").read_bytes()).items()
            if n >= MIN_PIXELS
        }
        assert painted and set(painted) <= {code for _, code in rendered}, (painted, colours)
