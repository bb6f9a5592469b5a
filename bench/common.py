"""Helpers every benchmark shares, standard library only: bench/segmentation.py also runs on GPU machines that
have torch but none of the project's other packages."""

from __future__ import annotations

import datetime as dt
import json
import os
import platform
import re
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def say(text: str) -> None:
    """Progress on stderr, so that stdout keeps only the results."""
    print(text, file=sys.stderr, flush=True)


def write_results(name: str, report: dict, text: str) -> Path:
    """bench/results/<name>-<date>.json and .md, or <name>-<date>-<tag> with ``BENCH_TAG=<tag>`` set (so that a
    second run of the day does not overwrite the files the docs cite); returns the .md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    tag = os.environ.get("BENCH_TAG", "")
    if tag and not re.fullmatch(r"[a-z0-9-]+", tag):
        sys.exit(f"BENCH_TAG must be lowercase letters, digits and dashes, not {tag!r}")
    stem = RESULTS / f"{name}-{dt.date.today().isoformat()}{f'-{tag}' if tag else ''}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    stem.with_suffix(".md").write_text(text, encoding="utf-8")
    return stem.with_suffix(".md")


def cpu_model() -> str:
    return next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )


def host() -> dict:
    """What the numbers were measured on: cores, CPU, memory, kernel, Python (each bench adds its own parts)."""
    mem_kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1])
    return {
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model(),
        "ram_gib": round(mem_kb / 2**20, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
    }
