"""Every /map page laid out at a laptop size (1400 × 900) and on a phone (390 × 844, mobile emulation): a full-page
screenshot of each goes to build/test-artifacts/screenshots as <page>-<size>.png for a person to look at, and the
layout faults a person would see are checked in the browser: a page wider than the phone, controls running off the
window or over each other, text spilling out of its box, chart legends whose colours are not those of the bars, job
ids and progress broken over lines, a cramped WMS field, a dashboard with nothing to click before a territory is
chosen."""

from __future__ import annotations

from pathlib import Path

import pyproj
import pytest
import requests

from .. import services
from .conftest import SIZES, features, screenshot

pytestmark = pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)

#: The controls and text boxes that must lie inside the window (tables scroll inside their own box on a phone).
CONTROLS = (
    ".topbar a, .topbar button, main h1, main h2, main label, main input, main select, main button, main a, "
    ".card, .examples li, .maplibregl-ctrl-group, .maplibregl-ctrl-attrib"
)
#: Blocks whose text must fit their box (a card's figure, a nav link, a button, a label).
TEXT_BOXES = ".card .name, .card .value, .topbar a, main button, main label, .examples a span"
#: Smallest readable text of the pages, in CSS pixels (MapLibre's own scale bar, at 10 px, is not ours to size).
MIN_FONT_PX = 11
#: The WMS URL field of the segmentation page holds a Géoplateforme URL (about 35 characters) without scrolling.
MIN_WMS_FIELD_PX = 280

#: The in-page checks (JavaScript functions): LAYOUT_FAULTS lists the faults of a page, ON_ONE_LINE tells whether an
#: element's text and progress bars sit on one line, FIRST_POLYGON_POINT finds a polygon to click on the map.
LAYOUT_FAULTS, ON_ONE_LINE, FIRST_POLYGON_POINT = (
    # each function without the comment lines above it
    chunk[chunk.index("\n(") + 1 :]
    for chunk in ("\n" + Path(__file__).with_name("layout.js").read_text(encoding="utf-8")).split("\n//--\n")
)


def check_layout(page, size: str) -> None:
    """The window is the size asked for and the page shows none of the faults of LAYOUT_FAULTS."""
    assert page.evaluate("innerWidth") == SIZES[size]["viewport"]["width"], "the page widened the mobile viewport"
    faults = page.evaluate(LAYOUT_FAULTS, [CONTROLS, TEXT_BOXES, MIN_FONT_PX])
    assert not faults, faults


def wait_ready(page, selector: str = "body[data-ready=true]") -> None:
    page.wait_for_selector(selector, timeout=60_000)


def test_map(sized_page, size: str, server: str) -> None:
    page = sized_page
    page.goto(f"{server}/map/")
    wait_ready(page, "#map[data-ready=true]")
    page.wait_for_function("() => window.ocsgeMap.loaded() && window.ocsgeMap.areTilesLoaded()", timeout=60_000)
    screenshot(page, f"map-{size}", full_page=True)
    check_layout(page, size)
    # the map keeps a usable share of the window next to (desktop) or above (phone) its panel
    box = page.locator("#map").bounding_box()
    viewport = SIZES[size]["viewport"]
    assert box["width"] >= 0.6 * viewport["width"] and box["height"] >= 0.5 * viewport["height"], box
    assert page.locator("#legend li").count() > 0
    assert page.locator("nav a[aria-current=page]").inner_text() == "Carte"
    # a polygon's attributes open in a popup that stays inside the window
    point = page.evaluate(FIRST_POLYGON_POINT)
    assert point, "no polygon drawn in the map"
    page.mouse.click(box["x"] + point[0], box["y"] + point[1])
    popup = page.locator(".maplibregl-popup")
    popup.wait_for(timeout=10_000)
    shape = popup.bounding_box()
    assert shape["x"] >= 0 and shape["x"] + shape["width"] <= viewport["width"], shape
    check_layout(page, size)


