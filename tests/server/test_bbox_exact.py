"""`bbox=` and spatial filters select exactly the features that meet the box's true shape in its own CRS.

The expected answer is computed independently of the server's bbox code: every feature is read through the API in
the query's CRS (the server moves each vertex, per OGC API Features Part 2), then intersected with the box in that
CRS with shapely. Feature ids are compared exactly, on both stores, for boxes that straddle real commune edges.
"""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pyproj
import pytest
import requests
import shapely
from shapely.geometry import shape

from deploy.services import web_server
from ocsge_processes.layers import COMMUNES, DIFFERENCE
from ocsge_processes.stores import open_store

from .. import services
from ..conftest import BIN, SHARED

EPSG = "http://www.opengis.net/def/crs/EPSG/0/"
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
METRO_CRSS = [CRS84, f"{EPSG}4326", f"{EPSG}3857", f"{EPSG}2154"]
#: The issue's example (CRS84): 31 features outside and 51 missing when only its corners were projected.
ISSUE_BBOX = (-1.20, 44.62, -1.13, 44.68)
#: Communes whose edges the boxes straddle: Arcachon, La Teste-de-Buch, Lège-Cap-Ferret, Andernos-les-Bains.
EDGE_COMMUNES = ("33009", "33529", "33236", "33005")


def _items(server: str, collection: str, **params: str) -> dict[object, shapely.Geometry]:
    """Every feature of a request (one page holds them all), by id."""
    response = requests.get(
        f"{server}/collections/{collection}/items", params={"f": "json", "limit": 10_000, **params}, timeout=300
    )
    assert response.status_code == 200, response.text[:500]
    page = response.json()
    assert page["numberReturned"] == len(page["features"]) < 10_000
    assert page.get("numberMatched", page["numberReturned"]) == page["numberReturned"]
    return {f["id"]: shape(f["geometry"]) for f in page["features"]}


def _selected(server: str, collection: str, bbox: tuple[float, ...], crs: str) -> set:
    return set(_items(server, collection, bbox=",".join(map(repr, bbox)), **{"bbox-crs": crs}))


def _expected(features: dict[object, shapely.Geometry], bbox: tuple[float, ...]) -> set:
    """Ids of the features (in the query's CRS) that meet the box, in that CRS."""
    box = shapely.box(*bbox)
    return {fid for fid, geometry in features.items() if geometry.intersects(box)}


def _crossing(features: dict[object, shapely.Geometry], bbox: tuple[float, ...]) -> int:
    """How many features cross the box's outline: the cases a corner-only transform gets wrong."""
    outline = shapely.box(*bbox).exterior
    return sum(geometry.intersects(outline) for geometry in features.values())


def _edge_boxes(communes: dict[object, shapely.Geometry], codes: tuple[str, ...]) -> list[tuple[float, ...]]:
    """Two boxes per commune (in the communes' CRS), each cutting across its contour: the south-west quarter of
    its envelope and a band across its middle."""
    boxes = []
    for code in codes:
        x0, y0, x1, y1 = communes[code].bounds
        mx, my = (x0 + x1) / 2, (y0 + y1) / 2
        boxes += [(x0, y0, mx, my), (x0 - (x1 - x0) / 7, my - (y1 - y0) / 9, x1 + (x1 - x0) / 11, my + (y1 - y0) / 5)]
    return boxes


def _in_axis_order(bbox: tuple[float, ...], crs: str) -> tuple[float, ...]:
    """A CRS84 box as EPSG:4326 sends it (latitude first); other CRSs unchanged."""
    return (bbox[1], bbox[0], bbox[3], bbox[2]) if crs.endswith("/4326") else bbox


@pytest.mark.parametrize("crs", METRO_CRSS)
def test_bbox_selects_exactly_the_features_meeting_its_true_shape(server: str, crs: str) -> None:
    communes = _items(server, "communes", crs=crs)
    differences = _items(server, "ocsge-difference", crs=crs)
    boxes = _edge_boxes(communes, EDGE_COMMUNES)
    if crs in (CRS84, f"{EPSG}4326"):
        boxes.append(_in_axis_order(ISSUE_BBOX, crs))
    crossing = 0
    for bbox in boxes:
        assert _crossing(communes, bbox) > 0, bbox
        crossing += _crossing(differences, bbox)
        assert _selected(server, "ocsge-difference", bbox, crs) == _expected(differences, bbox), (crs, bbox)
        assert _selected(server, "communes", bbox, crs) == _expected(communes, bbox), (crs, bbox)
    assert crossing > 0  # features crossing the edges, where a corner-only transform goes wrong, are tested


