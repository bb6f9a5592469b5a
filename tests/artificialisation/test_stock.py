"""Stock of hand-built territories: areas, rates, breakdowns, polygons across communes, territories across CRSs."""

from __future__ import annotations

import pytest
from shapely.geometry import box

from ocsge_processes.artificialisation import (
    NOT_CLASSIFIED,
    AreaSplit,
    Territory,
    TerritoryPart,
    aggregate_stocks,
    combine,
    compute_stock,
)
from ocsge_processes.errors import InvalidInputError

from .polygons import layer

FIELD = ("CS2.2.1", "US1.1")
YARD = ("CS1.1.1.2", "US5")


def commune(code: str, geometry: object, epsg: int = 2154) -> Territory:
    return Territory(code, f"Commune {code}", "commune", (TerritoryPart(epsg, geometry),))


#: Commune A is 2 ha, commune B 4 ha; a 1 ha yard straddles their border, half in each.
A, B = commune("A", box(0, 0, 200, 100)), commune("B", box(200, 0, 600, 100))
TWO_COMMUNES = layer([(*FIELD, box(0, 0, 150, 100)), (*YARD, box(150, 0, 250, 100)), (*FIELD, box(250, 0, 600, 100))])


def test_stock_of_a_commune() -> None:
    stock = compute_stock(TWO_COMMUNES, A, method="matrix")
    assert (stock.territoire, stock.methode) == ("A", "matrix")
    assert stock.surface_ha == pytest.approx(2)
    assert stock.surface_artificialisee_ha == pytest.approx(0.5)
    assert stock.taux_artificialisation == pytest.approx(25)
    assert stock.surface_non_classee_ha == 0
    assert stock.par_couverture == {"CS1.1.1.2": AreaSplit(0.5, 0.5, 0.5), "CS2.2.1": AreaSplit(1.5, 0.0, 0.0)}
    assert stock.par_usage == {"US1.1": AreaSplit(1.5, 0.0, 0.0), "US5": AreaSplit(0.5, 0.5, 0.5)}
    assert stock.par_categorie == {"2": AreaSplit(0.5, 0.5, 0.5), "7": AreaSplit(1.5, 0.0, 0.0)}


def test_polygon_across_two_communes_is_split_between_them() -> None:
    stock_a, stock_b = (compute_stock(TWO_COMMUNES, territory, method="matrix") for territory in (A, B))
    assert stock_a.surface_artificialisee_ha == pytest.approx(0.5)
    assert stock_b.surface_artificialisee_ha == pytest.approx(0.5)
    assert stock_b.taux_artificialisation == pytest.approx(12.5)


def test_multi_commune_territory_is_sum_over_sum() -> None:
    pair = combine("AB", "A et B", "epci", [A, B])
    direct = compute_stock(TWO_COMMUNES, pair, method="matrix")
    summed = aggregate_stocks([compute_stock(TWO_COMMUNES, t, method="matrix") for t in (A, B)], "AB")
    assert direct.surface_ha == pytest.approx(6)
    assert direct.surface_artificialisee_ha == pytest.approx(1)
    assert direct.taux_artificialisation == pytest.approx(100 / 6)  # not the mean of 25 % and 12.5 %
    assert summed.taux_artificialisation == pytest.approx(direct.taux_artificialisation)
    assert summed.par_couverture["CS1.1.1.2"] == AreaSplit(pytest.approx(1), pytest.approx(1), pytest.approx(1))
    assert summed.par_categorie.keys() == direct.par_categorie.keys()


def test_territory_across_two_crss_measures_each_part_in_its_own() -> None:
    # 100 ha in Lambert-93 with 10 ha artificial, 20 ha in UTM 20N (Antilles) with 2 ha artificial.
    metropole = box(700000, 6600000, 701000, 6601000)
    antilles = box(650000, 1780000, 650500, 1780400)
    lamb93 = layer(
        [
            (*YARD, box(700000, 6600000, 700200, 6600500)),
            (*FIELD, metropole.difference(box(700000, 6600000, 700200, 6600500))),
        ]
    )
    utm20 = layer(
        [
            (*YARD, box(650000, 1780000, 650100, 1780200)),
            (*FIELD, antilles.difference(box(650000, 1780000, 650100, 1780200))),
        ],
        epsg=5490,
    )
    territory = combine("X", "Deux CRS", "custom", [commune("M", metropole), commune("G", antilles, epsg=5490)])
    stock = compute_stock([utm20, lamb93], territory, method="matrix")
    assert stock.surface_ha == pytest.approx(120)
    assert stock.surface_artificialisee_ha == pytest.approx(12)
    assert stock.taux_artificialisation == pytest.approx(10)


def test_a_crs_of_the_territory_without_layer_is_an_error() -> None:
    territory = combine("X", "Deux CRS", "custom", [A, commune("G", box(650000, 1780000, 650500, 1780400), 5490)])
    with pytest.raises(InvalidInputError, match="EPSG:5490"):
        compute_stock(TWO_COMMUNES, territory, method="matrix")


def test_default_method_is_ign_when_the_artif_field_is_there() -> None:
    # IGN judged the straddling yard non-artificial; the default follows IGN, the matrix does not.
    ign = TWO_COMMUNES.assign(artif=["non artif", "non artif", "non artif"], crit_seuil=[False, True, False])
    assert compute_stock(ign, A).methode == "ign"
    assert compute_stock(ign, A).surface_artificialisee_ha == 0
    assert compute_stock(ign, A, method="matrix").surface_artificialisee_ha == pytest.approx(0.5)


def test_default_method_is_decree_without_the_artif_field() -> None:
    # A 2 000 m² yard in the fields: the matrix counts it, the decree threshold does not.
    whole = commune("C", box(0, 0, 400, 400))
    rows = layer([(*FIELD, box(0, 0, 400, 400).difference(box(100, 100, 140, 150))), (*YARD, box(100, 100, 140, 150))])
    assert compute_stock(rows, whole).methode == "decree"
    assert compute_stock(rows, whole).surface_artificialisee_ha == 0
    assert compute_stock(rows, whole, method="matrix").surface_artificialisee_ha == pytest.approx(0.2)


def test_unclassified_polygons_are_reported_not_guessed() -> None:
    rows = layer([(*FIELD, box(0, 0, 150, 100)), (None, "US5", box(150, 0, 200, 100))])
    stock = compute_stock(rows, A, method="matrix")
    assert stock.surface_non_classee_ha == pytest.approx(0.5)
    assert stock.surface_artificialisee_ha == 0
    assert stock.par_couverture[NOT_CLASSIFIED] == AreaSplit(pytest.approx(0.5), 0.0, 0.0)
    assert list(stock.par_categorie) == ["7", NOT_CLASSIFIED]


def test_unknown_method_and_unexpected_ign_values_are_refused() -> None:
    with pytest.raises(InvalidInputError, match="expected one of ign, decree, matrix"):
        compute_stock(TWO_COMMUNES, A, method="sparte")
    with pytest.raises(InvalidInputError, match="unexpected `artif` values"):
        compute_stock(TWO_COMMUNES.assign(artif="oui"), A)


def test_territory_parts_must_be_projected_polygons() -> None:
    with pytest.raises(InvalidInputError, match="not projected"):
        TerritoryPart(4326, box(0, 0, 1, 1))
    with pytest.raises(InvalidInputError, match="Polygon"):
        TerritoryPart(2154, box(0, 0, 1, 1).boundary)
