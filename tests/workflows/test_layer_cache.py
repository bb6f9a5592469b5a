"""The layer cache decides each stock's decree status in a thread of its own while the next millésime is read and
the previous one measured: the frames it gives are those the decree gives called directly on the same read."""

from __future__ import annotations

import os
import sys
import threading

import pandas as pd
import pytest
import shapely

from ocsge_processes.artificialisation import DECREE, MATRIX, Territory, TerritoryPart, with_decree_status
from ocsge_processes.layers import OCCUPATION_SOL
from ocsge_processes.parallel import each_in_thread
from ocsge_processes.stores.gpkg import GpkgStore
from ocsge_processes.workflows.layer_cache import DECREE_MARGIN_M, READ_FIELDS, LayerCache, territory_bbox

from ..stores.test_columnar import _written

YEARS = (2021, 2024)


@pytest.fixture
def store(tmp_path) -> GpkgStore:
    store = GpkgStore(tmp_path / "s.gpkg")
    for millesime in YEARS:
        store.replace_slice(
            OCCUPATION_SOL, 2154, _written(millesime, 60), {"departement": "33", "millesime": millesime}
        )
    return store


TERRITORY = Territory(
    "33", "Gironde", "departement", (TerritoryPart(2154, shapely.box(700000, 6600000, 701000, 6600600)),)
)


def _direct(store: GpkgStore, year: int, margin_m: float) -> pd.DataFrame:
    bbox = territory_bbox(TERRITORY, 2154, margin_m)
    return store.read_frame(OCCUPATION_SOL, 2154, bbox, {"millesime": year}, READ_FIELDS[OCCUPATION_SOL.table])


def test_stocks_decided_in_the_background_equal_the_decree_called_directly(store) -> None:
    with LayerCache(store, TERRITORY) as data:
        for year in YEARS:  # as the workflow queues them, all before the first is needed
            data.prefetch_stock({"33": year}, DECREE)
        frames = {year: data.stock_frames({"33": year}, DECREE) for year in YEARS}
    for year in YEARS:
        (frame,) = frames[year]
        expected = with_decree_status(_direct(store, year, DECREE_MARGIN_M))
        pd.testing.assert_frame_equal(frame, expected, check_exact=True)
        assert len(frame) == 60 and frame["artif"].notna().any()


def test_a_stock_without_the_decree_is_the_read_itself(store) -> None:
    with LayerCache(store, TERRITORY) as data:
        (frame,) = data.stock_frames({"33": 2024}, MATRIX)
    pd.testing.assert_frame_equal(frame, _direct(store, 2024, 0.0), check_exact=True)
    assert "artif" not in frame.columns


@pytest.mark.skipif(sys.platform != "linux", reason="per-thread CPU priority is a Linux feature")
def test_reads_keep_the_callers_priority_when_a_background_step_asks_first(store) -> None:
    """The reads are a run's critical path: the reader thread runs at the caller's priority even when the first
    read is asked for by a step running in the background."""
    priorities: list[int] = []
    read = store.read_frame

    def recorded(*args: object, **kwargs: object) -> pd.DataFrame:
        priorities.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return read(*args, **kwargs)

    store.read_frame = recorded
    caller = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    with LayerCache(store, TERRITORY) as data:
        (frames,) = each_in_thread([lambda: data.stock_frames({"33": 2021}, DECREE)], "test")
    assert len(frames[0]) == 60
    assert priorities == [caller]
