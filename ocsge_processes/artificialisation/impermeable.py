"""Imperméabilisation: whether a polygon's couverture is sealed, from ``config/artificialisation/impermeable.csv``.

The official tool counts CS1.1.1.1 (built) and CS1.1.1.2 (sealed non-built) whatever the usage (MTES-MCT/sparte
``macros/is_impermeable.sql``); unlike artificialisation, it depends on the couverture alone and has no threshold.
"""

from __future__ import annotations

import csv
import functools

import numpy as np
import pandas as pd

from ..nomenclature import couverture
from ..resources import config_dir
from .rules import RulesError


@functools.cache
def impermeable_codes() -> frozenset[str]:
    """The CS codes counted as sealed: the file's leaves, and every parent code all of whose leaves are listed."""
    path = config_dir() / "artificialisation" / "impermeable.csv"
    with path.open(encoding="utf-8", newline="") as handle:
        listed = {row["cs"].strip() for row in csv.DictReader(handle)}
    nomenclature = couverture()
    leaves = set(nomenclature.leaves())
    unknown = sorted(listed - leaves)
    if unknown:
        raise RulesError(f"{path}: {', '.join(unknown)} are not CS nomenclature leaves")
    parents = {
        code
        for code in nomenclature.codes
        if code not in leaves
        and (below := [leaf for leaf in leaves if code in nomenclature.ancestors(leaf)])
        and set(below) <= listed
    }
    return frozenset(listed | parents)


def impermeable_flags(code_cs: pd.Series) -> np.ndarray:
    """Whether each couverture is sealed (a missing or unknown code is not)."""
    return code_cs.isin(impermeable_codes()).to_numpy(dtype=bool)
