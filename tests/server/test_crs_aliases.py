"""The IGNF codes of the territory CRSs (as PROJ, GDAL and the Géoplateforme spell them) are accepted wherever a CRS
is, and each collection lists only the CRSs meaningful where its data lies; on both stores, over live HTTP.

The answers given to an alias are compared with those given to the OGC URI, and the IGNF definitions are read from
PROJ's database, never from a table of ours.
"""

from __future__ import annotations

import pyproj
import pytest
import requests

from ocsge_processes.crsnames import ignf_aliases, ogc_uri
from ocsge_processes.territory import CRS84, TERRITORY_CRS, covering_crs, epsg_uri
from tests import services

from .test_bbox_exact import DROM_SITES, drom_server  # noqa: F401  # the overseas server, reused

L93 = epsg_uri(2154)
#: The IGNF codes the Géoplateforme and PROJ use for the five territory CRSs (Guyane has two spellings).
IGNF_CODES = {
    "IGNF:LAMB93": 2154,
    "IGNF:RGAF09UTM20": 5490,
    "IGNF:RGFG95UTM22": 2972,
    "IGNF:UTM22RGFG95": 2972,
    "IGNF:RGR92UTM40S": 2975,
    "IGNF:RGM04UTM38S": 4471,
}
#: Around Arcachon (CRS84): holds SYBARVAL features of every collection.
ARCACHON = (-1.20, 44.62, -1.13, 44.68)


def _lambert93_box() -> str:
    to_l93 = pyproj.Transformer.from_crs("OGC:CRS84", 2154, always_xy=True)
    return ",".join(f"{v:.3f}" for v in to_l93.transform_bounds(*ARCACHON))


def test_the_five_ignf_codes_are_aliases_of_the_territory_crss() -> None:
    assert ignf_aliases() == IGNF_CODES
    for alias, epsg in IGNF_CODES.items():
        ignf, official = pyproj.CRS.from_user_input(alias), pyproj.CRS.from_epsg(epsg)
        assert ignf.to_epsg() == epsg
        # Same axis order (east, north): an alias may stand for the EPSG URI only if coordinates read the same.
        assert [a.direction for a in ignf.axis_info] == [a.direction for a in official.axis_info]
        assert ogc_uri(alias) == ogc_uri(alias.lower()) == epsg_uri(epsg)
        assert ogc_uri(f"https://registre.ign.fr/ign/IGNF/crs/IGNF/{alias[5:]}") == epsg_uri(epsg)


def test_other_names_of_a_crs_and_unknown_names() -> None:
    assert ogc_uri("EPSG:2154") == ogc_uri("urn:ogc:def:crs:EPSG::2154") == L93
    assert ogc_uri("OGC:CRS84") == ogc_uri("urn:ogc:def:crs:OGC:1.3:CRS84") == CRS84
    assert ogc_uri("IGNF:NOPE") == "IGNF:NOPE" and ogc_uri("EPSG:32620") == "EPSG:32620"


@pytest.mark.parametrize("row", TERRITORY_CRS, ids=lambda row: row.name)
def test_each_territory_lists_its_own_crs_and_no_other_projected_one(row) -> None:
    area = pyproj.CRS.from_epsg(row.epsg).area_of_use
    west, south, east, north = area.bounds
    inside = (
        west + (east - west) / 3,
        south + (north - south) / 3,
        east - (east - west) / 3,
        north - (north - south) / 3,
    )
    listed = covering_crs(inside, row.epsg)
    assert listed[0] == CRS84 and {epsg_uri(row.epsg), epsg_uri(4326), epsg_uri(3857)} <= set(listed)
    others = {epsg_uri(other.epsg) for other in TERRITORY_CRS if other.epsg != row.epsg}
    assert not others & set(listed), listed


def test_western_guyane_keeps_utm22_beyond_its_epsg_area_of_use() -> None:
    # Saint-Laurent-du-Maroni (54.03° W) lies west of EPSG's 54° W limit of UTM 22N; IGN measures Guyane in it.
    assert epsg_uri(2972) in covering_crs((-54.6, 5.0, -53.9, 5.6), 2972)


# --- live: both stores ------------------------------------------------------------------------------------------


def _ids(server: str, collection: str, **params: str) -> tuple[list, requests.Response]:
    response = requests.get(
        f"{server}/collections/{collection}/items", params={"f": "json", "limit": 10_000, **params}, timeout=300
    )
    assert response.status_code == 200, response.text[:500]
    return sorted(f["id"] for f in response.json()["features"]), response


