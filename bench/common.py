"""Helpers every benchmark shares, standard library only: bench/segmentation.py also runs on GPU machines that
have torch but none of the project's other packages."""

from __future__ import annotations

import datetime as dt
import json
import sys
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def say(text: str) -> None:
    """Progress on stderr, so that stdout keeps only the results."""
    print(text, file=sys.stderr, flush=True)


def write_results(name: str, report: dict, text: str) -> Path:
    """bench/results/<name>-<date>.json and .md; returns the .md."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = RESULTS / f"{name}-{dt.date.today().isoformat()}"
    stem.with_suffix(".json").write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    stem.with_suffix(".md").write_text(text, encoding="utf-8")
    return stem.with_suffix(".md")
