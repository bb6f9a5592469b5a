"""The layers of one request, read once for the whole territory and shared by its communes, each département at
the millésime the request gives it."""

from __future__ import annotations

import contextvars
import functools
import threading
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor

import geopandas as gpd
import pandas as pd

from ..artificialisation import DECREE, Territory, with_decree_status
from ..layers import OCCUPATION_SOL, Layer
from ..parallel import in_background
from ..stores import FeatureStore, table_name
from ..territory import departement_epsg

#: Neighbours read around a territory so that the decree's 2 500 m² clusters are not cut at its border.
DECREE_MARGIN_M = 1000.0

#: The fields read of a layer, where the indicators use only some (all the others' are read): of a million
#: polygons, the identifiers and labels they never look at would cost a Python string per row each.
READ_FIELDS = {OCCUPATION_SOL.table: ("code_cs", "code_us", "millesime", "departement")}

#: Stocks whose status is decided at the same time, at most (a request has rarely more than four millésimes).
DECIDERS = 4

#: A read of the cache: table, CRS, margin (m) and the ``equals`` filter.
_ReadKey = tuple[str, int, float, tuple[tuple[str, object], ...]]
#: The millésime of each département (or the pair of millésimes of a difference layer).
Chosen = Mapping[str, int] | Mapping[str, tuple[int, int]]


def territory_bbox(territory: Territory, epsg: int, margin_m: float = 0.0) -> tuple[float, float, float, float]:
    """Bounds of the parts of ``territory`` in ``epsg``, widened by ``margin_m``."""
    minx, miny, maxx, maxy = gpd.GeoSeries([p.geometry for p in territory.parts_in(epsg)]).total_bounds
    return minx - margin_m, miny - margin_m, maxx + margin_m, maxy + margin_m


def margin(method: str) -> float:
    """The margin read around a territory: the decree's clusters look past its border."""
    return DECREE_MARGIN_M if method == DECREE else 0.0


