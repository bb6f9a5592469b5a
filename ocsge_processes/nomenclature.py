"""The OCS GE couverture (CS) and usage (US) nomenclatures, read from ``config/nomenclature``.

The CSV files are the single source for codes, labels and colours; everything else (labels in collections, enums
in queryables, map styles) derives from here.
"""

from __future__ import annotations

import csv
import functools
from dataclasses import dataclass
from pathlib import Path

from .errors import UnknownCodeError
from .resources import config_dir

#: IGN minimum mapping units (legend "OCS GE socle – Couverture du sol", UMI), in m²: buildings (CS1.1.1.1), anything
#: else inside a zone construite, and everywhere else. Generated data keeps to them and segmentation output too.
MIN_AREA_BUILDING_M2 = 200.0
MIN_AREA_BUILT_UP_M2 = 500.0
MIN_AREA_M2 = 2500.0


@dataclass(frozen=True)
class Code:
    """One nomenclature entry."""

    code: str
    parent: str | None
    leaf: bool
    label: str
    short_label: str
    color: str


@dataclass(frozen=True)
class Nomenclature:
    """A code list (CS or US) with lookups by code."""

    kind: str
    codes: dict[str, Code]

    def label(self, code: str | None) -> str | None:
        """Label of ``code``; None for a missing code, so that null stays null."""
        if code is None:
            return None
        return self.get(code).label

    def get(self, code: str) -> Code:
        """Entry of ``code``, or an error that lists what the nomenclature allows."""
        try:
            return self.codes[code]
        except KeyError:
            raise UnknownCodeError(
                f"unknown {self.kind} code {code!r}; expected one of {', '.join(self.codes)}"
            ) from None

    def leaves(self) -> list[str]:
        """Codes that occur in deliveries (the enum of ``code_cs``/``code_us``)."""
        return [c.code for c in self.codes.values() if c.leaf]

    def ancestors(self, code: str) -> list[str]:
        """``code`` and its parents, nearest first."""
        chain = []
        current: str | None = code
        while current:
            chain.append(current)
            current = self.get(current).parent
        return chain


def _read(path: Path, kind: str) -> Nomenclature:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    codes = {
        row["code"]: Code(
            code=row["code"],
            parent=row["parent"] or None,
            leaf=row["leaf"] == "true",
            label=row["label"],
            short_label=row["short_label"],
            color=row["color"],
        )
        for row in rows
    }
    for entry in codes.values():
        if entry.parent is not None and entry.parent not in codes:
            raise ValueError(f"{path}: parent {entry.parent!r} of {entry.code} is not defined")
    return Nomenclature(kind, codes)


@functools.cache
def couverture() -> Nomenclature:
    """The CS nomenclature."""
    return _read(config_dir() / "nomenclature" / "couverture.csv", "couverture (CS)")


@functools.cache
def usage() -> Nomenclature:
    """The US nomenclature."""
    return _read(config_dir() / "nomenclature" / "usage.csv", "usage (US)")
