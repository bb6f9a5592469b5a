"""The /map page: tiles or features drawn in the couverture palette, legend of the classes present, attributes of a
clicked SYBARVAL polygon with their labels, the territory search, the French/English switch, the IGN attribution."""

from __future__ import annotations

import json
import urllib.request

import pytest
import shapely.geometry

from ocsge_processes import nomenclature

from .conftest import features, palette_pixels, screenshot

pytestmark = pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)


#: The two ways the page draws the layer: the server's vector tiles, and features when tiles are not served.
SOURCES = {"tiles": "", "features": "?source=features"}


def open_map(page, server: str, view: str = "", source: str = "tiles") -> None:
    """Open /map (at ``view``, a ``zoom/lat/lng`` hash, if given) and wait until the layer is drawn."""
    page.goto(f"{server}/map{SOURCES[source]}" + (f"#{view}" if view else ""))
    page.wait_for_selector("#map[data-ready=true]", timeout=60_000)
    page.wait_for_function("() => window.ocsgeMap.loaded() && window.ocsgeMap.areTilesLoaded()", timeout=60_000)
    assert page.locator("#map").get_attribute("data-mode") == source


@pytest.mark.parametrize("source", SOURCES)
def test_map_draws_the_couverture_palette_and_lists_the_classes_present(page, server: str, source: str) -> None:
    open_map(page, server, source=source)
    shot = screenshot(page, f"map-couverture-{source}")
    map_box = page.locator("#map").bounding_box()
    png = page.screenshot(clip=map_box)
    painted = {code: n for code, n in palette_pixels(png).items() if n >= 50}
    assert len(painted) >= 2, f"{shot}: fewer than two couverture colours drawn: {painted}"
    legend = page.locator("#legend li").evaluate_all("items => items.map(i => i.dataset.code)")
    assert set(painted) <= set(legend), (painted, legend)
    # Every class listed is one the server holds in the view for that millésime (read through the features API).
    bounds = page.evaluate("() => window.ocsgeMap.getBounds().toArray().flat()")
    year = page.locator("#millesime").input_value()
    held = {f["properties"]["code_cs"] for f in features(
        server, "ocsge-occupation-sol", skipGeometry="true", millesime=year, properties="code_cs",
        bbox=",".join(f"{v:.6f}" for v in bounds))}
    assert set(legend) <= held, (legend, held)
    labels = page.locator("#legend li").all_inner_texts()
    assert any(nomenclature.couverture().label(legend[0]) in text for text in labels)
    assert "IGN" in page.locator(".maplibregl-ctrl-attrib").inner_text()


@pytest.mark.parametrize("source", SOURCES)
def test_click_on_a_sybarval_polygon_shows_its_codes_and_labels(page, server: str, source: str) -> None:
    # Zoomed in on a forest polygon of the store, where polygons are large enough to click.
    forest = features(server, "ocsge-occupation-sol", millesime=2024, code_cs="CS2.1.1.2", first=1)[0]
    inside = shapely.geometry.shape(forest["geometry"]).representative_point()
    open_map(page, server, f"15/{inside.y:.6f}/{inside.x:.6f}", source)
    point = page.evaluate("""() => {
        const map = window.ocsgeMap, canvas = map.getCanvas();
        for (let y = 40; y < canvas.clientHeight; y += 20) for (let x = 40; x < canvas.clientWidth; x += 20) {
          // a point well inside a polygon: the same polygon 4 px around it
          const ids = [[0, 0], [-4, -4], [4, -4], [-4, 4], [4, 4]].map(([dx, dy]) =>
            map.queryRenderedFeatures([x + dx, y + dy], { layers: ["ocs-fill"] })[0]?.properties.id);
          if (ids[0] && ids.every((id) => id === ids[0])) {
            const ll = map.unproject([x, y]); return { x, y, lng: ll.lng, lat: ll.lat };
          }
        }
        return null; }""")
    assert point, "no polygon drawn on the map"
    box = page.locator("#map canvas").bounding_box()
    page.mouse.click(box["x"] + point["x"], box["y"] + point["y"])
    popup = page.locator(".maplibregl-popup-content")
    popup.wait_for(timeout=10_000)
    screenshot(page, f"map-popup-{source}")
    code_cs = popup.locator("tr[data-field=code_cs] code").inner_text()
    code_us = popup.locator("tr[data-field=code_us] code").inner_text()
    assert nomenclature.couverture().label(code_cs) in popup.locator("tr[data-field=code_cs]").inner_text()
    assert nomenclature.usage().label(code_us) in popup.locator("tr[data-field=code_us]").inner_text()
    # The polygon under the click, read from the features API, carries these codes.
    e = 1e-5
    bbox = f"{point['lng'] - e},{point['lat'] - e},{point['lng'] + e},{point['lat'] + e}"
    year = page.locator("#millesime").input_value()
    with urllib.request.urlopen(f"{server}/collections/ocsge-occupation-sol/items?f=json&bbox={bbox}"
                                f"&millesime={year}", timeout=60) as response:
        under = [(f["properties"]["code_cs"], f["properties"]["code_us"]) for f in json.load(response)["features"]]
    assert (code_cs, code_us) in under
    # The communes of the demo store are SYBARVAL's: the clicked point lies in one of them.
    with urllib.request.urlopen(f"{server}/collections/communes/items?f=json&bbox={bbox}&skipGeometry=true",
                                timeout=60) as response:
        communes = [f["properties"]["code_insee"] for f in json.load(response)["features"]]
    assert communes and all(code.startswith("33") for code in communes)


def test_usage_and_millesime_switches_redraw_the_map(page, server: str) -> None:
    open_map(page, server)
    page.select_option("#style", "usage")
    page.wait_for_selector("#map[data-ready=true]", timeout=60_000)
    legend = page.locator("#legend li").evaluate_all("items => items.map(i => i.dataset.code)")
    assert legend and all(code.startswith("US") for code in legend)
    years = page.locator("#millesime option").evaluate_all("options => options.map(o => o.value)")
    assert len(years) >= 2
    page.select_option("#millesime", years[0])
    page.wait_for_selector("#map[data-ready=true]", timeout=60_000)
    screenshot(page, "map-usage-first-millesime")
    assert page.locator("#legend li").count() > 0


def test_search_opens_the_dashboard_of_the_territory(page, server: str) -> None:
    open_map(page, server)
    page.fill("#territory", "arca")
    link = page.locator("#territory-results a[data-code='33009']")
    link.wait_for(timeout=10_000)
    epci = page.locator("#territory-results a[data-kind=epci]")
    departement = page.locator("#territory-results a[data-kind=departement][data-code='33']")
    assert epci.count() == 1 and departement.count() == 1
    link.click()
    page.wait_for_url("**/map/dashboard?communes=33009")


def test_english_is_available_and_kept(page, server: str) -> None:
    open_map(page, server)
    assert page.locator("nav a").first.inner_text() == "Carte"
    page.click("button[data-lang=en]")
    page.wait_for_selector("#map[data-ready=true]", timeout=60_000)
    assert page.locator("nav a").first.inner_text() == "Map"
    page.goto(f"{server}/map/jobs")
    assert page.locator("h1").inner_text() == "Jobs"
