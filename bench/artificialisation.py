"""Artificialisation benchmark: every commune of a generated département, stock of two millésimes and the flows
between them, on both stores, against (a) just reading the polygons once and (b) a straightforward geopandas
overlay.

One command: ``.venv/bin/python bench/artificialisation.py [--polygons N]``.

1. Data: the generated Gironde deliveries of bench/features.py (two millésimes of OCCUPATION_SOL, ≥ N polygons
   each, and their DIFF; GENERATED, not IGN data) and the real Gironde communes, ingested once into a GeoPackage
   (cached in bench/.cache) and into a fresh PostGIS (tests/services.py).
2. Each measurement runs in a fresh process, one after the other:
   - ``floor``: our store's ``read_frame`` of both OCCUPATION_SOL millésimes and the DIFF, as the workflow reads
     them, and nothing else;
   - ``ours``: ``workflows.artificialisation.run`` for the département with ``detail_communes`` (what
     ``ocsge artificialisation`` and the process do), default method (``decree``: no ARTIF layer is generated) and
     ``matrix``;
   - ``baseline`` (GeoPackage only; the compute does not depend on the store): the same reads, then
     ``geopandas.overlay(layer, communes, how="intersection")`` per millésime and for the DIFF, matrix flags, a
     groupby per commune. Its per-commune figures are checked against ours (``matrix``) before any ratio is given.
3. Ratios: ours / floor (target ≤ 1.5) and baseline / ours with the same method (target ≥ 10).

Results go to bench/results/artificialisation-<date>.md and .json.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from features import COMMUNES, PROJECT_BIN, generated_deliveries, machine, run, say, step, write_results  # noqa: E402

from tests.services import postgis  # noqa: E402

DEPARTEMENT = "33"
MILLESIMES = (2021, 2024)
FLOOR_TARGET = 1.5
BASELINE_TARGET = 10.0
#: Largest difference (ha) between the baseline's and our per-commune figures.
AGREEMENT_HA = 1e-3


# -- measurements, each in its own process ---------------------------------------------------------------------


def measure(kind: str, store_url: str, methode: str | None) -> dict:
    """Seconds of one measurement and the per-commune figures it produced (code → [artificial ha, net flow ha])."""
    from ocsge_processes.stores import open_store

    store = open_store(store_url)
    start = time.perf_counter()
    if kind == "floor":
        figures = {"polygons": sum(len(frame) for frame in _read(store))}
    elif kind == "ours":
        from ocsge_processes.workflows.artificialisation import run as compute

        document = compute(store, {"departement": DEPARTEMENT}, list(MILLESIMES), methode, detail_communes=True)
        figures = {
            c["code"]: [c["surface_artificialisee_ha"], c["artificialisation_nette_ha"]] for c in document["communes"]
        }
    else:
        figures = _baseline(store, *_read(store))
    return {"seconds": time.perf_counter() - start, "figures": figures}


def _read(store: object) -> list:
    """The layers the workflow reads for the département: each millésime, then the DIFF."""
    from ocsge_processes.layers import DIFFERENCE, OCCUPATION_SOL
    from ocsge_processes.territory import departement_epsg
    from ocsge_processes.workflows.artificialisation import DECREE_MARGIN_M, territory_bbox
    from ocsge_processes.workflows.territories import resolve

    territory = resolve(store, {"departement": DEPARTEMENT}).territory
    epsg = departement_epsg(DEPARTEMENT)
    bbox = territory_bbox(territory, epsg, DECREE_MARGIN_M)
    return [
        *(store.read_frame(OCCUPATION_SOL, epsg, bbox, {"millesime": year}) for year in MILLESIMES),
        store.read_frame(DIFFERENCE, epsg, territory_bbox(territory, epsg)),
    ]


def _baseline(store: object, before: object, after: object, difference: object) -> dict:
    """What an analyst would write with geopandas: overlay with the communes, areas, matrix flags, groupby."""
    import geopandas as gpd

    from ocsge_processes.artificialisation import artificial_flags
    from ocsge_processes.layers import COMMUNES as COMMUNES_LAYER
    from ocsge_processes.territory import departement_epsg

    communes = store.read_frame(COMMUNES_LAYER, departement_epsg(DEPARTEMENT))[["code_insee", "geometry"]]
    artificial = {}
    for year, layer in zip(MILLESIMES, (before, after), strict=True):
        pieces = gpd.overlay(
            layer[["code_cs", "code_us", "geometry"]], communes, how="intersection", keep_geom_type=True
        )
        flags = artificial_flags(pieces.code_cs, pieces.code_us).fillna(False).to_numpy(bool)
        artificial[year] = (pieces.area * flags).groupby(pieces.code_insee).sum() / 10_000
    pieces = gpd.overlay(difference, communes, how="intersection", keep_geom_type=True)
    sens = (
        artificial_flags(pieces.code_cs_apres, pieces.code_us_apres).astype("Int64")
        - artificial_flags(pieces.code_cs_avant, pieces.code_us_avant).astype("Int64")
    ).fillna(0)
    net = (pieces.area * sens.to_numpy(float)).groupby(pieces.code_insee).sum() / 10_000
    latest = artificial[MILLESIMES[-1]]
    return {code: [float(latest.get(code, 0.0)), float(net.get(code, 0.0))] for code in communes.code_insee}


# -- orchestration ----------------------------------------------------------------------------------------------


def ingest(store: str, deliveries: list[Path], marker: Path | None = None) -> None:
    """The deliveries and the real communes into ``store``, by the command users run."""
    if marker is not None and marker.exists():
        return
    with step(f"ocsge ingest into {store if marker else 'PostGIS'}"):
        run([PROJECT_BIN / "ocsge", "ingest", "--store", store, *deliveries, COMMUNES])
    if marker is not None:
        marker.touch()


def timed(kind: str, store: str, methode: str | None = None) -> dict:
    with step(
        f"{kind} on {'PostGIS' if store.startswith('postgresql') else 'GeoPackage'}{f' ({methode})' if methode else ''}"
    ):
        result = run(
            [
                sys.executable,
                __file__,
                "--measure",
                kind,
                "--store",
                store,
                *(["--methode", methode] if methode else []),
            ]
        )
    return json.loads(result.stdout)


def disagreement(ours: dict, baseline: dict) -> float:
    """Largest per-commune gap (ha) between two sets of figures."""
    return max(abs((a or 0.0) - (b or 0.0)) for code in ours for a, b in zip(ours[code], baseline[code], strict=True))


def report(results: dict, polygons: int, cell: int) -> str:
    lines = [
        f"# Artificialisation benchmark, {dt.date.today().isoformat()}",
        "",
        f"Every commune of Gironde ({len(results['gpkg']['ours-decree']['figures'])} real communes), "
        f"GENERATED OCCUPATION_SOL {MILLESIMES[0]} and {MILLESIMES[1]} ({polygons} polygons in all, cell "
        f"{cell} m) and their DIFF: two stocks + flows per commune.",
        "",
        f"Machine: {json.dumps(machine(), ensure_ascii=False)}",
        "",
        "| store | floor (read once) | ours, decree (default) | ours, matrix | geopandas overlay (matrix) |",
        "|---|---|---|---|---|",
    ]
    ratios = []
    for key, label in (("gpkg", "GeoPackage"), ("postgis", "PostGIS")):
        r = results[key]
        floor = r["floor"]["seconds"]
        cells = [f"{floor:.1f} s"]
        for name in ("ours-decree", "ours-matrix"):
            seconds = r[name]["seconds"]
            cells.append(f"{seconds:.1f} s ({seconds / floor:.2f}× floor)")
            ratios.append(
                f"{label} {name} / floor: {seconds / floor:.2f} (target ≤ {FLOOR_TARGET}: "
                f"{'PASS' if seconds / floor <= FLOOR_TARGET else 'MISS'})"
            )
        if "baseline" in r:
            base = r["baseline"]["seconds"]
            speedup = base / r["ours-matrix"]["seconds"]
            cells.append(f"{base:.1f} s (ours {speedup:.1f}× faster)")
            ratios.append(
                f"{label} baseline / ours (matrix): {speedup:.1f} (target ≥ {BASELINE_TARGET}: "
                f"{'PASS' if speedup >= BASELINE_TARGET else 'MISS'}); largest per-commune gap "
                f"{r['gap_ha']:.2e} ha"
            )
        else:
            cells.append("(same compute as GeoPackage)")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return "\n".join([*lines, "", *[f"- {line}" for line in ratios], ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--polygons", type=int, default=1_000_000, help="minimum OCCUPATION_SOL polygons per millésime")
    parser.add_argument("--measure", choices=["floor", "ours", "baseline"], help=argparse.SUPPRESS)
    parser.add_argument("--store", help=argparse.SUPPRESS)
    parser.add_argument("--methode", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        print(json.dumps(measure(args.measure, args.store, args.methode)))
        return

    delivery_root, cell = generated_deliveries(args.polygons)
    deliveries = sorted(p for p in delivery_root.iterdir() if p.is_dir())
    gpkg = delivery_root.parent / "artificialisation.gpkg"
    ingest(str(gpkg), deliveries, delivery_root.parent / ".artificialisation-gpkg-done")
    results = {}
    with postgis() as pg_url:
        ingest(pg_url, deliveries)
        subprocess.run(["psql", pg_url, "-qc", "VACUUM ANALYZE"], check=True)
        for key, store in (("gpkg", str(gpkg)), ("postgis", pg_url)):
            results[key] = {
                "floor": timed("floor", store),
                "ours-decree": timed("ours", store),
                "ours-matrix": timed("ours", store, "matrix"),
            }
    results["gpkg"]["baseline"] = timed("baseline", str(gpkg))
    results["gpkg"]["gap_ha"] = disagreement(
        results["gpkg"]["ours-matrix"]["figures"], results["gpkg"]["baseline"]["figures"]
    )
    if results["gpkg"]["gap_ha"] > AGREEMENT_HA:
        raise SystemExit(f"the baseline and ours disagree by {results['gpkg']['gap_ha']} ha on a commune")
    text = report(results, results["gpkg"]["floor"]["figures"]["polygons"], cell)
    print(text)
    say(f"results: {write_results('artificialisation', results, text)}")


if __name__ == "__main__":
    main()