class LayerCache:
    """Layers read once per request for the whole territory, then shared by its communes.

    Reads run one after the other in a background thread, so a millésime is read while the previous one is
    computed (reading holds the GIL, the geometry work mostly does not). The decree's thresholds of each stock run
    in a thread of their own as soon as its read is there, beside the previous millésime's: they are mostly
    single-threaded, and would otherwise leave a core idle at the end. They run in the background
    (``parallel.in_background``), the reads at the caller's priority. Use it as a context manager.
    """

    def __init__(self, store: FeatureStore, territory: Territory) -> None:
        self.store = store
        self.territory = territory
        self._reads: dict[_ReadKey, Future[gpd.GeoDataFrame]] = {}
        self._reader = ThreadPoolExecutor(1, thread_name_prefix="ocsge-read")
        # started here, by the caller: a thread inherits the CPU priority of the one that starts it, and a read
        # asked for first by a computing thread (in the background) would otherwise run at that thread's priority
        self._reader.submit(int).result()
        self._decider = ThreadPoolExecutor(DECIDERS, thread_name_prefix="ocsge-decree")
        self._stocks: dict[tuple[tuple[tuple[str, int], ...], str], Future[list[gpd.GeoDataFrame]]] = {}
        self._lock = threading.RLock()  # prefetch_stock prefetches under it

    def __enter__(self) -> LayerCache:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._decider.shutdown(wait=False, cancel_futures=True)
        self._reader.shutdown(wait=False, cancel_futures=True)

    def prefetch_stock(self, years: Mapping[str, int], method: str) -> Future[list[gpd.GeoDataFrame]]:
        """Start reading OCCUPATION_SOL of each département at its millésime and deciding its status by
        ``method`` (the decree's thresholds, once for all communes); the frames to come."""
        key = (tuple(sorted(years.items())), method)
        with self._lock:
            if key not in self._stocks:
                self.prefetch_at(OCCUPATION_SOL, years, margin(method))
                self._stocks[key] = self._decider.submit(
                    contextvars.copy_context().run, in_background, functools.partial(self._decided, years, method)
                )
            return self._stocks[key]

    def stock_frames(self, years: Mapping[str, int], method: str) -> list[gpd.GeoDataFrame]:
        """OCCUPATION_SOL of each département at its millésime, with the status ``method`` gives each polygon."""
        return self.prefetch_stock(years, method).result()

    def _decided(self, years: Mapping[str, int], method: str) -> list[gpd.GeoDataFrame]:
        frames = self.frames_at(OCCUPATION_SOL, years, margin(method))
        return [with_decree_status(f) if len(f) else f for f in frames] if method == DECREE else frames

    def prefetch(self, layer: Layer, margin_m: float = 0.0, **equals: object) -> None:
        """Start reading ``layer`` (features with the ``equals`` values) in every CRS of the territory."""
        tables = self.store.tables()
        with self._lock:
            for epsg in self.territory.epsgs:
                key: _ReadKey = (layer.table, epsg, margin_m, tuple(sorted(equals.items())))
                if table_name(layer, epsg) in tables and key not in self._reads:
                    bbox = territory_bbox(self.territory, epsg, margin_m)
                    # in the caller's context: a job's reads keep its lifted store time limit (stores/timeout.py)
                    self._reads[key] = self._reader.submit(
                        contextvars.copy_context().run,
                        self.store.read_frame,
                        layer,
                        epsg,
                        bbox,
                        equals,
                        READ_FIELDS.get(layer.table),
                    )

    def prefetch_at(self, layer: Layer, years: Mapping[str, int], margin_m: float = 0.0) -> None:
        """Start reading ``layer`` at every millésime of ``years``."""
        for year in sorted(set(years.values())):
            self.prefetch(layer, margin_m, millesime=year)

    def frames(self, layer: Layer, margin_m: float = 0.0, **equals: object) -> list[gpd.GeoDataFrame]:
        """``layer`` in every CRS of the territory where the store has it."""
        self.prefetch(layer, margin_m, **equals)
        keys: list[_ReadKey] = [
            (layer.table, epsg, margin_m, tuple(sorted(equals.items()))) for epsg in self.territory.epsgs
        ]
        return [self._reads[key].result() for key in keys if key in self._reads]

    def frames_at(self, layer: Layer, years: Mapping[str, int], margin_m: float = 0.0) -> list[gpd.GeoDataFrame]:
        """``layer`` in every CRS of the territory where the store has it, each département of ``years`` at its
        millésime; the polygons of other départements (neighbours read within the margin) at any of those."""
        self.prefetch_at(layer, years, margin_m)
        found = []
        for epsg in self.territory.epsgs:
            here = {d: y for d, y in years.items() if departement_epsg(d) == epsg} or dict(years)
            parts = []
            for year in sorted(set(here.values())):
                key: _ReadKey = (layer.table, epsg, margin_m, (("millesime", year),))
                if key in self._reads:
                    frame = self._reads[key].result()
                    users = [d for d, y in here.items() if y == year]
                    keep = (frame["departement"].isin(users) | ~frame["departement"].isin(years)).to_numpy(bool)
                    parts.append(frame if keep.all() else frame[keep])  # one département: no copy of the layer
            if parts:
                found.append(parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True))
        return found

    def pairs_at(self, layer: Layer, pairs: Mapping[str, tuple[int, int]]) -> list[gpd.GeoDataFrame]:
        """The difference ``layer`` in every CRS of the territory where the store has it, each département of
        ``pairs`` between its two millésimes; other départements' polygons between any of those pairs."""
        chosen = set(pairs.values())
        found = []
        for frame in self.frames(layer):
            departement = frame["departement"]
            pair = pd.Series(list(zip(frame["millesime_avant"], frame["millesime_apres"], strict=True)), frame.index)
            mine = pd.Series([pairs.get(d) for d in departement], index=frame.index, dtype=object)
            keep = (pair == mine) | (~departement.isin(pairs) & pair.isin(chosen))
            found.append(frame if keep.all() else frame[keep.to_numpy(bool)])
        return found
