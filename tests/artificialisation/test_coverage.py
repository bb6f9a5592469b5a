"""One measure of area for the stock's coverage and its rate, and a stock message that says the coverage found.

Polygons are integer rectangles, so every area is exact; the only tolerance is the float rounding of m² → ha and of
the ratios (1e-9, far below any published rounding).
"""

from __future__ import annotations

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from ocsge_processes.artificialisation import Territory, TerritoryPart, aggregate_stocks, compute_stock
from ocsge_processes.artificialisation.stock import coverage
from ocsge_processes.layers import COMMUNES, OCCUPATION_SOL, Layer
from ocsge_processes.stores import open_store
from ocsge_processes.workflows.artificialisation import run

from .polygons import layer

FIELD = ("CS2.2.1", "US1.1")
YARD = ("CS1.1.1.2", "US5")
ROUNDING = 1e-9  # float rounding of m² → ha and of the ratios, nothing else

#: A 100 ha commune (1 000 m × 1 000 m) in Lambert-93, inside Gironde.
X, Y = 400_000, 6_400_000
SQUARE = box(X, Y, X + 1000, Y + 1000)


def commune(code: str, geometry: object) -> Territory:
    return Territory(code, f"Commune {code}", "commune", (TerritoryPart(2154, geometry),))


def strip(x0: float, x1: float) -> object:
    """The part of the commune between x0 and x1 metres from its west edge."""
    return box(X + x0, Y, X + x1, Y + 1000)


def test_a_partition_covers_the_territory_and_its_rate_is_artificial_over_territory() -> None:
    stock = compute_stock(
        layer([(*YARD, strip(0, 250)), (*FIELD, strip(250, 1000))]), commune("A", SQUARE), method="matrix"
    )
    assert stock.surface_ha == pytest.approx(100, abs=ROUNDING)
    assert stock.surface_couverte_ha == pytest.approx(100, abs=ROUNDING)
    assert stock.surface_artificialisee_ha == pytest.approx(25, abs=ROUNDING)
    assert stock.taux_artificialisation == pytest.approx(25, abs=ROUNDING)
    assert coverage(stock) == pytest.approx(1, abs=ROUNDING)


def test_overlapping_polygons_count_in_both_terms_of_the_rate() -> None:
    """60 ha of yard and 60 ha of field over a 100 ha commune: they overlap on 20 ha. The old rate divided 60 ha by
    the territory's 100 ha (60 %) while its coverage summed 120 ha; both now use the 120 ha."""
    stock = compute_stock(
        layer([(*YARD, strip(0, 600)), (*FIELD, strip(400, 1000))]), commune("A", SQUARE), method="matrix"
    )
    assert stock.surface_couverte_ha == pytest.approx(120, abs=ROUNDING)
    assert stock.surface_artificialisee_ha == pytest.approx(60, abs=ROUNDING)
    assert stock.taux_artificialisation == pytest.approx(50, abs=ROUNDING)
    assert coverage(stock) == pytest.approx(1.2, abs=ROUNDING)
    assert sum(split.surface_ha for split in stock.par_categorie.values()) == pytest.approx(120, abs=ROUNDING)


def test_a_gap_lowers_the_coverage_not_the_rate() -> None:
    stock = compute_stock(
        layer([(*YARD, strip(0, 100)), (*FIELD, strip(100, 573))]), commune("A", SQUARE), method="matrix"
    )
    assert stock.surface_couverte_ha == pytest.approx(57.3, abs=ROUNDING)
    assert coverage(stock) == pytest.approx(0.573, abs=ROUNDING)
    assert stock.taux_artificialisation == pytest.approx(10 / 57.3 * 100, abs=ROUNDING)


