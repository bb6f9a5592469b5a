"""Issue 16: every writer keeps the tile cache consistent, not only `ocsge ingest`. `ocsge artificialisation` rewrites
`artificialisation-communes` through the same ``replace_slice``: the tiles over what it rewrote stop being served
from the cache at once (built live instead), and the command rebuilds them, so the next tile at a cached zoom shows
the new rate on both stores."""

from __future__ import annotations

import itertools
import math
import re
from pathlib import Path

import pyogrio
import pyproj
import pytest

from ocsge_processes.layers import ARTIFICIALISATION_COMMUNES, OCCUPATION_SOL
from ocsge_processes.stores import open_store
from ocsge_processes.tiles.decode import decode
from ocsge_processes.tiles.pyramid import cached_tile, served_tile
from ocsge_processes.workflows.batch import departement_batch

from .. import services
from ..conftest import DEMO_COMMUNES, SHARED, ocsge
from .cached import EPSG, store_kinds

GIRONDE = SHARED / "communes-admin-express-2018" / "33-gironde" / "communes-33-gironde.geojson"
LAYER = ARTIFICIALISATION_COMMUNES
#: A cached zoom where a demo commune spans a few tiles; the build is limited to zooms 8-12 to keep the test short.
ZOOMS = (8, 12)
PAIR = {"millesime_avant": 2021, "millesime_apres": 2024}

_DATABASES = itertools.count()


@pytest.fixture(params=store_kinds())
def computed(request: pytest.FixtureRequest, demo_deliveries: list[Path], tmp_path: Path) -> str:
    """A store holding the demo communes' contours and generated millésimes, their artificialisation computed by
    `ocsge artificialisation` and its cached zooms built by `ocsge tiles build`."""
    communes = pyogrio.read_dataframe(GIRONDE)
    contours = tmp_path / "communes-33-demo.geojson"
    pyogrio.write_dataframe(communes[communes.code.isin(DEMO_COMMUNES)], contours)
    if request.param == "postgis":
        url = services.fresh_database(request.getfixturevalue("postgis_url"), f"ocsge_writers_{next(_DATABASES)}")
    else:
        url = str(tmp_path / "writers.gpkg")
    ocsge("ingest", "--store", url, str(contours), *map(str, demo_deliveries))
    ocsge("artificialisation", "--store", url, "--departement", "33")
    ocsge("tiles", "build", "--store", url, "--collection", LAYER.collection_id, "--zooms", f"{ZOOMS[0]}-{ZOOMS[1]}")
    return url


def tile_of(code_insee: str, url: str) -> tuple[int, int, int]:
    """The tile of the deepest cached zoom under a point inside the commune."""
    frame = open_store(url).read_frame(LAYER, EPSG, equals={"code_insee": code_insee, **PAIR})
    point = frame.geometry.iloc[0].representative_point()
    lon, lat = pyproj.Transformer.from_crs(EPSG, "OGC:CRS84", always_xy=True).transform(point.x, point.y)
    z = ZOOMS[1]
    n = 2**z
    return z, int((lon + 180) / 360 * n), int((1 - math.asinh(math.tan(math.radians(lat))) / math.pi) / 2 * n)


def rates(data: bytes, code_insee: str) -> set[float]:
    """The commune's artificialisation rates for the pair, as the tile draws them."""
    features = decode(data)[LAYER.collection_id].features if data else []
    return {
        f.properties["taux_artificialisation"]
        for f in features
        if f.properties["code_insee"] == code_insee and all(f.properties[k] == v for k, v in PAIR.items())
    }


def stored_rate(url: str, code_insee: str) -> float:
    frame = open_store(url).read_frame(LAYER, EPSG, equals={"code_insee": code_insee, **PAIR})
    return float(frame["taux_artificialisation"].iloc[0])


def test_artificialisation_rewrite_shows_in_the_next_cached_tile(computed: str) -> None:
    store = open_store(computed)
    code = DEMO_COMMUNES[0]
    zxy = tile_of(code, computed)
    before = cached_tile(store, LAYER, EPSG, *zxy)
    assert before is not None, "the build cached the commune's tile"
    assert rates(before.data, code) == {stored_rate(computed, code)}

    # new input: every 2024 polygon meeting the commune becomes built-up (always artificialised)
    commune = store.read_frame(LAYER, EPSG, equals={"code_insee": code, **PAIR}).geometry.iloc[0]
    land = store.read_frame(OCCUPATION_SOL, EPSG, equals={"departement": "33", "millesime": 2024})
    land.loc[land.intersects(commune), "code_cs"] = "CS1.1.1.1"
    store.replace_slice(OCCUPATION_SOL, EPSG, land, {"departement": "33", "millesime": 2024})

    # the writer, as `ocsge artificialisation` runs it: its replace_slice marks the tile stale in the same transaction
    done = departement_batch(store, "33", None)
    assert any(d.rows for d in done)
    new_rate = stored_rate(computed, code)
    assert new_rate > min(rates(before.data, code))
    assert cached_tile(store, LAYER, EPSG, *zxy) is None, "a stale tile is not served from the cache"
    assert rates(served_tile(store, LAYER, EPSG, *zxy), code) == {new_rate}, "the live tile shows the new rate"

    # the command rebuilds what its writes made stale: the next tile comes from the cache again, with the new rate
    result = ocsge("artificialisation", "--store", computed, "--departement", "33")
    rebuilt = re.search(rf"{LAYER.collection_id}: (\d+) cached tiles rebuilt", result.stdout)
    assert rebuilt and int(rebuilt[1]) > 0, result.stdout
    after = cached_tile(store, LAYER, EPSG, *zxy)
    assert after is not None and after.etag != before.etag
    assert rates(after.data, code) == {new_rate}
