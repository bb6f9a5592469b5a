"""When each step of one artificialisation run happens, and how many cores the run uses meanwhile (issue 18).

One command: ``.venv/bin/python bench/artificialisation_timeline.py [--methode matrix]``, after
bench/artificialisation.py has built its GeoPackage (GENERATED Gironde at cell 185 m, read-only here).

It runs what ``ours`` of bench/artificialisation.py runs (every commune of the département, two millésimes and
their flows) once, and records the start and end of each read (``read_frame``, in the reader thread), of each
stock's measure (``measure.overlay`` and all of ``_stocks``) and of the flows, with the thread each ran on; and,
every quarter of a second, the CPU this process and its reader processes used, as cores (from /proc, so a reader
process counts while it runs). A step that runs alone on fewer than all cores is where the run could still overlap
work. Results: bench/results/artificialisation-timeline-<methode>-<date>.md and .json.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import write_results  # noqa: E402
from features import machine, tree_ticks  # noqa: E402

from ocsge_processes.artificialisation import measure  # noqa: E402
from ocsge_processes.stores import open_store  # noqa: E402
from ocsge_processes.stores.gpkg import GpkgStore  # noqa: E402
from ocsge_processes.workflows import artificialisation as workflow  # noqa: E402
from ocsge_processes.workflows.layer_cache import LayerCache  # noqa: E402

GPKG = ROOT / "bench" / ".cache" / "gironde-cell185-seed0" / "artificialisation.gpkg"
MILLESIMES = (2021, 2024)
SAMPLE_S = 0.25
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu() -> float:
    """CPU seconds of this process and its reader processes, running or ended."""
    return tree_ticks([os.getpid()]) / CLOCK_TICKS


class Timeline:
    """Spans of the steps wrapped by :meth:`wrap`, in seconds from :attr:`start`."""

    def __init__(self) -> None:
        self.start = time.perf_counter()
        self.spans: list[tuple[str, str, float, float]] = []

    def wrap(self, owner: Any, name: str, label: str) -> None:
        step: Callable[..., Any] = getattr(owner, name)

        @functools.wraps(step)
        def timed(*args: Any, **kwargs: Any) -> Any:
            begin = time.perf_counter() - self.start
            try:
                return step(*args, **kwargs)
            finally:
                thread = threading.current_thread().name.split("_")[0]
                self.spans.append((label, thread, begin, time.perf_counter() - self.start))

        setattr(owner, name, timed)


def sample(timeline: Timeline, cores: list[tuple[float, float, float]], done: threading.Event) -> None:
    """Cores in use over each interval of about SAMPLE_S (longer while another thread holds the GIL)."""
    last_cpu, last_wall = cpu(), time.perf_counter()
    while not done.wait(SAMPLE_S):
        now_cpu, now_wall = cpu(), time.perf_counter()
        used = (now_cpu - last_cpu) / (now_wall - last_wall)
        cores.append((last_wall - timeline.start, now_wall - timeline.start, used))
        last_cpu, last_wall = now_cpu, now_wall


def per_second(cores: list[tuple[float, float, float]], seconds: int) -> list[float]:
    """The cores in use within each second, the intervals weighted by their overlap with it."""
    means = []
    for second in range(seconds):
        weights = [(min(end, second + 1) - max(begin, second), used) for begin, end, used in cores]
        within = [(weight, used) for weight, used in weights if weight > 0]
        total = sum(weight for weight, _ in within)
        means.append(sum(weight * used for weight, used in within) / total if total else 0.0)
    return means


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--methode", choices=["decree", "matrix"], default="matrix")
    args = parser.parse_args()
    store = open_store(str(GPKG))
    timeline = Timeline()
    timeline.wrap(GpkgStore, "read_frame", "read")
    timeline.wrap(measure, "overlay", "measure (overlay)")
    timeline.wrap(workflow, "_stocks", "stock (all of it)")
    timeline.wrap(workflow, "_flows", "flows")
    timeline.wrap(LayerCache, "_decided", "decree thresholds" if args.methode == "decree" else "status")
    cores: list[tuple[float, float, float]] = []
    done = threading.Event()
    sampler = threading.Thread(target=sample, args=(timeline, cores, done), daemon=True)
    timeline.start, before = time.perf_counter(), cpu()
    sampler.start()
    workflow.run(store, {"departement": "33"}, list(MILLESIMES), args.methode, detail_communes=True)
    total, used = time.perf_counter() - timeline.start, cpu() - before
    done.set()
    sampler.join()
    answered = max(end for label, _, _, end in timeline.spans if label in ("flows", "stock (all of it)"))
    lines = [
        f"# One artificialisation run, step by step ({args.methode}, {time.strftime('%Y-%m-%d')})",
        "",
        f"Every commune of Gironde, GENERATED OCCUPATION_SOL {' and '.join(map(str, MILLESIMES))} (cell 185 m) "
        f"and their DIFF, GeoPackage. Machine: {machine()}.",
        "",
        f"Run: {total:.2f} s, {used:.1f} CPU s ({used / total:.2f} cores on average); the last stock "
        f"or flows end at {answered:.2f} s, the rest is the document and the frames' release.",
        "",
        "| step | thread | from s | to s | s |",
        "|---|---|---:|---:|---:|",
        *[
            f"| {label} | {thread} | {begin:.2f} | {end:.2f} | {end - begin:.2f} |"
            for label, thread, begin, end in sorted(timeline.spans, key=lambda span: span[2])
        ],
        "",
        "Cores in use, each second (mean of its quarter-second samples):",
        "",
        "| second | " + " | ".join(str(second) for second in range(int(total) + 1)) + " |",
        "|---|" + "---:|" * (int(total) + 1),
        "| cores | " + " | ".join(f"{mean:.1f}" for mean in per_second(cores, int(total) + 1)) + " |",
        "",
    ]
    text = "\n".join(lines)
    print(text)
    spans = [{"step": s[0], "thread": s[1], "from": s[2], "to": s[3]} for s in timeline.spans]
    write_results(f"artificialisation-timeline-{args.methode}", {"seconds": total, "cpu": used, "spans": spans}, text)


if __name__ == "__main__":
    main()
