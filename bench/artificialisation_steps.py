"""What one millésime of the artificialisation benchmark costs, step by step, in CPU seconds (issue 18).

One command: ``.venv/bin/python bench/artificialisation_steps.py [--rounds 3]``, after bench/artificialisation.py
has built its GeoPackage (GENERATED Gironde at cell 185 m, read-only here).

For each OCCUPATION_SOL millésime: the read the workflow makes (``read_frame`` with ``layer_cache.READ_FIELDS``,
the reader process's CPU included), the decree thresholds (``apply_thresholds``) with their two costliest steps
apart (the STR-tree's candidate pairs; the shared-vertex matching), and the measure of every commune
(``measure.overlay``) with the cutting of the polygons across a commune border apart. Each step runs alone,
``--rounds`` times, and the median CPU seconds (all threads) are kept. Results:
bench/results/artificialisation-steps-<date>.md and .json.

Then the shortest run these steps allow on the machine's cores: nothing of the first millésime can be computed
before it is read, and after that at best every core is busy. With ``--results`` (a results .json of
bench/artificialisation.py, GeoPackage figures), those bounds as ratios to its floor, and the thresholds against
what 1.5× the floor leaves them: the cores' seconds at 1.5× the floor less the CPU ``matrix`` used (``decree``
does all of ``matrix``'s work, then the thresholds); and the shortest run were the contact search no costlier than
its bare primitives (below): the first read, then ``matrix``'s work and such thresholds on every core.

Last, what the two halves of the contact search cost against the primitives they are made of, on 2021 and on the
inputs the thresholds give them: the STR-tree's build and bulk query (also at other node capacities, and over the
boxes alone), the shared-vertex step's one ``np.sort``, and three ways to match the pairs sharing a vertex with the
candidate pairs (the thresholds' one first).
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import resource
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import shapely

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from artificialisation import FLOOR_TARGET, MILLESIMES, measured_cpu  # noqa: E402
from common import write_results  # noqa: E402

from ocsge_processes.artificialisation import measure, thresholds  # noqa: E402
from ocsge_processes.artificialisation.components import found_in  # noqa: E402
from ocsge_processes.layers import OCCUPATION_SOL  # noqa: E402
from ocsge_processes.parallel import WORKERS, query_pairs  # noqa: E402
from ocsge_processes.stores import open_store  # noqa: E402
from ocsge_processes.territory import departement_epsg  # noqa: E402
from ocsge_processes.workflows.layer_cache import DECREE_MARGIN_M, READ_FIELDS, territory_bbox  # noqa: E402
from ocsge_processes.workflows.territories import resolve  # noqa: E402

GPKG = ROOT / "bench" / ".cache" / "gironde-cell185-seed0" / "artificialisation.gpkg"
DEFAULT_CAPACITY = 10  # GEOS's STR-tree node capacity, which shapely.STRtree and so the thresholds use


def cpu() -> float:
    """CPU seconds of this process and its finished children (the reader process)."""
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class Clock:
    """CPU and wall seconds of named calls, summed over one round."""

    def __init__(self) -> None:
        self.cpu: dict[str, float] = {}
        self.wall: dict[str, float] = {}

    def timed(self, name: str, func: Callable[..., object]) -> Callable[..., object]:
        @functools.wraps(func)
        def wrapper(*args: object, **kwargs: object) -> object:
            start_cpu, start_wall = cpu(), time.perf_counter()
            try:
                return func(*args, **kwargs)
            finally:
                self.cpu[name] = self.cpu.get(name, 0.0) + cpu() - start_cpu
                self.wall[name] = self.wall.get(name, 0.0) + time.perf_counter() - start_wall

        return wrapper


def medians(clocks: list[Clock]) -> dict[str, tuple[float, float]]:
    """Median CPU and wall seconds of each named call over the rounds, one clock a round."""
    return {
        name: (statistics.median(c.cpu[name] for c in clocks), statistics.median(c.wall[name] for c in clocks))
        for name in clocks[0].cpu
    }


Wrapper = Callable[[Callable[..., Any]], Callable[..., Any]]


@contextlib.contextmanager
def wrapped(module: object, **wrappers: Wrapper) -> Iterator[None]:
    """Each named function of ``module`` replaced by ``wrapper(function)`` meanwhile, put back afterwards."""
    saved = {name: getattr(module, name) for name in wrappers}
    for name, wrap in wrappers.items():
        setattr(module, name, wrap(saved[name]))
    try:
        yield
    finally:
        for name, function in saved.items():
            setattr(module, name, function)


def recorded(calls: list[tuple[tuple[Any, ...], Any]]) -> Wrapper:
    """A wrapper that appends each call's arguments and result to ``calls``."""

    def wrap(function: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any) -> Any:
            result = function(*args)
            calls.append((args, result))
            return result

        return call

    return wrap