def test_the_issue_example_matches_and_corner_projection_would_not(server: str) -> None:
    """The true answer differs from the rectangle through the projected corners (what the server did): the test
    above can tell them apart."""
    in_crs84 = _items(server, "ocsge-difference", crs=CRS84)
    in_l93 = _items(server, "ocsge-difference", crs=f"{EPSG}2154")
    expected = _expected(in_crs84, ISSUE_BBOX)
    to_l93 = pyproj.Transformer.from_crs("OGC:CRS84", "EPSG:2154", always_xy=True)
    corners = to_l93.transform(ISSUE_BBOX[0], ISSUE_BBOX[1]) + to_l93.transform(ISSUE_BBOX[2], ISSUE_BBOX[3])
    assert len(expected ^ _expected(in_l93, corners)) > 50
    assert _selected(server, "ocsge-difference", ISSUE_BBOX, CRS84) == expected


@pytest.mark.parametrize("crs", [CRS84, f"{EPSG}4326", f"{EPSG}3857"])
def test_spatial_filters_select_the_true_shape_of_their_geometry(server: str, crs: str) -> None:
    """S_INTERSECTS with a polygon, CQL2 JSON bbox literals and S_DISJOINT, in filter-crs."""
    differences = _items(server, "ocsge-difference", crs=crs)
    bbox = (
        _in_axis_order(ISSUE_BBOX, crs)
        if crs != f"{EPSG}3857"
        else _edge_boxes(_items(server, "communes", crs=crs), ("33009",))[1]
    )
    expected = _expected(differences, bbox)
    x0, y0, x1, y1 = bbox
    polygon = f"POLYGON(({x0} {y0},{x1} {y0},{x1} {y1},{x0} {y1},{x0} {y0}))"
    by_text = _items(server, "ocsge-difference", filter=f"S_INTERSECTS(geometry,{polygon})", **{"filter-crs": crs})
    by_json = _items(
        server,
        "ocsge-difference",
        **{"filter-crs": crs, "filter-lang": "cql2-json"},
        filter=json.dumps({"op": "s_intersects", "args": [{"property": "geometry"}, {"bbox": list(bbox)}]}),
    )
    disjoint = _items(server, "ocsge-difference", filter=f"S_DISJOINT(geometry,{polygon})", **{"filter-crs": crs})
    assert set(by_text) == set(by_json) == expected
    assert set(disjoint) == set(differences) - expected


def _matched(server: str, **params: str) -> int:
    response = requests.get(
        f"{server}/collections/ocsge-difference/items", params={"f": "json", "limit": 1, **params}, timeout=120
    )
    assert response.status_code == 200, response.text[:500]
    return response.json()["numberMatched"]


def test_shapes_away_from_the_data_select_nothing_and_around_it_everything(server: str) -> None:
    """Shapes are clipped to the storage CRS's area of use before they are transformed: far away is empty, the
    whole world (where a corner-only transform gives infinities) is everything."""
    total = _matched(server)
    new_york = "POLYGON((-74 40,-73 40,-73 41,-74 41,-74 40))"
    assert _matched(server, bbox="-74,40,-73,41") == 0
    assert _matched(server, filter=f"S_INTERSECTS(geometry,{new_york})") == 0
    assert _matched(server, filter=f"S_DISJOINT(geometry,{new_york})") == total
    assert _matched(server, bbox="-180,-90,180,90") == total
    assert _matched(server, bbox="-20037508,-20037508,20037508,20037508", **{"bbox-crs": f"{EPSG}3857"}) == total


