"""The cached zooms of a layer, built ahead of requests into the store's tile cache, and the one function that says
which tile a client gets (:func:`served_tile`).

Up to :data:`DEEPEST_GENERALISED` the cached zooms are a pyramid of generalised tiles: the deepest is generalised
from the layer's polygons, each zoom above from its four children's features (:mod:`.generalise`), depth first so
that only one path of the pyramid is in memory. A tile is written after its children, and ``replace_slice`` marks
stale every cached tile over the rows it replaced, so a fresh tile has fresh children: a build skips fresh subtrees
whole, which makes it resumable and makes a rebuild after an ingest touch only what the ingest replaced. Each tile
is stored once per millésime filter (the generalised classes carry their millésimes, so a filtered tile is a subset
of the unfiltered one's features).

Cached zooms beyond it are exact: each tile is the very bytes a live request would get (every polygon, with its
identifier), stored so that a request costs a lookup instead of an encoding. They depend on no other tile, so they
are built zoom by zoom, skipping the fresh ones, in batches of :data:`EXACT_BATCH` tiles a transaction.
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import pyproj
import shapely

from ..layers import Layer
from ..stores.base import FeatureStore, TileRequest
from ..stores.tilecache import CachedTile, TileCache, TileSlot, filter_key
from .decode import decode
from .generalise import METHOD, ClassKey, Generalised, Geometries, generalise
from .matrix import (
    BUFFER,
    EXTENT,
    MERCATOR_EPSG,
    ORIGIN,
    simplify_tolerance,
    tile_bounds,
    tile_query_bbox,
    tile_span,
)
from .mvt import encode_layer
from .source import store_tile, tile_fields, to_mercator, typed_equals

#: The deepest generalised zoom. A zoom-14 tile of a dense département still holds up to ~6 000 polygons (805 on
#: average over a generated Gironde at full density), above the ~2 000 past which a tile is generalised; from 15 on
#: a tile holds under ~400, every one of them drawn.
DEEPEST_GENERALISED = 14
#: Zooms cached by default: the generalised ones, and 15-16 exact. Built live on the GeoPackage, a zoom-15 tile
#: costs 12 ms of Python encoding on average (80 ms for the densest), which under eight clients on two workers gave
#: a p95 of 165 ms against the 150 ms target (docs/benchmarks.md); cached, any tile is a lookup. Zooms from 17 on
#: (clients overzoom beyond 16) stay live.
DEFAULT_ZOOMS = (0, 16)
#: Exact tiles written per transaction: a commit per tile would cost more than most zoom-16 tiles' encoding.
EXACT_BATCH = 256
#: Reports progress: tiles done, tiles in all.
Progress = Callable[[int, int], None]


def served_tile(
    store: FeatureStore,
    layer: Layer,
    epsg: int,
    z: int,
    x: int,
    y: int,
    equals: Mapping[str, object] | None = None,
) -> bytes:
    """Tile z/x/y as the server serves it: the cached generalised tile when one is fresh, else built live."""
    cached = cached_tile(store, layer, epsg, z, x, y, equals)
    return cached.data if cached is not None else store_tile(store, layer, epsg, z, x, y, equals)


def cached_tile(
    store: FeatureStore,
    layer: Layer,
    epsg: int,
    z: int,
    x: int,
    y: int,
    equals: Mapping[str, object] | None = None,
) -> CachedTile | None:
    """The fresh cached tile z/x/y for the ``equals`` millésime filter; None when not built or stale, and at once
    (no lookup) at a zoom outside the cached range, where every tile is live."""
    cache = store.tile_cache()
    zooms = cache.cached_zooms(layer, epsg)
    if zooms is None or not zooms[0] <= z <= zooms[1]:
        return None
    return cache.get(layer, epsg, z, x, y, filter_key(typed_equals(layer, equals)))


@dataclass
class BuildReport:
    """What a build did: tiles generalised and written, tiles found fresh (with their subtrees) and kept, and the
    bytes of each unfiltered tile written, per zoom."""

    built: int = 0
    kept: int = 0
    sizes: dict[int, list[int]] = field(default_factory=dict)


#: The store's notes of which generalisation (:data:`generalise.METHOD`) made each layer's cached tiles.
_METHOD_SCOPE = "tiles-method"


def build_pyramid(
    store: FeatureStore,
    layer: Layer,
    epsg: int,
    zooms: tuple[int, int] = DEFAULT_ZOOMS,
    progress: Progress | None = None,
) -> BuildReport:
    """Build the cached zooms of ``layer`` (its table in ``epsg``) over its extent: every missing or stale tile.

    A build with another zoom range than the cache's, or by another generalisation method, empties it first.
    """
    low, high = zooms
    if not 0 <= low <= high <= 24:
        raise ValueError(f"zooms {low}-{high}: expected 0 <= first <= last <= 24")
    cache = store.tile_cache()
    key = f"{layer.collection_id}:{epsg}"
    other_method = store.marks(_METHOD_SCOPE).get(key) != METHOD
    recorded = cache.zooms(layer, epsg)
    # the generalised tiles hang on the deepest generalised zoom: another one makes every one of them wrong, while
    # exact zooms added or dropped leave the others as they are
    other_pyramid = recorded is None or _generalised(recorded) != _generalised(zooms)
    cache.start(layer, epsg, zooms, empty=other_method or other_pyramid)
    if other_method:  # after the emptying: a build cut short in between empties again, never keeps old tiles
        store.set_mark(_METHOD_SCOPE, key, METHOD)
    extent = store.extent(layer, epsg)
    if extent is None:
        return BuildReport()
    builder = _Builder(store, cache, layer, epsg, zooms, _mercator_bounds(extent, epsg), progress)
    if low <= builder.deepest:
        for x, y in builder.covering(low):
            builder.visit(low, x, y)
    for z in range(max(low, builder.deepest + 1), high + 1):
        builder.exact_zoom(z)
    return builder.report


def _generalised(zooms: tuple[int, int]) -> tuple[int, int] | None:
    """The generalised part of a cached zoom range (None when it has none)."""
    low, high = zooms
    return (low, min(high, DEEPEST_GENERALISED)) if low <= DEEPEST_GENERALISED else None


def refresh_pyramid(
    store: FeatureStore, layer: Layer, epsg: int, progress: Progress | None = None
) -> BuildReport | None:
    """Rebuild what a write made stale in ``layer``'s cached zooms, if it has any (None when it has none)."""
    zooms = store.tile_cache().zooms(layer, epsg)
    return None if zooms is None else build_pyramid(store, layer, epsg, zooms, progress)