def one_round(store: object, year: int, communes: list, epsg: int, bbox: tuple) -> tuple[Clock, int]:
    """Each step once on millésime ``year``."""
    clock = Clock()
    read = clock.timed("read", store.read_frame)  # type: ignore[attr-defined]
    frame = read(OCCUPATION_SOL, epsg, bbox, {"millesime": year}, READ_FIELDS[OCCUPATION_SOL.table])
    with (
        wrapped(
            thresholds,
            _candidate_pairs=functools.partial(clock.timed, "thresholds: candidate pairs (STR-tree)"),
            _share_a_vertex=functools.partial(clock.timed, "thresholds: shared vertices"),
        ),
        wrapped(measure, _cut=functools.partial(clock.timed, "measure: cutting the polygons across a border")),
    ):
        clock.timed("thresholds (apply_thresholds)", thresholds.apply_thresholds)(frame)
        clock.timed("measure (overlay, every commune)", measure.overlay)(frame, communes, epsg)
    return clock, len(frame)


def bench_figures(path: Path) -> tuple[float, float]:
    """The GeoPackage floor's wall seconds and ``matrix``'s CPU seconds in a results .json of
    bench/artificialisation.py."""
    gpkg = json.loads(path.read_text(encoding="utf-8"))["gpkg"]
    return gpkg["floor"]["seconds"], measured_cpu(gpkg["ours-matrix"])