def test_gdal_spat_reads_exactly_the_features_meeting_the_box(server: str, tmp_path: Path) -> None:
    """GDAL's OAPIF driver (QGIS reads the same way) sends the box as bbox= and keeps what meets it."""
    in_crs84 = _items(server, "ocsge-difference", crs=CRS84)
    for bbox in [ISSUE_BBOX, *_edge_boxes(_items(server, "communes", crs=CRS84), ("33529",))]:
        out = tmp_path / "spat.geojson"
        out.unlink(missing_ok=True)
        done = subprocess.run(
            [
                "ogr2ogr",
                "-f",
                "GeoJSON",
                str(out),
                f"OAPIF:{server}/collections/ocsge-difference",
                "-oo",
                "PAGE_SIZE=1000",
                "-preserve_fid",
                "-spat",
                *map(repr, bbox),
            ],
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr[-2000:]
        read = {f["id"] for f in json.loads(out.read_text())["features"]}
        assert read == _expected(in_crs84, bbox), bbox


# -- overseas: each DROM collection in its own CRS -------------------------------------------------------------

#: Where the real SYBARVAL shapes are moved to stand in for overseas data: a point inside each territory, in its
#: CRS (Réunion, Guadeloupe). There is no real overseas OCS GE offline; the shapes and their edges are real.
DROM_SITES = {2975: ("974", "reunion", (345_000.0, 7_660_000.0)), 5490: ("971", "antilles", (655_000.0, 1_790_000.0))}


@pytest.fixture(scope="module")
def drom_server(store_url: str, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest) -> str:
    """A server on a store of the same kind as ``store_url`` holding its real SYBARVAL differences and communes,
    moved to Réunion and Guadeloupe (a database of its own on the same PostGIS, one per test module that uses it:
    this process's connection pool keeps the first module's database open, so it cannot be dropped and remade)."""
    if not store_url.startswith("postgresql://"):
        url = str(tmp_path_factory.mktemp("drom") / "drom.gpkg")
    else:
        url = services.fresh_database(store_url, f"ocsge_drom_{request.module.__name__.rsplit('.', 1)[-1]}")
    source, target = open_store(store_url), open_store(url)
    for layer in (DIFFERENCE, COMMUNES):
        frame = source.read_frame(layer, 2154)
        if layer is DIFFERENCE:
            frame = frame[frame["millesime_avant"] == 2015]
        x0, y0, x1, y1 = frame.total_bounds
        for epsg, (departement, _, (cx, cy)) in DROM_SITES.items():
            moved = frame.copy()
            moved["departement"] = departement
            offset = np.array([cx - (x0 + x1) / 2, cy - (y0 + y1) / 2])
            moved = moved.set_geometry(
                shapely.transform(np.asarray(frame.geometry.values), lambda c, offset=offset: c + offset), crs=epsg
            )
            for keys, part in moved.groupby(list(layer.slice_keys)):
                keys = keys if isinstance(keys, tuple) else (keys,)
                values = [key.item() if isinstance(key, np.generic) else key for key in keys]
                target.replace_slice(layer, epsg, part, dict(zip(layer.slice_keys, values, strict=True)))
    target.close()
    with web_server(
        url, tmp_path_factory.mktemp("drom-server"), BIN, OCSGE_DATA_DIR=str(SHARED), OCSGE_TRUSTED_HOSTS="localhost"
    ) as server_url:
        yield server_url


@pytest.mark.parametrize("epsg", sorted(DROM_SITES))
@pytest.mark.parametrize("crs", [CRS84, f"{EPSG}4326", f"{EPSG}3857", "own"])
def test_overseas_bbox_selects_exactly_in_every_crs(drom_server: str, epsg: int, crs: str) -> None:
    territory = DROM_SITES[epsg][1]
    crs = f"{EPSG}{epsg}" if crs == "own" else crs
    communes = _items(drom_server, f"communes-{territory}", crs=crs)
    differences = _items(drom_server, f"ocsge-difference-{territory}", crs=crs)
    crossing = 0
    for bbox in _edge_boxes(communes, EDGE_COMMUNES):
        crossing += _crossing(differences, bbox)
        expected = _expected(differences, bbox)
        assert _selected(drom_server, f"ocsge-difference-{territory}", bbox, crs) == expected, (crs, bbox)
    assert crossing > 0