def tile_ranges(bounds: tuple[float, float, float, float], z: int) -> tuple[range, range]:
    """Columns and rows of the zoom-``z`` tiles meeting ``bounds`` (EPSG:3857)."""
    span, last = tile_span(z), (1 << z) - 1
    x0 = min(last, max(0, math.floor((bounds[0] + ORIGIN) / span)))
    x1 = min(last, max(0, math.floor((bounds[2] + ORIGIN) / span)))
    y0 = min(last, max(0, math.floor((ORIGIN - bounds[3]) / span)))
    y1 = min(last, max(0, math.floor((ORIGIN - bounds[1]) / span)))
    return range(x0, x1 + 1), range(y0, y1 + 1)


class _Builder:
    def __init__(
        self,
        store: FeatureStore,
        cache: TileCache,
        layer: Layer,
        epsg: int,
        zooms: tuple[int, int],
        bounds: tuple[float, float, float, float],
        progress: Progress | None,
    ) -> None:
        self.store, self.cache, self.layer, self.epsg = store, cache, layer, epsg
        self.low, self.high = zooms
        self.deepest = min(self.high, DEEPEST_GENERALISED)
        self.bounds = bounds
        self.progress = progress
        self.fields = tuple(name for name in tile_fields(layer) if name != layer.id_field)
        self.filters = [name for name in self.fields if name.startswith("millesime")]
        self.report = BuildReport()
        self.total = sum(
            len(xs) * len(ys) for xs, ys in (tile_ranges(bounds, z) for z in range(self.low, self.high + 1))
        )
        self.done = 0

    def covering(self, z: int) -> Iterator[tuple[int, int]]:
        xs, ys = tile_ranges(self.bounds, z)
        return itertools.product(xs, ys)

    def children(self, z: int, x: int, y: int) -> list[tuple[int, int]]:
        xs, ys = tile_ranges(self.bounds, z + 1)
        return [(cx, cy) for cx in (2 * x, 2 * x + 1) for cy in (2 * y, 2 * y + 1) if cx in xs and cy in ys]

    def visit(self, z: int, x: int, y: int) -> None:
        """Build tile z/x/y and the stale part of its subtree, unless it is fresh."""
        if self.cache.fresh(self.layer, self.epsg, z, x, y):
            kept = self._subtree(z, x, y)
            self.report.kept += kept
            self._advance(kept)
            return
        if z == self.deepest:
            features = self._from_layer(z, x, y)
        else:
            # children always as stored, decoded: a resumed build makes the bytes a full build makes
            for cx, cy in self.children(z, x, y):
                self.visit(z + 1, cx, cy)
            parts = [self._cached(z + 1, cx, cy) for cx, cy in self.children(z, x, y)]
            keys = [key for part in parts for key in part.keys]
            geoms = np.concatenate([part.geometries for part in parts]) if parts else np.empty(0, dtype=object)
            features = generalise(self.fields, keys, geoms, z, x, y)
        bounds = tile_bounds(z, x, y)
        variants = self._variants(
            Generalised(features.fields, features.keys, on_grid(features.geometries, bounds)), bounds
        )
        self.cache.put(self.layer, self.epsg, TileSlot(z, x, y, tile_query_bbox(z, x, y, self.epsg)), variants)
        self.report.built += 1
        self.report.sizes.setdefault(z, []).append(len(variants[""]))
        self._advance(1)

    def exact_zoom(self, z: int) -> None:
        """Every tile of zoom ``z`` that is not fresh, built as a live request builds it, for each filter."""
        fresh = self.cache.fresh_tiles(self.layer, self.epsg, z)
        batch: list[tuple[TileSlot, dict[str, bytes]]] = []
        for x, y in self.covering(z):
            if (x, y) in fresh:
                self.report.kept += 1
                self._advance(1)
                continue
            data = store_tile(self.store, self.layer, self.epsg, z, x, y)
            # a filtered tile of an empty tile is empty; of another, the live build with that filter (empty where
            # the tile holds nothing of that millésime)
            variants = {"": data} | {
                filter_key(equals): data and store_tile(self.store, self.layer, self.epsg, z, x, y, equals)
                for equals in self._layer_filters
            }
            batch.append((TileSlot(z, x, y, tile_query_bbox(z, x, y, self.epsg)), variants))
            self.report.sizes.setdefault(z, []).append(len(data))
            if len(batch) == EXACT_BATCH:
                self._put_exact(batch)
        self._put_exact(batch)

    @functools.cached_property
    def _layer_filters(self) -> list[dict[str, object]]:
        """Every millésime filter of the layer (each combination of filter fields, with each of their values), read
        once per build: an exact tile is cached for each."""
        values = {name: self.store.distinct(self.layer, self.epsg, name) for name in self.filters}
        return [
            dict(zip(names, combination, strict=True))
            for count in range(1, len(self.filters) + 1)
            for names in itertools.combinations(self.filters, count)
            for combination in itertools.product(*(values[name] for name in names))
        ]

    def _put_exact(self, batch: list[tuple[TileSlot, dict[str, bytes]]]) -> None:
        if batch:
            self.cache.put_many(self.layer, self.epsg, batch)
            self.report.built += len(batch)
            self._advance(len(batch))
            batch.clear()

    def _from_layer(self, z: int, x: int, y: int) -> Generalised:
        """The generalised features of a tile of the deepest cached zoom, from the layer's polygons."""
        request = TileRequest(
            z,
            x,
            y,
            (self.layer.id_field, *self.fields),
            tile_query_bbox(z, x, y, self.epsg),
            simplify_tolerance(z),
            EXTENT,
            BUFFER,
        )
        rows = self.store.tile_rows(self.layer, self.epsg, request)
        geoms = to_mercator(rows.geometries, self.epsg)
        return generalise(self.fields, [tuple(row[1:]) for row in rows.rows], geoms, z, x, y)

    def _cached(self, z: int, x: int, y: int) -> Generalised:
        """The features of a fresh cached tile, decoded back to EPSG:3857 for its parent's generalisation."""
        cached = self.cache.get(self.layer, self.epsg, z, x, y, "")
        decoded = decode(cached.data) if cached is not None else {}
        found = decoded[self.layer.collection_id].features if decoded else []
        keys: list[ClassKey] = [tuple(f.properties.get(name) for name in self.fields) for f in found]
        # on the zoom's grid of tile units with matrix.grid_x/grid_y's arithmetic: shared edges stay the same floats
        unit = 2 * ORIGIN / (EXTENT << z)
        geoms = shapely.transform(
            np.array([f.geometry for f in found], dtype=object),
            lambda c: np.column_stack(
                (-ORIGIN + (x * EXTENT + c[:, 0]) * unit, ORIGIN - (y * EXTENT + c[:, 1]) * unit)
            ),
        )
        return Generalised(self.fields, keys, geoms)

    def _variants(self, features: Generalised, bounds: tuple[float, float, float, float]) -> dict[str, bytes]:
        """The tile's bytes per millésime filter: none, then each combination of millésime values it holds."""
        properties = features.properties()
        name = self.layer.collection_id
        variants = {"": encode_layer(name, features.geometries, properties, bounds, 0.0, EXTENT, 0)}
        for count in range(1, len(self.filters) + 1):
            for names in itertools.combinations(self.filters, count):
                values = sorted({tuple(p[n] for n in names) for p in properties}, key=repr)
                for value in values:
                    equals = dict(zip(names, value, strict=True))
                    chosen = [i for i, p in enumerate(properties) if all(p[n] == v for n, v in equals.items())]
                    variants[filter_key(equals)] = encode_layer(
                        name, features.geometries[chosen], [properties[i] for i in chosen], bounds, 0.0, EXTENT, 0
                    )
        return variants

    def _subtree(self, z: int, x: int, y: int) -> int:
        """Tiles of the pyramid under (and including) z/x/y, for the progress count."""
        count = 0
        for depth in range(self.deepest - z + 1):
            xs, ys = tile_ranges(self.bounds, z + depth)
            first, size = x << depth, 1 << depth
            count += len(range(max(xs.start, first), min(xs.stop, first + size))) * len(
                range(max(ys.start, y << depth), min(ys.stop, (y << depth) + size))
            )
        return count

    def _advance(self, count: int) -> None:
        self.done += count
        if self.progress is not None:
            self.progress(self.done, self.total)


