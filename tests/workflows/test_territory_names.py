"""EPCI, SCoT, région and lists of territories: the territory table ingested from hand-built sources and from the
real official geography (npm @etalab/decoupage-administratif, installed by `make web`), resolved against the
hand-built communes of ``territory_data`` and the real Admin Express 2018 communes of Gironde and Gers."""

from __future__ import annotations

from pathlib import Path

import pytest
import shapely

from ocsge_processes.errors import DeliveryError
from ocsge_processes.ingest.territories import ingest_territories, read_territories
from ocsge_processes.stores import open_store
from ocsge_processes.stores.territory_table import read_table
from ocsge_processes.workflows import territory_names
from ocsge_processes.workflows.cost import artificialisation_cost
from ocsge_processes.workflows.territories import UnknownTerritoryError, resolve

from ..conftest import ROOT, SHARED, ocsge
from . import territory_data, territory_tables

PACKAGE = ROOT / "web" / "node_modules" / "@etalab" / "decoupage-administratif"
REAL_COMMUNES = SHARED / "communes-admin-express-2018"


@pytest.fixture
def store(tmp_path: Path):
    """A GeoPackage with the hand-built communes and the hand-built territory tables."""
    opened = open_store(str(tmp_path / "territories.gpkg"))
    territory_data.load(opened)
    package = territory_tables.write_package(tmp_path / "package")
    ingest_territories(opened, [package, territory_tables.write_scot(tmp_path / "scot.csv")])
    yield opened
    opened.close()


def test_the_tables_hold_what_the_sources_say(store) -> None:
    epci = {r.code: r for r in read_table(store, "epci").records}
    assert epci["200000001"].nom == "CC des Deux Communes"
    assert epci["200000001"].communes == ("33001", "33002", "33900"), "33900, delegated commune of 33002, kept"
    regions = {r.code: r.departements for r in read_table(store, "region").records}
    assert regions == {"04": ("974",), "75": ("33", "40")}
    scot = read_table(store, "scot")
    assert scot.source == "table scot.csv"
    assert {r.code: (r.nom, r.communes) for r in scot.records} == {
        "SCOT1": ("SCoT du Val", ("33001", "40001")),
        "SCOT2": ("SCoT Îlien", ("97401",)),
    }
    assert read_table(store, "epci").source == (
        "@etalab/decoupage-administratif 0.0.0-test (INSEE COG, DGCL; Licence Ouverte)"
    )


@pytest.mark.parametrize(
    ("kind", "value", "code"),
    [
        ("epci", "200000001", "200000001"),
        ("epci", "cc des deux communes", "200000001"),
        ("epci", "COMMUNAUTE DE COMMUNES DES LANDES D ESSAI", "200000003"),
        ("epci", "  CA Ile-Reunion test ", "200000002"),
        ("scot", "scot du val", "SCOT1"),
        ("scot", "SCOT2", "SCOT2"),
        ("region", "Nouvelle Aquitaine", "75"),
        ("region", "04", "04"),
        ("departement", "landes", "40"),
        ("departement", "033", "33"),
    ],
)
def test_found_by_code_or_name(store, kind: str, value: str, code: str) -> None:
    assert territory_names.find(store, kind, value).code == code


def test_members_are_the_ingested_communes(store) -> None:
    assert territory_names.members(store, "epci", "CC des Deux Communes") == ["33001", "33002"]
    assert territory_names.members(store, "scot", "SCOT1") == ["33001", "40001"]
    assert territory_names.members(store, "region", "Nouvelle-Aquitaine") == ["33001", "33002", "40001"]
    assert territory_names.members(store, "region", "04") == ["97401"]
    assert territory_names.members(store, "departement", "33") == ["33001", "33002"]
    with pytest.raises(UnknownTerritoryError, match=r"no commune of EPCI 200000004 \(CC du Lac\) is ingested"):
        territory_names.members(store, "epci", "200000004")


def test_memberships_and_listing_for_the_exports(store) -> None:
    assert territory_names.commune_memberships(store, "scot") == {"33001": "SCOT1", "40001": "SCOT1", "97401": "SCOT2"}
    assert territory_names.commune_memberships(store, "region") == {
        "33001": "75",
        "33002": "75",
        "40001": "75",
        "97401": "04",
    }
    epci = territory_names.commune_memberships(store, "epci")
    assert epci == {"33001": "200000001", "33002": "200000001", "40001": "200000003", "97401": "200000002"}
    assert territory_names.listing(store, "region") == {"04": "La Réunion", "75": "Nouvelle-Aquitaine"}


