"""Micro-benchmark of the decree method's vertex matching (issue 18): ``thresholds._share_a_vertex`` against the
implementation it replaced (kept here only, as the baseline).

One command: ``.venv/bin/python bench/share_vertex.py [--millesime 2024] [--rounds 5]``.

It reads one millésime of OCCUPATION_SOL from the generated Gironde GeoPackage of bench/artificialisation.py
(read-only), builds the candidate pairs as ``_deciding_pairs`` does, then runs old and new alternately
``--rounds`` times, checks that both give the same boolean array every time, and prints the median wall and CPU
seconds of each and their ratio, with the load average (a busy machine slows both, not always equally).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pyogrio
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from ocsge_processes.artificialisation.components import found_in, sorted_unique  # noqa: E402
from ocsge_processes.artificialisation.rules import artificial_flags, rules  # noqa: E402
from ocsge_processes.artificialisation.thresholds import (  # noqa: E402
    _candidate_pairs,
    _members,
    _share_a_vertex,
    linear_width_m,
)

GPKG = ROOT / "bench" / ".cache" / "gironde-cell185-seed0" / "artificialisation.gpkg"


def old_share_a_vertex(geoms: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """The replaced implementation (commit 4719e8f): argsort of the vertex hashes, then vertex k against vertex
    k + step in hash order for as long as some hashes are still equal."""
    count = np.int64(max(len(geoms), 1))
    involved = _members(len(geoms), first, second)
    coords, owner = shapely.get_coordinates(geoms[involved], return_index=True)
    owner = involved[owner]
    bits = np.ascontiguousarray(coords).view(np.uint64)
    keys = bits[:, 0] * np.uint64(0x9E3779B97F4A7C15) ^ bits[:, 1]
    order = np.argsort(keys)
    keys = keys[order]
    shared = []
    step = 1
    while True:
        at = np.flatnonzero(keys[step:] == keys[:-step])
        if not len(at):
            break
        a, b = order[at], order[at + step]
        same = (owner[a] != owner[b]) & (coords[a, 0] == coords[b, 0]) & (coords[a, 1] == coords[b, 1])
        low, high = np.minimum(owner[a[same]], owner[b[same]]), np.maximum(owner[a[same]], owner[b[same]])
        shared.append(low * count + high)
        step += 1
    codes = sorted_unique(np.concatenate(shared)) if shared else np.empty(0, dtype=np.int64)
    return found_in(first * count + second, codes)


def candidate_pairs(millesime: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The polygons of one millésime and the candidate pairs ``_deciding_pairs`` would test."""
    frame = pyogrio.read_dataframe(
        GPKG, layer="occupation_sol", where=f"millesime = {millesime}", columns=["code_cs", "code_us"], use_arrow=True
    )
    limits = rules().thresholds
    geoms = np.asarray(frame.geometry.array, dtype=object)
    known = ~artificial_flags(frame["code_cs"], frame["code_us"]).isna().to_numpy()
    linear = frame["code_us"].isin(limits.linear_usages).to_numpy()
    narrow = known & linear & (linear_width_m(geoms) < limits.linear_min_width_m)
    relevant = (shapely.area(geoms) < limits.min_area_m2) | narrow
    first, second = _candidate_pairs(geoms, relevant & known, known)
    return geoms, first, second


def timed(func: Callable[[], np.ndarray]) -> tuple[np.ndarray, float, float]:
    """The result, wall seconds and CPU seconds of ``func()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = func()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--millesime", type=int, default=2024)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    geoms, first, second = candidate_pairs(args.millesime)
    vertices = int(shapely.get_num_coordinates(geoms[_members(len(geoms), first, second)]).sum())
    print(f"millésime {args.millesime}: {len(geoms)} polygons, {len(first)} candidate pairs, {vertices} vertices")
    times: dict[str, list[tuple[float, float]]] = {"old": [], "new": []}
    for _ in range(args.rounds):
        old, *old_times = timed(lambda: old_share_a_vertex(geoms, first, second))
        new, *new_times = timed(lambda: _share_a_vertex(geoms, first, second))
        if not np.array_equal(old, new):
            raise SystemExit(f"different answers: {int((old != new).sum())} pairs differ")
        times["old"].append((old_times[0], old_times[1]))
        times["new"].append((new_times[0], new_times[1]))
    print(f"identical answers in {args.rounds} rounds ({int(new.sum())} pairs share a vertex)")
    medians = {name: np.median(np.array(values), axis=0) for name, values in times.items()}
    for name, (wall, cpu) in medians.items():
        runs = ", ".join(f"{w:.2f}" for w, _ in times[name])
        print(f"{name}: median wall {wall:.3f} s, CPU {cpu:.3f} s (wall of each round: {runs})")
    wall_ratio, cpu_ratio = medians["old"] / medians["new"]
    print(f"old / new: wall {wall_ratio:.2f}x, CPU {cpu_ratio:.2f}x")
    print("load average (1, 5, 15 min): {:.2f} {:.2f} {:.2f}".format(*os.getloadavg()))


if __name__ == "__main__":
    main()