def on_grid(geoms: Geometries, bounds: tuple[float, float, float, float]) -> Geometries:
    """Geometries snapped onto the tile's integer grid while they are valid, so the encoder's rounding keeps them so.

    Rounding large dissolved polygons can make a hole touch its shell; repairing that after the fact (the encoder's
    snap of invalid input) can drop the hole and fill it, adding its area to the class: snap-rounding valid input
    (GEOS's precision reducer) gives valid output, and the encoder then rounds coordinates already on the grid.
    """
    minx, _, maxx, maxy = bounds
    origin, scale = np.array([minx, maxy]), np.array([EXTENT, -EXTENT]) / (maxx - minx)
    units = shapely.set_precision(shapely.transform(geoms, lambda c: (c - origin) * scale), 1.0)
    return shapely.transform(units, lambda c: origin + c / scale)


def _mercator_bounds(extent: tuple[float, float, float, float], epsg: int) -> tuple[float, float, float, float]:
    """A layer's extent (its CRS) as a box in EPSG:3857."""
    transformer = pyproj.Transformer.from_crs(epsg, MERCATOR_EPSG, always_xy=True)
    minx, miny, maxx, maxy = transformer.transform_bounds(*extent, densify_pts=21)
    return float(minx), float(miny), float(maxx), float(maxy)
