"""The store interface says what tiles need: both stores answer ``tile_rows``, ``tile`` and ``version`` through the
same calls (a real GeoPackage and a real PostGIS holding the real SYBARVAL communes), and ``tiles`` reaches them
through that interface only."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import geopandas as gpd
import pytest
import shapely

from ocsge_processes.layers import COMMUNES
from ocsge_processes.stores import FeatureStore, open_store
from ocsge_processes.stores.base import TileRequest, TileRows
from ocsge_processes.tiles import store_tile, tile_fields
from ocsge_processes.tiles.decode import decode
from ocsge_processes.tiles.matrix import BUFFER, EXTENT, simplify_tolerance, tile_query_bbox

from .. import services
from ..conftest import ROOT

#: Zoom 11 tile over the Bassin d'Arcachon (lon -1.16, lat 44.65): about 20 km a side, several communes.
Z, X, Y = 11, 1017, 739
#: Both spatial indexes (the GeoPackage R-tree, PostGIS's GiST) keep boxes as 32-bit floats rounded outward: at
#: Lambert-93 magnitudes (6.4e6 m) one float32 step is half a metre, so a candidate may lie up to that far out.
INDEX_SLACK_M = 1.0


@pytest.fixture(scope="module")
def stores(
    postgis_url: str, tmp_path_factory: pytest.TempPathFactory, communes: gpd.GeoDataFrame
) -> dict[str, FeatureStore]:
    """A GeoPackage and a PostGIS database of their own, written through the same calls: the 17 communes as
    département 33, and two of them again as département 32 (so that ``equals`` has something to leave out)."""
    found = {
        "gpkg": open_store(str(tmp_path_factory.mktemp("tile-interface") / "ocsge.gpkg")),
        "postgis": open_store(services.fresh_database(postgis_url, "ocsge_tile_interface")),
    }
    for store in found.values():
        assert store.version(COMMUNES, 2154) == "", "a layer that was never written has no version"
        store.replace_slice(COMMUNES, 2154, communes, {"departement": "33"})
    return found


def other_departement(communes: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """Two communes of the tile again, as if in another département."""
    in_tile = communes[communes.geometry.envelope.intersects(shapely.box(*tile_query_bbox(Z, X, Y, 2154)))]
    return in_tile.head(2).assign(departement="32", code_insee=["32001", "32002"])


def request_for(equals: tuple[tuple[str, object], ...]) -> TileRequest:
    return TileRequest(
        Z,
        X,
        Y,
        (*tile_fields(COMMUNES), "nom"),
        tile_query_bbox(Z, X, Y, 2154),
        simplify_tolerance(Z),
        EXTENT,
        BUFFER,
        equals,
    )


def test_the_interface_declares_what_tiles_call() -> None:
    assert {"tile", "tile_rows", "version"} <= FeatureStore.__abstractmethods__


@pytest.mark.parametrize("kind", ["gpkg", "postgis"])
def test_tile_rows_are_the_candidates_of_the_box(
    stores: dict[str, FeatureStore], communes: gpd.GeoDataFrame, kind: str
) -> None:
    store = stores[kind]
    request = request_for((("departement", "33"),))
    rows = store.tile_rows(COMMUNES, 2154, request)
    assert len(rows.rows) == len(rows.geometries) > 0
    assert all(len(row) == len(request.fields) for row in rows.rows)
    found = {row[0] for row in rows.rows}
    envelopes = communes.geometry.envelope
    exact = set(communes.code_insee[envelopes.intersects(shapely.box(*request.bbox))])
    widened = set(communes.code_insee[envelopes.intersects(shapely.box(*request.bbox).buffer(INDEX_SLACK_M))])
    assert exact <= found <= widened
    assert exact != set(communes.code_insee), "the tile must leave some communes out, or the box is not tested"
    original = communes.set_index("code_insee")
    for (code, name), geometry in zip(rows.rows, rows.geometries, strict=True):
        assert name == original.nom[code]
        assert shapely.equals_exact(geometry, original.geometry[code], tolerance=0)


@pytest.mark.parametrize("kind", ["gpkg", "postgis"])
def test_tile_encodes_here_only_where_the_store_has_no_tile_engine(stores: dict[str, FeatureStore], kind: str) -> None:
    store = stores[kind]
    request = request_for((("departement", "33"),))
    handed: list[TileRows] = []

    def encode(candidates: TileRows) -> bytes:
        handed.append(candidates)
        return b"encoded here"

    data = store.tile(COMMUNES, 2154, request, encode)
    if store.builds_tiles_in_database:
        assert handed == [] and data != b"encoded here"
        assert set(decode(data)) == {COMMUNES.collection_id}
    else:
        assert data == b"encoded here" and len(handed) == 1
        assert handed[0].rows == store.tile_rows(COMMUNES, 2154, request).rows
    assert store.builds_tiles_in_database == (kind == "postgis")


def test_both_stores_give_the_same_candidates_and_tiles(stores: dict[str, FeatureStore]) -> None:
    request = request_for((("departement", "33"),))
    gpkg, postgis = (stores[k].tile_rows(COMMUNES, 2154, request) for k in ("gpkg", "postgis"))
    assert gpkg.rows == postgis.rows
    assert all(
        shapely.equals_exact(a, b, tolerance=0) for a, b in zip(gpkg.geometries, postgis.geometries, strict=True)
    )
    tiles = {k: decode(store_tile(s, COMMUNES, 2154, Z, X, Y, {"departement": "33"})) for k, s in stores.items()}
    drawn = {k: {f.properties["code_insee"] for f in t[COMMUNES.collection_id].features} for k, t in tiles.items()}
    assert drawn["gpkg"] == drawn["postgis"]
    # every drawn commune is a candidate; candidates wholly in the buffer margin are not drawn
    assert drawn["gpkg"] and drawn["gpkg"] <= {row[0] for row in gpkg.rows}


@pytest.mark.parametrize("kind", ["gpkg", "postgis"])
def test_equals_and_version_follow_the_writes(
    stores: dict[str, FeatureStore], communes: gpd.GeoDataFrame, kind: str
) -> None:
    store = stores[kind]
    before = store.version(COMMUNES, 2154)
    assert before
    store.replace_slice(COMMUNES, 2154, other_departement(communes), {"departement": "32"})
    try:
        after = store.version(COMMUNES, 2154)
        assert after not in ("", before), "a write must change the version that tile ETags are made from"
        assert after == store.version(COMMUNES, 2154), "reading must not change the version"
        only_32 = {row[0] for row in store.tile_rows(COMMUNES, 2154, request_for((("departement", "32"),))).rows}
        only_33 = {row[0] for row in store.tile_rows(COMMUNES, 2154, request_for((("departement", "33"),))).rows}
        every = {row[0] for row in store.tile_rows(COMMUNES, 2154, request_for(())).rows}
        assert only_32 and only_32 <= {"32001", "32002"}
        assert only_33 and not only_33 & {"32001", "32002"}
        assert every == only_32 | only_33
    finally:
        store.replace_slice(COMMUNES, 2154, other_departement(communes).head(0), {"departement": "32"})


def test_tiles_reach_stores_through_the_interface_only() -> None:
    """No module of ``tiles`` imports a store implementation, and importing it loads none."""
    forbidden = {"ocsge_processes.stores.postgis", "ocsge_processes.stores.gpkg"}
    for path in (ROOT / "ocsge_processes" / "tiles").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                module = _absolute(node, path)
                names = {f"{module}.{alias.name}" for alias in node.names}
                assert not ({module} | names) & forbidden, f"{path.name} imports {module}"
            elif isinstance(node, ast.Import):
                assert not {alias.name for alias in node.names} & forbidden, path.name
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, ocsge_processes.tiles; print(sorted(sys.modules))"],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout
    modules = set(ast.literal_eval(loaded))
    assert "ocsge_processes.stores.base" in modules and not modules & forbidden


def _absolute(node: ast.ImportFrom, path: Path) -> str:
    """The absolute module of a ``from ... import`` in a module of ``ocsge_processes.tiles``."""
    if node.level == 0:
        return node.module or ""
    package = ["ocsge_processes", "tiles"][: 2 - (node.level - 1)]
    return ".".join([*package, *([node.module] if node.module else [])])
