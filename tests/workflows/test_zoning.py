"""The zoning breakdown (input ``zonage``) over hand-built strips (``territory_data``) and a hand-built CNIG ZONE_URBA
shapefile ingested by ``ocsge ingest``: exact stocks and flows per zone type and per zone, on both stores, in the
library and over live HTTP (OWSLib reads the collection)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import geopandas as gpd
import pytest
import requests
import shapely
from owslib.ogcapi.features import Features

from deploy.services import web_server
from ocsge_processes.errors import InvalidInputError
from ocsge_processes.stores import open_store
from ocsge_processes.workflows.artificialisation import run
from tests import services
from tests.gdal_oapif import oapif_features

from ..conftest import BIN, SHARED, ocsge
from . import territory_data

X0, Y0 = 400_000, 6_400_000  # commune 33001, 1 000 m × 1 000 m; 33002 lies east of it (x 1 000 to 1 500)
YEARS = [2018, 2021, 2024]
PLAN = "33001_PLU_20230115"
#: (LIBELLE, TYPEZONE, west, east) in metres from 33001's west edge, the full height of the communes: a strip w m
#: wide covers w / 10 ha. Nzh is CNIG 2014's Nh (read as N); Nco spans 33001 and 33002; 900-950 has no zone.
ZONES = [
    ("UA", "U", 0, 120),
    ("1AUh", "AUc", 120, 170),
    ("2AU", "AUs", 170, 250),
    ("A", "A", 250, 600),
    ("Nzh", "Nh", 600, 900),
    ("Nco", "N", 950, 1100),
]


def cnig_zones() -> gpd.GeoDataFrame:
    """The zones with the CNIG fields, upper case as the standard names them."""
    return gpd.GeoDataFrame(
        {
            "IDURBA": [PLAN] * len(ZONES),
            "IDZONE": [f"Z{i}" for i in range(len(ZONES))],
            "LIBELLE": [z[0] for z in ZONES],
            "LIBELONG": [f"Zone {z[0]}" for z in ZONES],
            "TYPEZONE": [z[1] for z in ZONES],
            "DESTDOMI": ["00"] * len(ZONES),
            "NOMFIC": ["reglement.pdf"] * len(ZONES),
            "URLFIC": [None] * len(ZONES),
            "INSEE": ["33001"] * len(ZONES),
            "DATAPPRO": ["20230115"] * len(ZONES),
            "DATVALID": ["20230301"] * len(ZONES),
        },
        geometry=[shapely.box(X0 + west, Y0, X0 + east, Y0 + 1000) for _, _, west, east in ZONES],
        crs=2154,
    )


def write_zoning(folder: Path) -> Path:
    """The zones as a plan's CNIG shapefile."""
    path = folder / "33001_ZONE_URBA_20230115.shp"
    cnig_zones().to_file(path)
    return path


def feature_collection(**changes: list) -> dict:
    """The zones as a request gives them inline: GeoJSON in CRS84, maybe with fields changed or removed (None)."""
    frame = cnig_zones().to_crs("OGC:CRS84")
    for name, values in changes.items():
        frame = frame.drop(columns=name) if values is None else frame.assign(**{name: values})
    return json.loads(frame.to_json())


def _load(url: str, folder: Path) -> str:
    store = open_store(url)
    territory_data.load(store)
    store.close()
    ocsge("ingest", "--store", url, str(write_zoning(folder)))
    return url


