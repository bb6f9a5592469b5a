"""National simulation of issue 18: all of France as a fan-out of one task per département over two workers.

One command: ``.venv/bin/python bench/national.py [--workers N] [--linearity]`` (default 2 workers).

1. Data, GENERATED (not IGN data; cached in bench/.cache/national-<scale>): 101 départements (96 metropolitan, 5
   overseas), each with two millésimes (2021, 2024) and their DIFF made by ``ocsge generate``'s library functions
   (read_communes, generate, write_delivery: the command's code, in two processes instead of 101 start-ups). The
   communes are real where ../shared/data has them (the first communes of Gers, Gironde, Hérault, Nord,
   Pas-de-Calais, Rhône), elsewhere 5 km squares named "GENERATED …", one block per département away from the
   others. Sizes vary from 1 to 24 communes so that time can be set against polygon count.
2. One GeoPackage store, filled by one ``ocsge ingest`` of every delivery.
3. The local topology (deploy/topology.py) with two workers, then one ``ocsge artificialisation --broker`` over
   the 101 départements: each département's time is its worker's own (the line each ends with), the total is the
   command's wall time.
4. Time against polygons per millésime: least-squares line and R²; extrapolation to full size with Gironde's
   full-scale count (1.75 M polygons a millésime, the reference size for every département) on N = 2, 16, 64
   workers (101 equal tasks: ceil(101 / N) rounds).

``--linearity`` runs the same fan-out on 10 GENERATED départements of five sizes spanning 10× (4 to 40 squares of
5 km, two départements a size, seeds every 100 m: about 12 000 to 125 000 polygons a millésime), large enough that
the time that grows with the polygons outweighs each département's fixed part and the noise of a shared machine:
the line is fitted there, and the extrapolation made from it.

Results go to bench/results/national-<date>.md and .json (national-linearity-<date> with ``--linearity``).
"""

from __future__ import annotations

import argparse
import math
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from features import PROJECT_BIN, SHARED, machine, run, say, step, write_results  # noqa: E402

from deploy.topology import Topology  # noqa: E402

CACHE = ROOT / "bench" / ".cache"
METROPOLE = [f"{n:02d}" for n in range(1, 20)] + ["2A", "2B"] + [f"{n:02d}" for n in range(21, 96)]
OVERSEAS = ["971", "972", "973", "974", "976"]
DEPARTEMENTS = METROPOLE + OVERSEAS
#: Real commune contours in ../shared/data (Admin Express 2018), by département.
REAL = {
    "32": "32-gers",
    "33": "33-gironde",
    "34": "34-herault",
    "59": "59-nord",
    "62": "62-pas-de-calais",
    "69": "69-rhone",
}
#: Communes per département, in turn: the spread of sizes the line is fitted on.
SIZES = (1, 2, 4, 8, 16, 24)
SIDE_M = 5000.0
#: Seed spacing (m) outside and inside built-up zones: ~55 polygons a km² on the 5 km squares.
CELL_M, URBAN_CELL_M = 250.0, 40.0
#: Where each overseas block lies in its département's CRS (lower-left corner, m): on the island or in Guyane.
OVERSEAS_ORIGIN = {
    "971": (640000.0, 1770000.0),
    "972": (705000.0, 1615000.0),
    "973": (340000.0, 490000.0),
    "974": (335000.0, 7650000.0),
    "976": (515000.0, 8580000.0),
}
#: Gironde's full-scale OCCUPATION_SOL count (polygons a millésime): the reference size of a full département.
FULL_POLYGONS = 1_750_000
WORKER_COUNTS = (2, 16, 64)
#: The linearity run: squares a département (five sizes spanning 10×), two départements each, and the seed spacing.
LINEAR_SIZES = (4, 8, 16, 28, 40)
LINEAR_CELL_M = 100.0
LINEAR_DEPARTEMENTS = [d for d in METROPOLE if d not in REAL][: 2 * len(LINEAR_SIZES)]
DONE_LINE = re.compile(r"^(\w+): done: .* in ([0-9.]+) s \(([0-9.]+) s CPU\)$")


# -- data -------------------------------------------------------------------------------------------------------