def contact_search_primitives(store: object, year: int, epsg: int, bbox: tuple, rounds: int) -> dict:
    """Median CPU and wall seconds of the contact search's primitives on millésime ``year``, on the very inputs
    the thresholds give them (caught during one ``apply_thresholds``): the STR-tree over every polygon, bulk
    queried in threads by the polygons that ask, at three node capacities (GEOS's default, 10, is what the
    thresholds use) and over the polygons' boxes; the one ``np.sort`` of the shared-vertex step, on its keys; the
    matching of the pairs that share a vertex with the candidates, as the thresholds do it and two other ways."""
    frame = store.read_frame(  # type: ignore[attr-defined]
        OCCUPATION_SOL, epsg, bbox, {"millesime": year}, READ_FIELDS[OCCUPATION_SOL.table]
    )
    seen: dict[str, list[tuple[tuple[Any, ...], Any]]] = {"_candidate_pairs": [], "_point_hashes": [], "_among": []}
    with wrapped(thresholds, **{name: recorded(calls) for name, calls in seen.items()}):
        thresholds.apply_thresholds(frame)
    (geoms, asked, _), _ = seen["_candidate_pairs"][0]
    _, keys = seen["_point_hashes"][0]
    (values, found), _ = seen["_among"][0]
    asked = np.flatnonzero(asked)

    def tree_query(capacity: int) -> Callable[[], object]:
        return lambda: query_pairs(shapely.STRtree(geoms, node_capacity=capacity), geoms[asked])

    def box_query() -> object:
        boxes = shapely.box(*shapely.bounds(geoms).T)
        return query_pairs(shapely.STRtree(boxes), boxes[asked])

    calls: dict[str, Callable[[], object]] = {
        f"STR-tree, node capacity {capacity}: build and bulk query": tree_query(capacity)
        for capacity in (4, DEFAULT_CAPACITY, 25)
    }
    calls["STR-tree over the boxes (boxes made, then build and bulk query)"] = box_query
    calls[f"np.sort of the {len(keys) / 1e6:.1f} M vertex keys (one core)"] = lambda: np.sort(keys)
    matching = f"{len(found) / 1e6:.1f} M codes of vertex-sharing pairs against {len(values) / 1e6:.1f} M candidates"
    calls[f"{matching}: each code searched in the candidates (thresholds._among)"] = lambda: thresholds._among(
        values, found
    )
    calls[f"{matching}: the codes sorted, then searched"] = lambda: found_in(np.sort(found), values)
    calls[f"{matching}: the codes sorted, the candidates searched in them"] = lambda: found_in(values, np.sort(found))
    clocks = []
    for _ in range(rounds):
        clock = Clock()
        for name, call in calls.items():
            clock.timed(name, call)()
        clocks.append(clock)
    return medians(clocks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--results", type=Path, help="a results .json of bench/artificialisation.py, for ratios")
    args = parser.parse_args()
    if not GPKG.exists():
        sys.exit(f"{GPKG} is missing: run bench/artificialisation.py first")
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    store = open_store(str(GPKG))
    resolved = resolve(store, {"departement": "33"})
    epsg = departement_epsg("33")
    bbox = territory_bbox(resolved.territory, epsg, DECREE_MARGIN_M)
    lines = [f"# Artificialisation steps, one millésime at a time ({time.strftime('%Y-%m-%d')})", ""]
    lines.append(f"{WORKERS} cores; load average before: {os.getloadavg()[0]:.2f}; medians of {args.rounds} rounds")
    totals: dict[str, float] = {}
    first_read = (0.0, 0.0)
    for year in MILLESIMES:
        rounds = [one_round(store, year, list(resolved.communes), epsg, bbox) for _ in range(args.rounds)]
        polygons = rounds[0][1]
        steps_of_year = medians([clock for clock, _ in rounds])
        if year == MILLESIMES[0]:
            first_read = steps_of_year["read"]
        lines += ["", f"## {year}: {polygons} polygons", "", "| step | CPU s | wall s |", "|---|---:|---:|"]
        for name, (median_cpu, median_wall) in steps_of_year.items():
            totals[name] = totals.get(name, 0.0) + median_cpu
            lines.append(f"| {name} | {median_cpu:.2f} | {median_wall:.2f} |")
    needed = [
        "read",
        "thresholds: candidate pairs (STR-tree)",
        "thresholds: shared vertices",
        "measure: cutting the polygons across a border",
    ]
    steps = ["read", "thresholds (apply_thresholds)", "measure (overlay, every commune)"]
    first_cpu, first_wall = first_read
    lines += ["", f"Both millésimes, CPU seconds: {', '.join(f'{name} {totals[name]:.2f}' for name in steps)}.", ""]
    floor, matrix_cpu = bench_figures(args.results) if args.results else (None, None)
    bounds = {}
    for label, names in (("the read, the contact search and the border cuts alone", needed), ("every step", steps)):
        cpu_s = sum(totals[name] for name in names)
        # nothing of the first millésime can be computed before it is read; after that, at best every core is busy
        bounds[label] = first_wall + (cpu_s - first_cpu) / WORKERS
        ratio = f", {bounds[label] / floor:.2f}x a floor of {floor:.2f} s" if floor else ""
        lines.append(
            f"- {label}: {cpu_s:.2f} CPU s; the shortest run they allow on {WORKERS} cores (the first read, then "
            f"the rest on every core) is {bounds[label]:.2f} s{ratio}"
        )
    primitives = contact_search_primitives(store, MILLESIMES[0], epsg, bbox, args.rounds)
    search = totals[needed[1]] + totals[needed[2]]
    budget = ideal_s = None
    if floor and matrix_cpu:
        budget = FLOOR_TARGET * floor * WORKERS - matrix_cpu
        lines.append(
            f"- at {FLOOR_TARGET}x the floor, {WORKERS} cores hold {FLOOR_TARGET * floor * WORKERS:.2f} CPU s; matrix "
            f"used {matrix_cpu:.2f} ({args.results.name}), which leaves {budget:.2f} CPU s for the thresholds of both "
            f"millésimes: they take {totals[steps[1]]:.2f}, the contact search alone {search:.2f} "
            f"({'over' if search > budget else 'within'} what is left)"
        )
        # the contact search at its bare primitives (the tree, the sort) in each millésime, the rest as measured
        tree = primitives[f"STR-tree, node capacity {DEFAULT_CAPACITY}: build and bulk query"][0]
        ordering = next(cpu_s for name, (cpu_s, _) in primitives.items() if name.startswith("np.sort"))
        thresholds_cpu = len(MILLESIMES) * (tree + ordering) + totals[steps[1]] - search
        ideal_s = first_wall + (matrix_cpu + thresholds_cpu - first_cpu) / WORKERS
        lines.append(
            f"- were the contact search no costlier than its tree and its sort ({tree:.2f} + {ordering:.2f} CPU s "
            f"in {MILLESIMES[0]}, taken for each millésime), the thresholds would take {thresholds_cpu:.2f} CPU s; "
            f"with matrix's work, from the end of the first read on every core: {ideal_s:.2f} s, "
            f"{ideal_s / floor:.2f}x the floor"
        )
    lines += ["", f"## The contact search against its primitives ({MILLESIMES[0]})", ""]
    lines += ["| what | CPU s | wall s |", "|---|---:|---:|"]
    lines += [f"| {name} | {cpu_s:.2f} | {wall_s:.2f} |" for name, (cpu_s, wall_s) in primitives.items()]
    text = "\n".join(lines) + "\n"
    print(text)
    figures = {
        "cpu_s": totals,
        "bounds_s": bounds,
        "thresholds_budget_cpu_s": budget,
        "bare_primitives_bound_s": ideal_s,
        "primitives": primitives,
    }
    print(f"results: {write_results('artificialisation-steps', figures, text)}")


if __name__ == "__main__":
    main()
