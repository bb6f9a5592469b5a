"""The declared shapely floor provides what generate calls: ``coverage_clean`` is new in shapely 2.2.

pyproject said ``shapely>=2.1``, with which ``ocsge generate`` fails on ``shapely.coverage_clean``; mypy found it
(types-shapely 2.1 does not list the function).
"""

from __future__ import annotations

import tomllib
from pathlib import Path

import shapely
from packaging.requirements import Requirement

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


def _shapely_requirement() -> Requirement:
    dependencies = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]
    return next(req for req in map(Requirement, dependencies) if req.name == "shapely")


def test_floor_excludes_shapely_without_coverage_clean() -> None:
    specifier = _shapely_requirement().specifier
    assert not specifier.contains("2.1.2")  # the last release before coverage_clean
    assert specifier.contains(shapely.__version__)
    assert callable(shapely.coverage_clean)