def chart_colours(page) -> dict:
    """For each chart of the dashboard with a legend: per series, the colour of its legend swatch and the colours
    the bars were drawn with (as Chart.js resolved them)."""
    return page.evaluate("""() => Object.fromEntries(Object.entries(window.ocsgeCharts)
      .filter(([, chart]) => chart.options.plugins.legend.display && chart.canvas.offsetParent)
      .map(([id, chart]) => [id, chart.legend.legendItems.map((item) => ({
        legend: item.fillStyle,
        bars: [...new Set(chart.getDatasetMeta(item.datasetIndex).data.map((bar) => bar.options.backgroundColor))],
      }))]))""")


def test_dashboard_of_a_territory(sized_page, size: str, server: str) -> None:
    page = sized_page
    page.goto(f"{server}/map/dashboard?communes=33009")
    wait_ready(page)
    screenshot(page, f"dashboard-territory-{size}", full_page=True)
    check_layout(page, size)
    colours = chart_colours(page)
    assert {"chart-categories", "chart-cs", "chart-us"} <= set(colours), colours
    for chart, series in colours.items():
        # each breakdown's series: the whole area, its artificialised part, its sealed part (imperméabilisation)
        assert len(series) == 3, (chart, series)
        for entry in series:
            assert entry["bars"] == [entry["legend"]], f"{chart}: legend {entry['legend']}, bars {entry['bars']}"
    # every axis label of the breakdown charts is drawn whole (a phone's narrow chart keeps the codes only)
    cut = page.evaluate("""() => ['chart-categories', 'chart-cs', 'chart-us'].map((id) => window.ocsgeCharts[id])
      .filter((chart) => chart.canvas.offsetParent && chart.scales.y._labelSizes.widest.width > chart.scales.y.width)
      .map((chart) => chart.canvas.id)""")
    assert not cut, f"axis labels cut: {cut}"
    # the per-commune table fits the window (a phone shows each commune as a card)
    table = page.locator("#communes").bounding_box()
    assert table["x"] >= 0 and table["x"] + table["width"] <= SIZES[size]["viewport"]["width"], table


def test_dashboard_with_no_territory_shows_an_overview_and_examples_to_open(sized_page, size: str, server: str) -> None:
    page = sized_page
    page.goto(f"{server}/map/dashboard")
    wait_ready(page)
    screenshot(page, f"dashboard-empty-{size}", full_page=True)
    check_layout(page, size)
    before, after = (int(y) for y in page.locator("#pair").input_value().split(","))
    rows = [
        f["properties"]
        for f in features(
            server, "artificialisation-communes", skipGeometry="true", millesime_avant=before, millesime_apres=after
        )
    ]
    assert rows, "the demo store holds per-commune indicators for the latest pair"
    # the département's overview: the sums of its communes as the features API gives them
    departement = rows[0]["departement"]
    own = [r for r in rows if r["departement"] == departement]
    overview = page.locator(f".overview[data-departement='{departement}']")
    assert f"{len(own)} communes" in overview.locator("h2").inner_text()
    shown = dict(overview.locator(".card").evaluate_all("cards => cards.map(c => [c.dataset.field, c.dataset.value])"))
    for field in (
        "surface_ha",
        "surface_artificialisee_ha",
        "artificialisation_ha",
        "desartificialisation_ha",
        "artificialisation_nette_ha",
        "ecart_coherence_ha",
    ):
        values = [r[field] for r in own]
        if None in values:  # one commune without the figure: the département has none either
            assert shown[field] == "", field
        else:  # float sums in another order: equal to the last bits
            assert float(shown[field]) == pytest.approx(sum(values), rel=1e-9), field
    if shown["surface_artificialisee_ha"]:
        rate = 100 * float(shown["surface_artificialisee_ha"]) / float(shown["surface_ha"])
        assert float(shown["taux_artificialisation"]) == pytest.approx(rate, rel=1e-9)
    else:
        assert shown["taux_artificialisation"] == ""
    # the examples start with the commune that artificialised most; clicking it loads its dashboard
    top = max((r for r in rows if r["artificialisation_ha"] is not None), key=lambda r: r["artificialisation_ha"])
    examples = page.locator(".examples a")
    assert examples.count() >= 2
    first = examples.first
    assert top["code_insee"] in first.inner_text() and first.is_visible()
    with page.expect_navigation():
        first.click()
    wait_ready(page)
    assert f"communes={top['code_insee']}" in page.url
    assert top["nom"] in page.locator("#name").inner_text()
    # 7 artificialisation cards (rate, stock, area, the three flows, coherence gap) and 5 imperméabilisation cards
    assert page.locator("#result .card").count() == 12 and page.locator("#empty").is_hidden()