def communes_of(departement: str, count: int, taken: list[tuple[float, float, float, float]], folder: Path) -> Path:
    """The commune file of one département (EPSG:4326 GeoJSON, as Admin Express): real or GENERATED squares."""
    import geopandas as gpd
    import pyogrio
    import shapely

    from ocsge_processes.territory import departement_epsg

    path = folder / f"communes-{departement}.geojson"
    if departement in REAL:
        name = REAL[departement]
        real = pyogrio.read_dataframe(SHARED / "communes-admin-express-2018" / name / f"communes-{name}.geojson")
        frame = (
            real.sort_values("code")
            .head(count)
            .rename(columns={"code": "code_insee"})[["code_insee", "nom", "geometry"]]
        )
        pyogrio.write_dataframe(frame.to_crs(4326), path)
        return path
    epsg = departement_epsg(departement)
    if departement in OVERSEAS_ORIGIN:
        x0, y0 = OVERSEAS_ORIGIN[departement]
    else:
        x0, y0 = _free_slot(taken, count)
    digits = 3 if len(departement) == 2 else 2
    boxes = [
        shapely.box(
            x0 + (i % 4) * SIDE_M, y0 + (i // 4) * SIDE_M, x0 + (i % 4 + 1) * SIDE_M, y0 + (i // 4 + 1) * SIDE_M
        )
        for i in range(count)
    ]
    frame = gpd.GeoDataFrame(
        {
            "code_insee": [f"{departement}{i + 1:0{digits}d}" for i in range(count)],
            "nom": [f"GENERATED commune {i + 1} of {departement}" for i in range(count)],
        },
        geometry=boxes,
        crs=epsg,
    )
    pyogrio.write_dataframe(frame.to_crs(4326), path)
    return path


def _free_slot(taken: list[tuple[float, float, float, float]], count: int) -> tuple[float, float]:
    """The next 80 × 110 km cell of metropolitan France (Lambert-93) clear of the blocks already placed (the real
    communes' included): départements must not overlap, or a commune would count another's polygons."""
    for row in range(9):
        for col in range(12):
            x0, y0 = 150000.0 + col * 80000.0, 6150000.0 + row * 110000.0
            box = (x0 - 5000, y0 - 5000, x0 + 4 * SIDE_M + 5000, y0 + math.ceil(count / 4) * SIDE_M + 5000)
            if not any(box[0] < b[2] and b[0] < box[2] and box[1] < b[3] and b[1] < box[3] for b in taken):
                taken.append(box)
                return x0, y0
    raise RuntimeError("no free cell left for a generated département")


def generate_one(departement: str, communes: Path, out: Path, cell_m: float = CELL_M) -> int:
    """``ocsge generate`` for one département (its library functions); returns the polygons a millésime."""
    from ocsge_processes.generate.communes import read_communes
    from ocsge_processes.generate.dataset import generate
    from ocsge_processes.generate.delivery import write_delivery

    generated = generate(
        read_communes(communes, departement=departement),
        departement=departement,
        cell_size_m=cell_m,
        urban_cell_size_m=URBAN_CELL_M,
        progress=False,
    )
    write_delivery(generated, out, archive=False)
    return len(generated.occupation[2021])


def deliveries(folder: Path, sizes: dict[str, int], cell_m: float) -> list[Path]:
    """Every commune file and delivery folder of the départements (``sizes``: communes of each), generated once
    (cached in ``folder``)."""
    import pyogrio

    done = folder / "complete"
    codes = list(sizes)
    if not done.exists():
        shutil.rmtree(folder, ignore_errors=True)
        folder.mkdir(parents=True)
        taken: list[tuple[float, float, float, float]] = []
        for departement in set(REAL) & set(codes):  # the real blocks first: generated ones go around them
            path = communes_of(departement, sizes[departement], taken, folder)
            taken.append(tuple(pyogrio.read_dataframe(path).to_crs(2154).total_bounds))
        communes = {d: communes_of(d, sizes[d], taken, folder) for d in codes if d not in REAL}
        communes |= {d: folder / f"communes-{d}.geojson" for d in set(REAL) & set(codes)}
        with ProcessPoolExecutor(2) as pool:
            counts = dict(
                zip(
                    codes,
                    pool.map(
                        generate_one,
                        codes,
                        [communes[d] for d in codes],
                        [folder / "ocsge"] * len(codes),
                        [cell_m] * len(codes),
                    ),
                    strict=True,
                )
            )
        say(f"  {sum(counts.values())} polygons a millésime in all")
        done.write_text("generated\n")
    return sorted(folder.glob("communes-*.geojson")) + sorted((folder / "ocsge").iterdir())


def polygon_counts(store: Path) -> dict[str, int]:
    """OCCUPATION_SOL polygons of 2021 per département, across the territory tables."""
    counts: dict[str, int] = {}
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as conn:
        tables = [
            r[0] for r in conn.execute("SELECT table_name FROM gpkg_contents WHERE table_name LIKE 'occupation_sol%'")
        ]
        for table in tables:
            for departement, count in conn.execute(
                f'SELECT departement, count(*) FROM "{table}" WHERE millesime = 2021 GROUP BY departement'
            ):
                counts[departement] = counts.get(departement, 0) + count
    return counts


# -- the fan-out ------------------------------------------------------------------------------------------------


def fan_out(store: Path, workers: int, codes: list[str]) -> tuple[float, dict[str, tuple[float, float]], str]:
    """Wall seconds of the whole batch, each département's own (wall, CPU) seconds, and the command's output."""
    folder = Path(tempfile.mkdtemp(prefix="ocsge-national-"))
    topology = Topology(
        folder,
        PROJECT_BIN,
        str(store),
        replicas=1,
        workers=workers,
        env={"PYTHONPATH": str(ROOT), "OCSGE_DATA_DIR": str(SHARED)},
    )
    try:
        with step(f"local topology with {workers} workers"):
            topology.start()
        command = [
            PROJECT_BIN / "ocsge",
            "artificialisation",
            "--store",
            store,
            "--departement",
            ",".join(codes),
            "--broker",
            topology.broker,
        ]
        start = time.monotonic()
        with step(f"ocsge artificialisation --broker over {len(codes)} départements"):
            result = subprocess.run(
                [str(c) for c in command], capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}
            )
        wall = time.monotonic() - start
        if result.returncode != 0:
            logs = "\n".join(
                f"{log.name}:\n{log.read_text(errors='replace')[-4000:]}" for log in folder.glob("worker*.log")
            )
            raise RuntimeError(f"the fan-out failed:\n{result.stdout[-3000:]}\n{result.stderr[-3000:]}\n{logs}")
        lines = result.stdout.splitlines()
        seconds = {m[1]: (float(m[2]), float(m[3])) for line in lines if (m := DONE_LINE.match(line.strip()))}
        return wall, seconds, result.stdout
    finally:
        topology.stop()
        shutil.rmtree(folder, ignore_errors=True)