def test_aggregates_are_sums_of_covered_areas() -> None:
    west, east = box(X, Y, X + 500, Y + 1000), box(X + 500, Y, X + 1000, Y + 1000)
    polygons = layer([(*YARD, strip(0, 300)), (*FIELD, strip(200, 500)), (*FIELD, strip(500, 1000))])
    parts = [
        compute_stock(polygons, commune(code, geometry), method="matrix")
        for code, geometry in (("W", west), ("E", east))
    ]
    whole = aggregate_stocks(parts, "WE")
    assert whole.surface_couverte_ha == pytest.approx(110, abs=ROUNDING)  # 50 + 10 overlapping + 50
    assert whole.surface_artificialisee_ha == pytest.approx(30, abs=ROUNDING)
    assert whole.taux_artificialisation == pytest.approx(30 / 110 * 100, abs=ROUNDING)


# -- the stock message of the artificialisation document, from a real GeoPackage store ---------------------------


def frame(target: Layer, rows: list[dict], geometries: list[object]) -> gpd.GeoDataFrame:
    """Rows of ``target`` with every field (absent ones null), as ingest hands them to the store."""
    values = pd.DataFrame(rows)
    data = {name: values[name] if name in values else [None] * len(rows) for name in target.fields}
    return gpd.GeoDataFrame(data, geometry=geometries, crs=2154)


@pytest.fixture
def store(tmp_path):
    """Two communes: 33001 (the square) and 33002 east of it; OCCUPATION_SOL 2018 is given per test."""
    opened = open_store(str(tmp_path / "ocsge.gpkg"))
    opened.replace_slice(
        COMMUNES,
        2154,
        frame(
            COMMUNES,
            [
                {"code_insee": "33001", "nom": "Carré", "departement": "33", "epci": "200000001"},
                {"code_insee": "33002", "nom": "Voisine", "departement": "33", "epci": "200000001"},
            ],
            [SQUARE, box(X + 1000, Y, X + 2000, Y + 1000)],
        ),
        {"departement": "33"},
    )
    return opened


def occupation(store, polygons: list[tuple[str, str, object]]) -> None:
    rows = [
        {"id": f"OS{i}", "code_cs": cs, "code_us": us, "millesime": 2018, "departement": "33"}
        for i, (cs, us, _) in enumerate(polygons)
    ]
    store.replace_slice(
        OCCUPATION_SOL,
        2154,
        frame(OCCUPATION_SOL, rows, [p[2] for p in polygons]),
        {"departement": "33", "millesime": 2018},
    )


def entry(store, code: str) -> dict:
    return run(store, {"communes": [code]}, [2018], "matrix")["territoires"][0]


def test_the_message_says_the_coverage_found(store) -> None:
    occupation(store, [(*YARD, strip(0, 100)), (*FIELD, strip(100, 573))])
    found = entry(store, "33001")
    assert found["stock_message"] == "57.3 % of the territory is covered by OCCUPATION_SOL 2018; a rate needs 98 %"
    assert found["stock_disponible"] is False and found["taux_artificialisation"] is None


def test_a_territory_without_polygons_is_told_so(store) -> None:
    occupation(store, [(*FIELD, box(X + 5000, Y, X + 6000, Y + 1000))])  # 3 km east of commune 33002
    found = entry(store, "33002")
    assert found["stock_message"] == (
        "no OCCUPATION_SOL or ARTIF polygon of millésime 2018 is ingested over the territory; a rate needs 98 %"
    )


def test_overlaps_beyond_the_tolerance_give_no_rate(store) -> None:
    occupation(store, [(*YARD, strip(0, 600)), (*FIELD, strip(400, 1000))])
    found = entry(store, "33001")
    assert found["stock_message"] == (
        "the OCCUPATION_SOL 2018 polygons add up to 120.0 % of the territory: they overlap (ocsge ingest reports "
        "overlaps per layer); a rate needs 98 % to 102 %"
    )
    assert found["taux_artificialisation"] is None


def test_a_covered_territory_gets_its_rate_and_no_message(store) -> None:
    occupation(store, [(*YARD, strip(0, 250)), (*FIELD, strip(250, 1000))])
    found = entry(store, "33001")
    assert "stock_message" not in found
    assert found["taux_artificialisation"] == pytest.approx(25, abs=ROUNDING)
    assert found["stocks"]["2018"]["surface_couverte_ha"] == pytest.approx(100, abs=ROUNDING)
