"""The dashboard's territory search finds an EPCI, a SCoT and a région by name (the store's territory table, ingested
by `ocsge ingest-territoires`) and opens their dashboard: Chromium against a live server on the hand-built communes
of ``tests/workflows/territory_data`` (not IGN data), figures computed by hand from their strips."""

from __future__ import annotations

import pytest
import requests

from deploy.services import web_server
from ocsge_processes.stores import open_store

from ..conftest import BIN, SHARED, ocsge
from ..workflows import territory_data, territory_tables
from .conftest import SIZES, screenshot
from .test_layouts import check_layout


@pytest.fixture(scope="module")
def named_server(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A live server (GeoPackage) with the hand-built communes, their per-commune indicators and territory tables."""
    folder = tmp_path_factory.mktemp("named")
    url = str(folder / "named.gpkg")
    store = open_store(url)
    territory_data.load(store)
    store.close()
    ocsge("artificialisation", "--store", url, "--departement", "33,40,974")
    scot = territory_tables.write_scot(folder / "scot.csv")
    ocsge("ingest-territoires", "--store", url, str(territory_tables.write_package(folder / "package")), str(scot))
    with web_server(url, tmp_path_factory.mktemp("named-server"), BIN, OCSGE_DATA_DIR=str(SHARED)) as server:
        yield server


def _search(page, server: str, text: str) -> dict[str, str]:
    """The results of typing ``text`` in the dashboard's search box: link text by kind and code."""
    page.goto(f"{server}/map/dashboard")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    page.fill("#territory", text)
    page.locator("#territory-results a").first.wait_for(timeout=10_000)
    links = page.locator("#territory-results a").evaluate_all(
        "links => links.map(a => [a.dataset.kind + ' ' + a.dataset.code, a.textContent])"
    )
    return dict(links)


def test_the_search_json_offers_named_territories_with_ingested_communes(named_server: str) -> None:
    found = requests.get(f"{named_server}/map/territoires.json", params={"q": "cc du"}, timeout=30).json()
    assert found == {"territoires": []}, "the two 'CC du Lac' hold no ingested commune"
    found = requests.get(f"{named_server}/map/territoires.json", params={"q": "landes"}, timeout=30).json()
    assert found["territoires"] == [
        {"kind": "departement", "code": "40", "nom": "Landes"},
        {"kind": "epci", "code": "200000003", "nom": "Communauté de communes des Landes d'Essai"},
    ], "names starting with the text first"
    one = requests.get(f"{named_server}/map/territoires/region/75.json", timeout=30).json()
    assert one == {
        "kind": "region",
        "code": "75",
        "nom": "Nouvelle-Aquitaine",
        "communes": ["33001", "33002", "40001"],
        "departements": ["33", "40"],
    }
    missing = requests.get(f"{named_server}/map/territoires/scot/Inconnu.json", timeout=30)
    assert missing.status_code == 404 and "unknown SCoT 'Inconnu'" in missing.text


def test_an_epci_found_by_name_opens_its_dashboard(page, named_server: str) -> None:
    links = _search(page, named_server, "deux comm")
    example = page.locator(".examples a[href*='epci=200000001'] .title")
    assert example.inner_text() == "EPCI CC des Deux Communes (200000001)", "the empty page's example is named"
    assert links == {"epci 200000001": "EPCI CC des Deux Communes (200000001)"}
    page.click("#territory-results a[data-kind=epci]")
    page.wait_for_url("**/map/dashboard?epci=200000001")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    assert page.locator("#name").inner_text() == "CC des Deux Communes (200000001)"
    assert page.locator(".card[data-field=surface_ha]").get_attribute("data-value") == "150"
    rows = page.locator("#communes tr[data-code]").evaluate_all("rows => rows.map(r => r.dataset.code)")
    assert rows == ["33001", "33002"], "the EPCI's communes, from the territory table"


def test_a_scot_and_a_region_are_found_and_shown(page, named_server: str) -> None:
    assert _search(page, named_server, "val") == {"scot SCOT1": "SCoT SCoT du Val (SCOT1)"}
    assert _search(page, named_server, "nouvelle") == {"region 75": "Région Nouvelle-Aquitaine (75)"}
    page.goto(f"{named_server}/map/dashboard?scot=SCOT1&millesimes=2018,2021")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    cards = dict(page.locator(".card").evaluate_all("cards => cards.map(c => [c.dataset.field, c.dataset.value])"))
    # 33001 at 2018 and 2021, 40001 at its own 1st and 2nd millésimes (2020, 2023): 10 + 20 ha, then 18 + 30 ha
    shown = (cards["surface_ha"], cards["surface_artificialisee_ha"], cards["artificialisation_ha"])
    assert shown == ("200", "48", "18")
    rows = page.locator("#communes tr[data-code]").evaluate_all("rows => rows.map(r => r.dataset.code)")
    assert rows == ["33001"], "40001's per-commune rows are of its own pair (2020-2023)"
    page.goto(f"{named_server}/map/dashboard?region=75&millesimes=2018,2021")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    assert page.locator("#name").inner_text() == "Nouvelle-Aquitaine (75)"


@pytest.mark.parametrize("size", list(SIZES))
def test_the_search_results_lay_out_on_every_size(sized_page, size: str, named_server: str) -> None:
    page = sized_page
    page.goto(f"{named_server}/map/dashboard")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)
    page.fill("#territory", "commun")
    page.locator("#territory-results a[data-kind=epci]").first.wait_for(timeout=10_000)
    screenshot(page, f"dashboard-search-named-{size}", full_page=True)
    check_layout(page, size)