def test_collection_lists_the_metropolitan_crss_only(server: str) -> None:
    described = requests.get(f"{server}/collections/ocsge-difference", params={"f": "json"}, timeout=30).json()
    assert described["crs"] == [CRS84, L93, epsg_uri(4326), epsg_uri(3857)]


@pytest.mark.parametrize("alias", ["IGNF:LAMB93", "EPSG:2154", "urn:ogc:def:crs:EPSG::2154"])
def test_alias_as_crs_and_bbox_crs_answers_as_the_ogc_uri(server: str, alias: str) -> None:
    box = _lambert93_box()
    expected, plain = _ids(server, "ocsge-difference", bbox=box, **{"bbox-crs": L93, "crs": L93})
    got, aliased = _ids(server, "ocsge-difference", bbox=box, **{"bbox-crs": alias, "crs": alias})
    assert expected and got == expected
    assert aliased.headers["Content-Crs"] == f"<{L93}>"
    assert aliased.json()["features"][0]["geometry"] == plain.json()["features"][0]["geometry"]


def test_alias_as_filter_crs(server: str) -> None:
    x0, y0, x1, y1 = map(float, _lambert93_box().split(","))
    polygon = f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"
    params = {"filter": f"S_INTERSECTS(geom,{polygon})", "filter-lang": "cql2-text"}
    expected, _ = _ids(server, "ocsge-difference", **params, **{"filter-crs": L93})
    got, _ = _ids(server, "ocsge-difference", **params, **{"filter-crs": "IGNF:LAMB93"})
    assert expected and got == expected


@pytest.mark.parametrize("crs", [epsg_uri(2975), "IGNF:RGR92UTM40S", "IGNF:NOPE"])
def test_a_crs_the_collection_does_not_offer_gets_a_400_naming_it(server: str, crs: str) -> None:
    response = requests.get(
        f"{server}/collections/ocsge-difference/items", params={"f": "json", "crs": crs}, timeout=30
    )
    assert response.status_code == 400, response.text
    description = response.json()["description"]
    assert ogc_uri(crs) in description and L93 in description


def test_alias_in_a_process_input(server: str) -> None:
    def run(crs: str) -> dict:
        body = {"inputs": {"territoire": {"bbox": list(map(float, _lambert93_box().split(","))), "crs": crs}}}
        body["inputs"]["millesimes"] = [2015, 2018]
        response = requests.post(f"{server}/processes/artificialisation/execution", json=body, timeout=300)
        assert response.status_code == 200, response.text[:500]
        return response.json()["territoires"][0]

    official = run("EPSG:2154")
    assert official["artificialisation_ha"] > 0
    assert run("IGNF:LAMB93") == official


@pytest.mark.parametrize("epsg", sorted(DROM_SITES))
def test_overseas_collection_offers_its_own_crs_by_alias_and_refuses_lambert93(drom_server: str, epsg: int) -> None:  # noqa: F811
    collection = f"ocsge-difference-{DROM_SITES[epsg][1]}"
    described = requests.get(f"{drom_server}/collections/{collection}", params={"f": "json"}, timeout=30).json()
    assert described["crs"] == [CRS84, epsg_uri(4326), epsg_uri(3857), epsg_uri(epsg)]
    alias = next(name for name, code in IGNF_CODES.items() if code == epsg)
    own, _ = _ids(drom_server, collection, crs=epsg_uri(epsg))
    aliased, response = _ids(drom_server, collection, crs=alias)
    assert own and aliased == own and response.headers["Content-Crs"] == f"<{epsg_uri(epsg)}>"
    refused = requests.get(f"{drom_server}/collections/{collection}/items", params={"crs": "IGNF:LAMB93"}, timeout=30)
    assert refused.status_code == 400 and L93 in refused.json()["description"]


def test_alias_as_the_extraction_srs(server: str) -> None:
    def submit(srs: str) -> requests.Response:
        inputs = {"relations": {"ocsge-difference": {"attributes": ["id"]}}, "format": "GEOJSON", "srs": srs}
        return requests.post(
            f"{server}/processes/extraction/execution",
            json={"inputs": inputs},
            headers={"Prefer": "respond-async"},
            timeout=60,
        )

    overseas = submit("IGNF:RGAF09UTM20")  # read as EPSG:5490, which a metropolitan table is not offered in
    assert overseas.status_code == 400 and "not offered" in overseas.json()["description"], overseas.text
    accepted = submit("ignf:lamb93")
    assert accepted.status_code == 201, accepted.text
    assert services.wait_for_job(server, accepted.json()["jobID"])["status"] == "successful"
