"""The /map/dashboard page against the `artificialisation` process called by the test itself: the same figures,
breakdown charts and CSV table for a SYBARVAL commune (generated stock 2021 → 2024) and for the real SYBARVAL
flows 2015 → 2018 of an EPCI, and the per-commune rows of `artificialisation-communes`."""

from __future__ import annotations

import pytest
import requests

from .conftest import features, screenshot

pytestmark = pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)

#: Arcachon, one of the three SYBARVAL communes with a generated stock, and its EPCI (COBAS, four communes).
COMMUNE, EPCI = "33009", "243300563"
#: The figures the dashboard shows as cards, as the process names them.
CARDS = ["taux_artificialisation", "surface_artificialisee_ha", "surface_ha", "artificialisation_ha",
         "desartificialisation_ha", "artificialisation_nette_ha", "ecart_coherence_ha", "taux_impermeabilisation",
         "surface_impermeabilisee_ha", "impermeabilisation_ha", "desimpermeabilisation_ha",
         "impermeabilisation_nette_ha"]


def process(server: str, territoire: dict, millesimes: list[int], output: str | None = None) -> requests.Response:
    body = {"inputs": {"territoire": territoire, "millesimes": millesimes,
                       **({"detail_communes": True} if output == "tableau" else {})},
            **({"outputs": {output: {}}} if output else {})}
    response = requests.post(f"{server}/processes/artificialisation/execution", json=body, timeout=120)
    assert response.status_code == 200, response.text[:300]
    return response


def open_dashboard(page, server: str, query: str) -> None:
    page.goto(f"{server}/map/dashboard?{query}")
    page.wait_for_selector("body[data-ready=true]", timeout=60_000)


def cards(page) -> dict[str, float | None]:
    """The raw value behind each card (its `data-value`; empty when the page says 'not computed')."""
    raw = page.locator(".card").evaluate_all("cards => cards.map(c => [c.dataset.field, c.dataset.value])")
    return {field: float(value) if value else None for field, value in raw}


def chart(page, canvas: str) -> dict:
    """Labels and datasets of one Chart.js chart of the page."""
    return page.evaluate("""id => { const c = window.ocsgeCharts[id];
        return c ? { labels: c.data.labels, data: c.data.datasets.map(d => d.data) } : null; }""", canvas)


def test_commune_dashboard_shows_the_figures_of_the_process(page, server: str) -> None:
    open_dashboard(page, server, f"communes={COMMUNE}")
    screenshot(page, "dashboard-commune")
    pair = [int(y) for y in page.locator("#pair").input_value().split(",")]
    assert pair == [2021, 2024], "the latest pair is shown first"
    expected = process(server, {"communes": [COMMUNE]}, pair).json()["territoires"][0]
    assert "Arcachon" in page.locator("#name").inner_text()
    shown = cards(page)
    assert set(shown) == set(CARDS)
    for field in CARDS:
        assert expected[field] is not None and shown[field] == pytest.approx(expected[field], rel=1e-12), field
    # the rate as a French reader sees it, three decimals
    rate = f"{expected['taux_artificialisation']:.3f}".replace(".", ",")
    assert rate in page.locator(".card[data-field=taux_artificialisation]").inner_text()

    flows = chart(page, "chart-flows")
    assert flows["data"][0] == pytest.approx([expected["artificialisation_ha"], expected["desartificialisation_ha"],
                                              expected["artificialisation_nette_ha"]])
    sealing = chart(page, "chart-imper-flows")
    assert sealing["data"][0] == pytest.approx([expected["impermeabilisation_ha"], expected["desimpermeabilisation_ha"],
                                                expected["impermeabilisation_nette_ha"]])
    stock = expected["stocks"][str(pair[1])]
    for canvas, split in (("chart-categories", "par_categorie"), ("chart-cs", "par_couverture"),
                          ("chart-us", "par_usage")):
        drawn = chart(page, canvas)
        codes = [label.split()[0].rstrip("°") for label in drawn["labels"]]
        present = {code: v for code, v in stock[split].items() if v["surface_ha"] > 0}
        assert codes == list(present), canvas
        assert drawn["data"][0] == pytest.approx([v["surface_ha"] for v in present.values()]), canvas
        assert drawn["data"][1] == pytest.approx([v["surface_artificialisee_ha"] for v in present.values()]), canvas
        assert drawn["data"][2] == pytest.approx([v["surface_impermeabilisee_ha"] for v in present.values()]), canvas

    # The per-commune row comes from the `artificialisation-communes` collection, which holds the same rate.
    [row] = features(server, "artificialisation-communes", skipGeometry="true", code_insee=COMMUNE,
                     millesime_avant=pair[0], millesime_apres=pair[1])
    # Float rounding only: the collection's rows are computed for every commune at once (measured: 1e-14).
    assert row["properties"]["taux_artificialisation"] == pytest.approx(expected["taux_artificialisation"], rel=1e-12)
    assert rate in page.locator(f"#communes tr[data-code='{COMMUNE}']").inner_text()


def test_real_sybarval_flows_of_an_epci_without_stock(page, server: str) -> None:
    open_dashboard(page, server, f"epci={EPCI}&millesimes=2015,2018")
    screenshot(page, "dashboard-epci-2015-2018")
    expected = process(server, {"epci": EPCI}, [2015, 2018]).json()["territoires"][0]
    shown = cards(page)
    assert expected["artificialisation_ha"] > 10, "the real SYBARVAL flows of the COBAS"
    for field in ("artificialisation_ha", "desartificialisation_ha", "artificialisation_nette_ha", "surface_ha"):
        assert shown[field] == pytest.approx(expected[field], rel=1e-12), field
    # No stock for 2018: the page says so rather than showing a rate or empty charts.
    assert expected["taux_artificialisation"] is None and shown["taux_artificialisation"] is None
    assert "non calculé" in page.locator(".card[data-field=taux_artificialisation]").inner_text()
    assert page.locator("#status").inner_text().startswith("Stock non calculé")
    assert not page.locator("#chart-cs").is_visible()
    assert page.locator("#communes tr[data-code]").count() == 4


def test_csv_download_is_the_table_of_the_process(page, server: str) -> None:
    open_dashboard(page, server, f"communes={COMMUNE}")
    with page.expect_download(timeout=60_000) as download:
        page.click("#csv")
    path = download.value.path()
    assert download.value.suggested_filename.endswith(".csv")
    expected = process(server, {"communes": [COMMUNE]}, [2021, 2024], "tableau")
    assert path.read_bytes() == expected.content
    assert COMMUNE in expected.text
