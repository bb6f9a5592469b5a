"""JSON nesting measure on the largest body the server accepts (32 MiB, an execution request), in every shape: all
brackets (deep arrays, deep objects), flat with one huge string (a base64 image), flat with many numbers
(coordinates), and an unclosed string of escaped quotes (malformed; quadratic for the former string pattern).

One command: ``.venv/bin/python bench/jsondepth.py [--mib 32] [--repeat 3]``. Each body is measured ``--repeat``
times in this process (median kept): ``jsondepth.json_depth`` (strings removed, brackets counted), and for scale
``json.loads`` of the same text where it is valid JSON shallow enough to parse. Results go to
bench/results/jsondepth-<date>.md and .json.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from common import host, say, write_results  # noqa: E402

from ocsge_processes.jsondepth import json_depth  # noqa: E402

MiB = 1024 * 1024


def bodies(size: int) -> dict[str, str]:
    """Request bodies of about ``size`` characters."""
    image = base64.b64encode(os.urandom(size * 3 // 4 - 100)).decode()
    point = [-1.123456, 44.654321]
    coordinates = {"inputs": {"territoire": {"type": "Polygon", "coordinates": [[point] * (size // 21)]}}}
    return {
        "deep arrays": "[" * (size // 2) + "]" * (size // 2),
        "deep objects": '{"a":' * (size // 6) + "0" + "}" * (size // 6),
        "flat: base64 image": json.dumps({"inputs": {"image": {"value": image}}}),
        "flat: coordinates": json.dumps(coordinates, separators=(",", ":")),
        "unclosed string of escaped quotes": '{"inputs": {"a": "' + '\\"' * (size // 2 - 10),
    }


def median_s(function: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mib", type=int, default=32)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for name, text in bodies(args.mib * MiB).items():
        say(f"{name}: {len(text) / MiB:.1f} MiB")
        depth = json_depth(text)
        row = {"body": name, "mib": round(len(text) / MiB, 1), "depth": depth}
        row["json_depth_s"] = round(median_s(lambda text=text: json_depth(text), args.repeat), 3)
        if depth < 100 and not name.startswith("unclosed"):
            row["json_loads_s"] = round(median_s(lambda text=text: json.loads(text), args.repeat), 3)
        rows.append(row)
    machine = host()
    lines = [
        f"# JSON nesting measure on {args.mib} MiB bodies (median of {args.repeat})",
        "",
        f"Machine: {machine['cpus']} CPUs, {machine['cpu_model']}, Python {machine['python']}",
        "",
        "| body | MiB | depth | json_depth (s) | json.loads, for scale (s) |",
        "|---|---|---|---|---|",
        *(
            f"| {r['body']} | {r['mib']} | {r['depth']} | {r['json_depth_s']} | {r.get('json_loads_s', '–')} |"
            for r in rows
        ),
        "",
    ]
    path = write_results("jsondepth", {"host": machine, "mib": args.mib, "rows": rows}, "\n".join(lines))
    print(path.read_text(encoding="utf-8"))


if __name__ == "__main__":
    main()