def test_unknown_or_ambiguous_names_are_refused_with_close_names(store) -> None:
    with pytest.raises(UnknownTerritoryError, match=r"ambiguous: CC du Lac \(200000004\), CC du lac \(200000005\)"):
        territory_names.find(store, "epci", "cc du lac")
    with pytest.raises(UnknownTerritoryError, match=r"unknown SCoT 'SCoT du Vall'.*close names: SCoT du Val"):
        resolve(store, {"scot": "SCoT du Vall"})
    with pytest.raises(UnknownTerritoryError, match=r"unknown EPCI 'Deux'.*close names: CC des Deux Communes"):
        resolve(store, {"epci": "Deux"})
    with pytest.raises(UnknownTerritoryError, match=r"territoire.liste\[1\]: unknown région 'Bretagne'"):
        resolve(store, {"liste": [{"epci": "200000001"}, {"region": "Bretagne"}]})


def test_resolved_territories_are_exactly_their_communes(store) -> None:
    areas = {c.code: c.shape.area for c in territory_data.COMMUNES_33_40_974}
    scot = resolve(store, {"scot": "SCoT du Val"})
    assert (scot.territory.code, scot.territory.nom, scot.territory.kind) == ("SCOT1", "SCoT du Val", "scot")
    assert [c.code for c in scot.communes] == ["33001", "40001"] and scot.departements == ("33", "40")
    assert scot.territory.surface_m2 == areas["33001"] + areas["40001"]
    region = resolve(store, {"region": "75"})
    assert region.territory.nom == "Nouvelle-Aquitaine" and region.departements == ("33", "40")
    assert region.territory.surface_m2 == areas["33001"] + areas["33002"] + areas["40001"]
    listed = resolve(store, {"liste": [{"epci": "CC des Deux Communes"}, {"region": "04"}, {"communes": ["33001"]}]})
    assert [(t.code, t.kind) for t in listed.members] == [
        ("200000001", "epci"),
        ("04", "region"),
        ("33001", "communes"),
    ]
    assert [c.code for c in listed.communes] == ["33001", "33002", "97401"], "each commune once"
    assert listed.departements == ("33", "974") and listed.territory.epsgs == [2154, 2975]


def test_without_a_table_an_epci_siren_still_resolves_from_the_communes(tmp_path: Path) -> None:
    bare = open_store(str(tmp_path / "bare.gpkg"))
    territory_data.load(bare)
    assert territory_names.members(bare, "epci", "200000001") == ["33001", "33002"]
    assert territory_names.listing(bare, "epci") == {s: s for s in ("200000001", "200000002", "200000003")}
    with pytest.raises(UnknownTerritoryError, match=r"no SCoT table is ingested in the store"):
        resolve(bare, {"scot": "SCoT du Val"})
    with pytest.raises(UnknownTerritoryError, match=r"no EPCI table is ingested"):
        resolve(bare, {"epci": "CC des Deux Communes"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("code,nom,commune\nA,B,33001\n", "expected the columns scot_code,scot_nom,commune_code"),
        ("scot_code,scot_nom,commune_code\nA,B,3301\n", "line 2: '3301' is not a commune INSEE code"),
        ("scot_code,scot_nom,commune_code\nA,B,33001\nC,D,33001\n", "commune 33001 is in both scot A and C"),
        ("scot_code,scot_nom,commune_code\nA,B,33001\nA,E,33002\n", "scot A is named both 'B' and 'E'"),
        ("scot_code,scot_nom,commune_code\n,B,33001\n", "line 2: scot_code and scot_nom must not be empty"),
    ],
)
def test_a_bad_table_is_refused_and_the_store_kept(store, tmp_path: Path, text: str, message: str) -> None:
    before = read_table(store, "scot")
    bad = territory_tables.write_scot(tmp_path / "bad.csv", text)
    with pytest.raises(DeliveryError, match=message):
        ingest_territories(store, [territory_tables.write_package(tmp_path / "again", "9.9.9"), bad])
    assert read_table(store, "scot") == before
    assert read_table(store, "epci").source.startswith("@etalab/decoupage-administratif 0.0.0-test"), "nothing written"