def test_segmentation(sized_page, size: str, server: str, wms: str) -> None:
    page = sized_page
    lng, lat = pyproj.Transformer.from_crs(2154, 4326, always_xy=True).transform(770575.0, 6277575.0)
    page.goto(f"{server}/map/segmentation#18/{lat:.6f}/{lng:.6f}")
    wait_ready(page)
    page.fill("#wms", wms)
    page.dispatch_event("#wms", "change")
    page.wait_for_function(
        "() => window.ocsgeMap.isSourceLoaded('ortho') && window.ocsgeMap.areTilesLoaded()", timeout=60_000
    )
    screenshot(page, f"segmentation-{size}", full_page=True)
    check_layout(page, size)
    field = page.locator("#wms").bounding_box()
    assert field["width"] >= MIN_WMS_FIELD_PX, field
    value = page.locator("#wms").evaluate("el => [el.scrollWidth, el.clientWidth]")
    assert value[0] <= value[1], f"the WMS URL scrolls inside its field: {value}"
    assert page.locator("#zoom-hint").is_hidden(), "zoomed in enough for the ortho: no hint"
    page.evaluate("window.ocsgeMap.jumpTo({ zoom: 10 })")
    page.wait_for_selector("#zoom-hint", state="visible")


def test_jobs(sized_page, size: str, server: str) -> None:
    page = sized_page
    response = requests.post(
        f"{server}/processes/artificialisation/execution",
        headers={"Prefer": "respond-async"},
        json={"inputs": {"territoire": {"communes": ["33009"]}, "millesimes": [2021, 2024]}},
        timeout=60,
    )
    assert response.status_code == 201, response.text[:300]
    job = response.json()["jobID"]
    assert services.wait_for_job(server, job)["status"] == "successful"
    # a failed job whose message holds a long unbreakable word (the URL it refused) must wrap inside its card
    refused = requests.post(
        f"{server}/processes/artificialisation/execution",
        headers={"Prefer": "respond-async"},
        json={"inputs": {"territoire": {"collection": f"http://127.0.0.2:9/{'x' * 60}/collections/communes"}}},
        timeout=60,
    )
    assert refused.status_code == 201, refused.text[:300]
    assert services.wait_for_job(server, refused.json()["jobID"])["status"] == "failed"
    page.goto(f"{server}/map/jobs")
    wait_ready(page)
    page.wait_for_selector(f"tr[data-job='{job}']")
    page.wait_for_selector(f"tr[data-job='{refused.json()['jobID']}']")
    screenshot(page, f"jobs-{size}", full_page=True)
    check_layout(page, size)
    # Every row in one call: the page redraws its table every 2 s, and a cell read after a redraw is detached (no
    # boxes), so checking row by row from here raced with the redraw once the table was long.
    rows = page.locator("tr[data-job]")
    assert rows.count() >= 1
    broken = rows.evaluate_all(
        f"""(rows) => rows.flatMap((row) => ["td.id", "td.progress", "td.started"]
              .filter((cell) => !({ON_ONE_LINE})(row.querySelector(cell)))
              .map((cell) => `${{cell}} of ${{row.dataset.job}}`))"""
    )
    assert not broken, f"broken over lines: {broken}"
    table = page.locator("#jobs").bounding_box()
    assert table["x"] + table["width"] <= SIZES[size]["viewport"]["width"], table
