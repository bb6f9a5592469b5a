"""Shared by the tile cache tests: a store of each kind holding only the generated delivery, its cached zooms built
by `ocsge tiles build`, and the per-class areas of a tile, from the cache or from the full-resolution polygons."""

from __future__ import annotations

import collections
from pathlib import Path

import numpy as np
import pyproj
import pytest
import shapely

from ocsge_processes.layers import OCCUPATION_SOL
from ocsge_processes.stores import FeatureStore, open_store
from ocsge_processes.stores.reproject import reproject
from ocsge_processes.tiles.decode import decode
from ocsge_processes.tiles.matrix import EXTENT, tile_bounds, tile_span
from ocsge_processes.tiles.pyramid import DEFAULT_ZOOMS, _mercator_bounds, tile_ranges

from .. import services
from ..conftest import ocsge

LAYER = OCCUPATION_SOL
EPSG = 2154
ZOOMS = DEFAULT_ZOOMS
#: The size budget of a tile (issue 16): what a client fetches in well under a second on a modest link.
BUDGET = 500_000
#: Per-class area of a tile within 5 % of the full-resolution area: generalisation moves boundaries (simplification
#: by a tile unit, squares for sub-pixel patches kept in their cell), which is the reason for a tolerance at all.
AREA_TOLERANCE = 0.05
#: Classes checked: those covering at least 1 % of the tile (2 600 rendered pixels). Below that, shifting a boundary
#: by a unit is a larger share of the class than any reader of the map could see, and the test would judge noise.
FLOOR = 0.01
Areas = dict[tuple[object, ...], float]


def make_store(kind: str, name: str, deliveries: list[Path], tmp: Path, postgis_url: str | None) -> str:
    """A store of ``kind`` of its own holding only the generated delivery, its cached zooms built."""
    url = services.fresh_database(postgis_url, name) if kind == "postgis" and postgis_url else str(tmp / f"{name}.gpkg")
    ocsge("ingest", "--store", url, *map(str, deliveries))
    ocsge("tiles", "build", "--store", url, "--collection", LAYER.collection_id, "--zooms", f"{ZOOMS[0]}-{ZOOMS[1]}")
    return url


def tiles_over_data(store: FeatureStore, z: int) -> list[tuple[int, int]]:
    extent = store.extent(LAYER, EPSG)
    assert extent is not None
    xs, ys = tile_ranges(_mercator_bounds(extent, EPSG), z)
    return [(x, y) for x in xs for y in ys]


def cached_areas(data: bytes, z: int, fields: tuple[str, ...]) -> Areas:
    """Area (m², EPSG:3857) per value of ``fields`` inside a tile (an exact zoom's tile also draws its buffer)."""
    areas: Areas = collections.Counter()
    unit2 = (tile_span(z) / EXTENT) ** 2
    for feature in decode(data)[LAYER.collection_id].features if data else []:
        inside = shapely.clip_by_rect(feature.geometry, 0, 0, EXTENT, EXTENT)
        areas[tuple(feature.properties[f] for f in fields)] += inside.area * unit2
    return areas


class FullResolution:
    """The layer's polygons in EPSG:3857, to measure what a tile should hold."""

    def __init__(self, url: str) -> None:
        frame = open_store(url).read_frame(LAYER, EPSG)
        self.frame = frame
        self.geoms = reproject(np.asarray(frame.geometry.values, dtype=object), EPSG, pyproj.CRS.from_epsg(3857))
        self.tree = shapely.STRtree(self.geoms)

    def areas(self, z: int, x: int, y: int, fields: tuple[str, ...]) -> Areas:
        bounds = tile_bounds(z, x, y)
        near = self.tree.query(shapely.box(*bounds))
        clipped = shapely.area(shapely.clip_by_rect(self.geoms[near], *bounds))
        areas: Areas = collections.Counter()
        keys = zip(*(self.frame[f].to_numpy()[near] for f in fields), strict=True)
        for key, area in zip(keys, clipped, strict=True):
            areas[tuple(v.item() if hasattr(v, "item") else v for v in key)] += float(area)
        return areas


def store_kinds() -> list[object]:
    return ["gpkg", pytest.param("postgis", marks=pytest.mark.slow)]