def test_a_folder_that_is_not_the_package_is_refused(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "epci.json").write_text("[]")
    with pytest.raises(DeliveryError, match=r"missing regions.json, departements.json, communes.json"):
        read_territories(tmp_path)


@pytest.fixture(scope="module")
def real_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """The real 2018 communes of Gironde and Gers, and the official geography of 2026, ingested by the CLI."""
    url = str(tmp_path_factory.mktemp("real-territories") / "real.gpkg")
    ocsge(
        "ingest",
        "--store",
        url,
        str(REAL_COMMUNES / "33-gironde" / "communes-33-gironde.geojson"),
        str(REAL_COMMUNES / "32-gers" / "communes-32-gers.geojson"),
    )
    assert PACKAGE.is_dir(), "make web installs @etalab/decoupage-administratif (web/package.json)"
    done = ocsge("ingest-territoires", "--store", url, str(PACKAGE))
    assert "epci: 1255 territories from @etalab/decoupage-administratif 6.0.0" in done.stdout
    return url


def test_real_bordeaux_metropole_by_name(real_store: str) -> None:
    store = open_store(real_store)
    resolved = resolve(store, {"epci": "Bordeaux Métropole"})
    assert (resolved.territory.code, resolved.territory.nom) == ("243300316", "Bordeaux Métropole")
    assert len(resolved.communes) == 28 and "33063" in {c.code for c in resolved.communes}
    assert resolved.territory.surface_m2 == sum(c.surface_m2 for c in resolved.communes)
    union = shapely.union_all([p.geometry for c in resolved.communes for p in c.parts])
    # 1e-6: the simplified contours (5 decimals) may overlap their neighbours by rounding slivers, never by more
    assert resolved.territory.surface_m2 == pytest.approx(union.area, rel=1e-6), "communes do not overlap"


def test_real_communes_of_an_older_cog_find_their_epci_by_former_code(real_store: str) -> None:
    store = open_store(real_store)
    epci = territory_names.commune_memberships(store, "epci")
    assert len(epci) == 538 + 462, "every 2018 commune of Gironde and Gers is in an EPCI of 2026"
    # 33092 and 33409 merged since 2018: the package lists them among former codes only
    assert epci["33092"] == epci["33409"] == "200069599"
    assert territory_names.find(store, "epci", "200069599").nom == "CC Rurales de l'Entre-Deux-Mers"


def test_real_regions_are_their_departements(real_store: str) -> None:
    store = open_store(real_store)
    occitanie = resolve(store, {"region": "Occitanie"})
    assert occitanie.departements == ("32",) and len(occitanie.communes) == 462
    assert territory_names.members(store, "region", "75") == territory_names.members(store, "departement", "33")
    with pytest.raises(UnknownTerritoryError, match=r"no commune of région 11 \(Île-de-France\) is ingested"):
        resolve(store, {"region": "ile de france"})
    # a collectivité d'outre-mer has no territory CRS (no OCS GE): refused as a territory without commune
    with pytest.raises(UnknownTerritoryError, match=r"no commune of région 975 \(Saint-Pierre-et-Miquelon\)"):
        resolve(store, {"region": "975"})
    with pytest.raises(UnknownTerritoryError, match=r"no commune of région 975"):
        territory_names.members(store, "region", "Saint-Pierre-et-Miquelon")
    # the exports' per-commune columns, for every commune at once
    assert set(territory_names.commune_memberships(store, "region").values()) == {"75", "76"}


def test_the_cost_of_a_named_territory_counts_its_ingested_communes(store) -> None:
    """The sync-budget estimate (workflows.cost) counts an EPCI's, SCoT's or région's communes, and a list's sum."""
    assert artificialisation_cost(store, {"region": "Nouvelle-Aquitaine"}).what == "3 communes"
    assert artificialisation_cost(store, {"epci": "200000001"}).what == "2 communes"
    liste = {"liste": [{"scot": "SCOT1"}, {"communes": ["33001"]}, {"departement": "974"}]}
    assert artificialisation_cost(store, liste).what == "4 communes", "each listed territory is measured apart"
    assert artificialisation_cost(store, {"scot": "Inconnu"}) is None, "unknown: the run refuses it"
    assert artificialisation_cost(store, {"liste": [{"scot": "SCOT1"}, {"bbox": [0, 0, 1, 1]}]}) is None