def fit(polygons: list[int], seconds: list[float]) -> dict:
    """Least-squares line seconds = a + b × polygons, and its R²."""
    x, y = np.asarray(polygons, dtype=float), np.asarray(seconds, dtype=float)
    slope, intercept = np.polyfit(x, y, 1)
    residual = y - (intercept + slope * x)
    r2 = 1 - float(residual @ residual) / float(((y - y.mean()) ** 2).sum())
    return {"intercept_s": float(intercept), "s_per_polygon": float(slope), "r2": r2}


def extrapolate(line: dict) -> dict:
    """Full-size time: a département of FULL_POLYGONS, 101 of them on N workers (ceil(101 / N) rounds)."""
    one = line["intercept_s"] + line["s_per_polygon"] * FULL_POLYGONS
    return {
        "departement_s": one,
        "workers": {
            n: {"rounds": math.ceil(len(DEPARTEMENTS) / n), "hours": math.ceil(len(DEPARTEMENTS) / n) * one / 3600}
            for n in WORKER_COUNTS
        },
    }


def report(results: dict) -> str:
    line, cpu, full, full_cpu = results["fit"], results["fit_cpu"], results["full_size"], results["full_size_cpu"]
    rows = "\n".join(
        f"| {n} | {w['rounds']} | {w['hours']:.2f} h | {full_cpu['workers'][n]['hours']:.2f} h |"
        for n, w in full["workers"].items()
    )
    walls = sum(w for w, _ in results["seconds"].values())
    cpus = sum(c for _, c in results["seconds"].values())
    count = len(results["polygons"])
    if results["linearity"]:
        title = f"linearity run, {count} départements of five sizes"
        per_departement = "\n".join(
            f"| {d} | {results['communes'][d]} | {results['polygons'][d]:,} | {w:.1f} s | {c:.1f} s |"
            for d, (w, c) in results["seconds"].items()
        )
        data = (
            f"{count} départements of {', '.join(map(str, LINEAR_SIZES))} generated 5 km squares (two of each), "
            f"seeds every {LINEAR_CELL_M:.0f} m"
        )
        table = (
            "\n\n| département | communes | polygons a millésime | wall | CPU |\n| --- | ---: | ---: | ---: | ---: |\n"
            + per_departement
        )
    else:
        title, table = f"{count} départements as one fan-out", ""
        data = f"{count} départements; real commune contours for {', '.join(REAL)}, generated 5 km squares elsewhere"
    return f"""# National simulation (issue 18): {title} ({results["date"]})

Data: GENERATED (`ocsge generate`), not IGN data: {data}; two millésimes (2021, 2024) and their DIFF,
{results["polygons_total"]:,} polygons a millésime in all ({results["polygons_min"]:,} to
{results["polygons_max"]:,} a département). One GeoPackage store.

Machine: {results["machine"]["cpus"]} vCPU {results["machine"]["cpu_model"]}, {results["machine"]["ram_gib"]} GiB,
Python {results["machine"]["python"]}; load average {results["load_before"]} before the run (other work shares
the cores). Local topology (deploy/topology.py): {results["workers"]} Celery workers, one task at a time each.

| measure | value |
| --- | --- |
| wall time of `ocsge artificialisation --broker` ({count} départements) | {results["wall_s"]:.1f} s |
| sum of the départements' own wall times / CPU times | {walls:.1f} s / {cpus:.1f} s |
| wall time = a + b × polygons (a millésime) | {_line(line)} |
| CPU time = a + b × polygons (a millésime) | {_line(cpu)} |{table}

Extrapolation to full size: every département at Gironde's full-scale count ({FULL_POLYGONS:,} polygons a
millésime, the reference size), one pair of millésimes: {full["departement_s"] / 60:.1f} min a département by the
wall-time line ({full_cpu["departement_s"] / 60:.1f} min by the CPU line), each worker with this machine's cores:

| workers | rounds of départements | all of France (wall line) | (CPU line) |
| --- | --- | --- | --- |
{rows}
"""