@pytest.fixture(scope="module", params=["gpkg", "postgis"])
def zoned_store(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A store of the kind asked with the hand-built communes, their layers and the plan's zones."""
    folder = tmp_path_factory.mktemp("zoning")
    if request.param == "gpkg":
        url = str(folder / "zoning.gpkg")
    else:
        url = services.fresh_database(request.getfixturevalue("postgis_url"), "ocsge_zoning")
    return _load(url, folder)


@pytest.fixture(scope="module")
def zoned_server(zoned_store: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with web_server(zoned_store, tmp_path_factory.mktemp("zoning-server"), BIN, OCSGE_DATA_DIR=str(SHARED)) as url:
        yield url


# Hand-computed from territory_data's strips of 33001 (x from its west edge):
# 2018 building 0-100; 2021 building 0-100, road 100-150, garden 150-180; 2024 building 0-100, garden 100-150,
# forest 150-180, building 180-200. 33002: building 0-50 (x 1 000-1 050 here) at every millésime.
#: Per type, for 33001: (area, artificialised at 2018, 2021, 2024, sealed at 2018, 2021, 2024) in ha.
STOCKS_33001 = {
    "U": (12, (10, 12, 12), (10, 12, 10)),  # building 0-100, then road / garden 100-120
    "AUc": (5, (0, 5, 3), (0, 3, 0)),  # road 120-150 and garden 150-170, then garden 120-150
    "AUs": (8, (0, 1, 2), (0, 0, 2)),  # garden 170-180, then building 180-200
    "AU": (13, (0, 6, 5), (0, 3, 2)),
    "A": (35, (0, 0, 0), (0, 0, 0)),
    "N": (35, (0, 0, 0), (0, 0, 0)),  # Nzh 30 ha + Nco's 5 ha in 33001
    "hors zonage": (5, (0, 0, 0), (0, 0, 0)),
}
#: Per type, for 33001: (artificialisation, désartificialisation, imperméabilisation, désimperméabilisation) in ha.
FLOWS_33001 = {
    "2018-2021": {"U": (2, 0, 2, 0), "AUc": (5, 0, 3, 0), "AUs": (1, 0, 0, 0), "AU": (6, 0, 3, 0)},
    # road → garden 100-150 (still artificial, no longer sealed), garden → forest 150-180, forest → building 180-200
    "2021-2024": {"U": (0, 0, 0, 2), "AUc": (0, 2, 0, 3), "AUs": (2, 1, 2, 0), "AU": (2, 3, 2, 3)},
}


def _stock(entry: dict) -> tuple[float, tuple, tuple]:
    stocks = [entry["stocks"][str(year)] for year in YEARS]
    return (
        entry["surface_ha"],
        tuple(round(s["surface_artificialisee_ha"], 6) for s in stocks),
        tuple(round(s["surface_impermeabilisee_ha"], 6) for s in stocks),
    )


def _flows(entry: dict, pair: str) -> tuple[float, ...]:
    f = entry["flux"][pair]
    names = ("artificialisation_ha", "desartificialisation_ha", "impermeabilisation_ha", "desimpermeabilisation_ha")
    return tuple(round(f[name], 6) for name in names)


def _check_33001(zoning: dict) -> None:
    per_type = zoning["par_typezone"]
    assert list(per_type) == ["U", "AUc", "AUs", "AU", "A", "N", "hors zonage"]
    for name, expected in STOCKS_33001.items():
        assert _stock(per_type[name]) == expected, name
    for pair, types in FLOWS_33001.items():
        for name, expected in types.items():
            assert _flows(per_type[name], pair) == expected, (pair, name)
        for name in ("A", "N", "hors zonage"):
            assert _flows(per_type[name], pair) == (0, 0, 0, 0), (pair, name)
    assert zoning["plans"] == [PLAN] and zoning["zones_generees"] is False
    zones = {zone["libelle"]: zone for zone in zoning["par_zone"]}
    assert sorted(zones) == sorted(z[0] for z in ZONES)
    assert zones["Nzh"]["typezone"] == "N" and zones["Nzh"]["indicateurs"]["surface_ha"] == 30
    assert zones["Nzh"]["idzone"] == "Z4", "the plan's IDZONE"
    assert zones["Nco"]["indicateurs"]["surface_ha"] == 5, "a zone is cut to the territory"
    assert _stock(zones["1AUh"]["indicateurs"]) == STOCKS_33001["AUc"]


def test_breakdown_by_zone_type_and_zone(zoned_store: str) -> None:
    document = run(open_store(zoned_store), {"communes": ["33001"]}, YEARS, "matrix", zonage=True)
    _check_33001(document["zonage"])
    # the types and the unzoned land add up to the territory, at every millésime
    whole = document["territoires"][0]
    parts = [document["zonage"]["par_typezone"][name] for name in ("U", "AUc", "AUs", "A", "N", "hors zonage")]
    for year in map(str, YEARS):
        total = sum(p["stocks"][year]["surface_artificialisee_ha"] for p in parts)
        assert total == pytest.approx(whole["stocks"][year]["surface_artificialisee_ha"], abs=1e-9)


def test_a_zone_across_two_communes_of_an_epci(zoned_store: str) -> None:
    document = run(open_store(zoned_store), {"epci": "200000001"}, YEARS, "matrix", zonage=True)
    zones = {zone["libelle"]: zone for zone in document["zonage"]["par_zone"]}
    # Nco: 5 ha in 33001, 10 ha in 33002 whose building 0-50 (5 ha) lies in it
    assert _stock(zones["Nco"]["indicateurs"]) == (15, (5, 5, 5), (5, 5, 5))
    per_type = document["zonage"]["par_typezone"]
    assert _stock(per_type["N"]) == (45, (5, 5, 5), (5, 5, 5))
    assert per_type["hors zonage"]["surface_ha"] == 45, "33001's 900-950 and 33002's 100-500"


def test_no_zoning_over_the_territory_is_refused(zoned_store: str) -> None:
    with pytest.raises(InvalidInputError, match="zonage: no zone of a local urban plan"):
        run(open_store(zoned_store), {"communes": ["97401"]}, None, "matrix", zonage=True)


def _execute(server: str, inputs: dict) -> requests.Response:
    return requests.post(f"{server}/processes/artificialisation/execution", json={"inputs": inputs}, timeout=300)


def test_live_process_gives_the_breakdown(zoned_server: str) -> None:
    response = _execute(
        zoned_server, {"territoire": {"communes": ["33001"]}, "millesimes": YEARS, "methode": "matrix", "zonage": True}
    )
    assert response.status_code == 200, response.text[:500]
    _check_33001(response.json()["zonage"])


@pytest.mark.parametrize(
    ("inputs", "hint"),
    [
        ({"territoire": {"communes": ["97401"]}, "zonage": True}, "no zone of a local urban plan"),
        ({"territoire": {"communes": ["33001"]}, "zonage": "oui"}, "zonage"),
    ],
)
def test_live_bad_zoning_requests_are_400s(zoned_server: str, inputs: dict, hint: str) -> None:
    response = _execute(zoned_server, inputs)
    assert response.status_code == 400, response.text[:300]
    assert hint in response.json()["description"]


def test_live_collection_and_queryables(zoned_server: str) -> None:
    api = Features(zoned_server)
    assert "zonage-urbanisme" in [c["id"] for c in api.collections()["collections"]]
    items = api.collection_items("zonage-urbanisme", typezone="AUc")
    assert [f["properties"]["libelle"] for f in items["features"]] == ["1AUh"]
    assert items["features"][0]["properties"]["idurba"] == PLAN
    queryables = requests.get(f"{zoned_server}/collections/zonage-urbanisme/queryables", params={"f": "json"}).json()
    assert {"typezone", "libelle", "idurba", "insee"} <= set(queryables["properties"])


def _flat(stock: tuple[float, tuple, tuple]) -> tuple[float, ...]:
    return (stock[0], *stock[1], *stock[2])


def _figures(zoning: dict) -> dict[str, tuple[float, ...]]:
    return {name: (*_flat(_stock(e)), *_flows(e, "2021-2024")) for name, e in zoning["par_typezone"].items()}


def test_zones_given_inline_read_as_the_ingested_ones(zoned_store: str) -> None:
    store = open_store(zoned_store)
    ingested = run(store, {"communes": ["33001"]}, YEARS, "matrix", zonage=True)["zonage"]
    inline = run(store, {"communes": ["33001"]}, YEARS, "matrix", zonage=feature_collection())["zonage"]
    assert inline["collection"] == "requête" and ingested["collection"] == "zonage-urbanisme"
    # the round trip through CRS84 moves the zones' corners by nanometres: areas agree to 1e-6 ha (0.01 m²)
    expected, got = _figures(ingested), _figures(inline)
    assert list(got) == list(expected)
    for name, figures in expected.items():
        assert got[name] == pytest.approx(figures, abs=1e-6), name


@pytest.mark.parametrize(
    ("zonage", "hints"),
    [
        (feature_collection(TYPEZONE=None), ["not in the CNIG standard", "missing field(s)", "typezone"]),
        (feature_collection(TYPEZONE=["UA", "AUc", "AUs", "A", "N", "N"]), ["not in the CNIG standard", "'UA'"]),
        (feature_collection(LIBELLE=None), ["not in the CNIG standard", "libelle"]),
        ({"type": "FeatureCollection", "features": []}, ["GeoJSON FeatureCollection"]),
    ],
    ids=["no-typezone", "libelle-as-typezone", "no-libelle", "empty"],
)
def test_live_zoning_not_in_the_cnig_standard_is_a_400(zoned_server: str, zonage: dict, hints: list[str]) -> None:
    response = _execute(zoned_server, {"territoire": {"communes": ["33001"]}, "zonage": zonage})
    assert response.status_code == 400, response.text[:300]
    description = response.json()["description"]
    for hint in hints:
        assert hint in description, description


def test_live_process_with_zones_given_inline(zoned_server: str) -> None:
    inputs = {"territoire": {"communes": ["33001"]}, "millesimes": YEARS, "methode": "matrix"}
    response = _execute(zoned_server, {**inputs, "zonage": feature_collection()})
    assert response.status_code == 200, response.text[:500]
    zoning = response.json()["zonage"]
    assert zoning["collection"] == "requête"
    assert _flat(_stock(zoning["par_typezone"]["AU"])) == pytest.approx(_flat(STOCKS_33001["AU"]), abs=1e-6)


def test_gdal_reads_the_zoning_collection(zoned_server: str, tmp_path: Path) -> None:
    """GDAL's OGC API Features driver, a real client, reads the zones with their CNIG fields."""
    features = oapif_features(f"{zoned_server}/collections/zonage-urbanisme", tmp_path / "zones.geojson")
    assert sorted((f["properties"]["libelle"], f["properties"]["typezone"]) for f in features) == sorted(
        (libelle, typezone) for libelle, typezone, _, _ in ZONES
    )
    assert {f["properties"]["datappro"] for f in features} == {"20230115"}


def _given(geometry: dict | None, properties: dict | None = None) -> dict:
    properties = {"LIBELLE": "UA", "TYPEZONE": "U", "IDURBA": "PLU"} if properties is None else properties
    feature = {"type": "Feature", "properties": properties, "geometry": geometry}
    return {"type": "FeatureCollection", "features": [feature]}


def _triangle(*corners: tuple[float, float]) -> dict:
    return {"type": "Polygon", "coordinates": [[*corners, corners[0]]]}


@pytest.mark.parametrize(
    ("zonage", "hint"),
    [
        (_given({"type": "Point", "coordinates": [-1.2, 44.6]}), "none of the zones given has a Polygon"),
        (_given(None), "none of the zones given has a Polygon"),
        (_given(_triangle((0, 0), (1e300, 0), (1e300, 1e300))), "longitudes, then latitudes"),
        (_given(_triangle((-1.2, 44), (-1.1, 95), (-1.0, 44))), "longitudes, then latitudes"),
        (_given(_triangle((-170, 89), (170, 89.9), (160, 89))), "none of the zones given overlaps territory 33001"),
        (_given(_triangle((-100, 30), (-99, 30), (-99, 31))), "none of the zones given overlaps territory 33001"),
        (_given(_triangle((-1.2, 44), (-1.1, 44.1), (-1.0, 44)), {}), "missing field(s)"),
        ({"type": "FeatureCollection", "features": [{"garbage": 1}]}, "not a GeoJSON FeatureCollection"),
        ({"type": "Feature"}, "GeoJSON FeatureCollection of 1 to"),
        ([1, 2], "GeoJSON FeatureCollection of 1 to"),
    ],
)
def test_odd_zones_given_are_refused_with_a_reason(zoned_store: str, zonage: object, hint: str) -> None:
    with pytest.raises(InvalidInputError) as caught:
        run(open_store(zoned_store), {"communes": ["33001"]}, None, "matrix", zonage=zonage)
    assert hint in str(caught.value)