def _line(fitted: dict) -> str:
    return f"a = {fitted['intercept_s']:.2f} s, b = {fitted['s_per_polygon'] * 1e6:.1f} µs, R² = {fitted['r2']:.3f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--linearity", action="store_true", help="10 départements of five sizes spanning 10×")
    args = parser.parse_args()
    if args.linearity:
        sizes = {d: LINEAR_SIZES[i // 2] for i, d in enumerate(LINEAR_DEPARTEMENTS)}
        cell_m, label = LINEAR_CELL_M, "-".join(map(str, LINEAR_SIZES))
    else:
        sizes = {d: SIZES[i % len(SIZES)] for i, d in enumerate(DEPARTEMENTS)}
        cell_m, label = CELL_M, "-".join(map(str, SIZES))
    codes = list(sizes)
    cache = CACHE / f"national-cell{int(cell_m)}-urban{int(URBAN_CELL_M)}-sizes{label}"
    with step(f"generated deliveries of {len(codes)} départements (cached)"):
        paths = deliveries(cache, sizes, cell_m)
    with tempfile.TemporaryDirectory(prefix="ocsge-national-store-") as tmp:
        store = Path(tmp) / "france.gpkg"
        with step("ocsge ingest of every delivery"):
            run(
                [PROJECT_BIN / "ocsge", "ingest", "--store", store, *paths], env={**os.environ, "PYTHONPATH": str(ROOT)}
            )
        counts = polygon_counts(store)
        load_before = os.getloadavg()[0]
        wall, seconds, output = fan_out(store, args.workers, codes)
    missing = sorted(set(codes) - set(seconds))
    if missing:
        raise RuntimeError(f"no time for {missing}:\n{output[-3000:]}")
    polygons = [counts[d] for d in codes]
    line = fit(polygons, [seconds[d][0] for d in codes])
    cpu_line = fit(polygons, [seconds[d][1] for d in codes])
    import datetime as dt

    results = {
        "date": dt.date.today().isoformat(),
        "linearity": args.linearity,
        "machine": machine(),
        "load_before": round(load_before, 1),
        "workers": args.workers,
        "communes": sizes,
        "polygons": counts,
        "polygons_total": sum(counts.values()),
        "polygons_min": min(counts.values()),
        "polygons_max": max(counts.values()),
        "seconds": seconds,
        "wall_s": wall,
        "fit": line,
        "fit_cpu": cpu_line,
        "full_size": extrapolate(line),
        "full_size_cpu": extrapolate(cpu_line),
    }
    text = report(results)
    print(text)
    say(f"results: {write_results('national-linearity' if args.linearity else 'national', results, text)}")


if __name__ == "__main__":
    main()
