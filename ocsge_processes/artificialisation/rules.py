"""The artificialisation rules as data: the CS × US matrix, the decree categories and thresholds, from ``config/``.

``config/artificialisation/matrix.csv`` is the official tool's matrix (MTES-MCT/sparte ``macros/is_artificial.sql``);
``decree.yml`` is the annex to article R.101-1 of the Code de l'urbanisme (décret n° 2023-1096). Both are validated
when loaded: every code is a nomenclature leaf, every CS × US leaf pair gets an answer, and categories 1° to 5° are
exactly the pairs the matrix calls artificial, so the category and the matrix never disagree.
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import yaml

from ..errors import InvalidInputError, OcsgeError
from ..nomenclature import Nomenclature, couverture, usage
from ..resources import ConfigMapping, config_dir

#: Matches any code in a rule.
ANY = "*"


class RulesError(OcsgeError, ValueError):
    """A rules file under ``config/artificialisation`` is malformed; the message names the file and the entry."""


@dataclass(frozen=True)
class Thresholds:
    """Reference thresholds of the annex to R.101-1 and the codes they apply to."""

    #: 1°: built surfaces count from this footprint.
    built_min_area_m2: float
    #: 2° to 10°: every other surface counts from this footprint or terrain.
    min_area_m2: float
    #: Footnote (*): linear infrastructures are qualified from this width.
    linear_min_width_m: float
    #: Covers to which the built threshold applies.
    built_covers: frozenset[str]
    #: Usages of linear infrastructures, to which the width threshold applies.
    linear_usages: frozenset[str]


@dataclass(frozen=True)
class DecreeCategory:
    """One row of the annex: its number (1 to 10), whether it is artificialised, its wording."""

    number: int
    artificial: bool
    label: str


@dataclass(frozen=True)
class Rules:
    """The matrix and the decree categories, resolved for every pair of nomenclature codes that has one answer."""

    artificial: dict[tuple[str, str], bool]
    category: dict[tuple[str, str], int]
    categories: dict[int, DecreeCategory]
    thresholds: Thresholds


@dataclass(frozen=True)
class _Rule[V: (bool, int)]:
    cs: frozenset[str] | None
    us: frozenset[str] | None
    value: V

    def matches(self, cs: str, us: str) -> bool:
        return (self.cs is None or cs in self.cs) and (self.us is None or us in self.us)


@functools.cache
def rules() -> Rules:
    """The rules shipped in ``config/artificialisation``, loaded once."""
    return load_rules(config_dir() / "artificialisation")


def load_rules(directory: Path) -> Rules:
    """Read and validate ``matrix.csv`` and ``decree.yml`` from ``directory``."""
    cs_nom, us_nom = couverture(), usage()
    matrix_path, decree_path = directory / "matrix.csv", directory / "decree.yml"
    matrix = _read_matrix(matrix_path, cs_nom, us_nom)
    decree = _read_yaml(decree_path)
    categories = _read_categories(decree_path, decree)
    category_rules = [
        _rule(
            decree_path,
            f"rules[{i}]",
            entry.get("cs"),
            entry.get("us"),
            _category_of(decree_path, i, entry, categories),
            cs_nom,
            us_nom,
        )
        for i, entry in enumerate(_list(decree_path, decree, "rules"))
    ]
    leaf_artificial = _resolve_leaves(matrix_path, matrix, cs_nom, us_nom)
    leaf_category = _resolve_leaves(decree_path, category_rules, cs_nom, us_nom)
    for pair, number in leaf_category.items():
        if categories[number].artificial != leaf_artificial[pair]:
            raise RulesError(
                f"{decree_path}: {pair[0]} × {pair[1]} is category {number}°, which says artificial="
                f"{categories[number].artificial}, but matrix.csv says {leaf_artificial[pair]}"
            )
    return Rules(
        artificial=_extend_to_nodes(leaf_artificial, cs_nom, us_nom),
        category=_extend_to_nodes(leaf_category, cs_nom, us_nom),
        categories=categories,
        thresholds=_read_thresholds(decree_path, decree, cs_nom, us_nom),
    )


def is_artificial(code_cs: str, code_us: str) -> bool:
    """Whether the matrix calls ``code_cs`` × ``code_us`` artificial (before the decree thresholds)."""
    return bool(_lookup(rules().artificial, code_cs, code_us))


def decree_category(code_cs: str, code_us: str) -> int:
    """Category (1 to 10) of the annex to R.101-1 for ``code_cs`` × ``code_us``."""
    return int(_lookup(rules().category, code_cs, code_us))


def artificial_flags(code_cs: pd.Series, code_us: pd.Series) -> pd.Series:
    """Vectorised :func:`is_artificial`: nullable booleans, NA where missing, unknown or non-leaf codes leave a
    doubt."""
    values = CodePairs.of(code_cs, code_us).lookup(rules().artificial)
    return pd.Series(pd.arrays.BooleanArray(values == 1, values < 0), index=code_cs.index, name="artificial")


def decree_categories(code_cs: pd.Series, code_us: pd.Series) -> pd.Series:
    """Vectorised :func:`decree_category`: nullable integers, NA where missing, unknown or non-leaf codes leave a
    doubt."""
    values = CodePairs.of(code_cs, code_us).lookup(rules().category)
    return pd.Series(pd.arrays.IntegerArray(values, values < 0), index=code_cs.index, name="category")


def _lookup(table: Mapping[tuple[str, str], int], code_cs: str, code_us: str) -> int:
    couverture().get(code_cs)
    usage().get(code_us)
    try:
        return int(table[(code_cs, code_us)])
    except KeyError:
        raise InvalidInputError(
            f"{code_cs} × {code_us} has no single answer: the leaves under these codes disagree; give leaf codes"
        ) from None


@dataclass(frozen=True)
class CodePairs:
    """The couverture and usage codes of many rows as positions among their distinct values (-1: missing), so
    that a million rows cost a few hundred dict lookups, and every lookup of the same rows shares one pass over
    their strings."""

    cs: np.ndarray
    us: np.ndarray
    cs_values: np.ndarray
    us_values: np.ndarray

    @classmethod
    def of(cls, code_cs: pd.Series, code_us: pd.Series) -> CodePairs:
        cs, cs_values = pd.factorize(code_cs)
        us, us_values = pd.factorize(code_us)
        return cls(cs, us, np.asarray(cs_values, dtype=object), np.asarray(us_values, dtype=object))

    def take(self, rows: np.ndarray) -> CodePairs:
        """The pairs of the rows at positions ``rows``."""
        return CodePairs(self.cs[rows], self.us[rows], self.cs_values, self.us_values)

    def lookup(self, table: Mapping[tuple[str, str], int]) -> np.ndarray:
        """``table``'s answer for each row, -1 where it has none. A missing or unknown code stands for any code:
        CS1.1.1.1 × (no usage) is still artificial, whatever the usage."""
        cs_keys = [*(_known_or_any(code, couverture()) for code in self.cs_values), ANY]
        us_keys = [*(_known_or_any(code, usage()) for code in self.us_values), ANY]
        grid = np.array([[int(table.get((cs, us), -1)) for us in us_keys] for cs in cs_keys], dtype=np.int64)
        found: np.ndarray = grid[self.cs, self.us]  # -1 (missing) picks the last row/column: ANY
        return found

    def couverture_in(self, codes: Collection[str]) -> np.ndarray:
        """Whether each row's couverture is one of ``codes`` (a missing one is not)."""
        listed = np.append(np.isin(self.cs_values, list(codes)), False)
        found: np.ndarray = listed[self.cs]
        return found


def _known_or_any(code: object, nomenclature: Nomenclature) -> str:
    return code if isinstance(code, str) and code in nomenclature.codes else ANY


def _read_matrix(path: Path, cs_nom: Nomenclature, us_nom: Nomenclature) -> list[_Rule[bool]]:
    with path.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    result = []
    for number, row in enumerate(rows, start=2):
        flag = row.get("artificial", "")
        if flag not in ("true", "false"):
            raise RulesError(f"{path}, line {number}: artificial must be true or false, not {flag!r}")
        result.append(
            _rule(
                path,
                f"line {number}",
                (row.get("cs") or "").split(),
                (row.get("us") or "").split(),
                flag == "true",
                cs_nom,
                us_nom,
            )
        )
    return result


def _read_yaml(path: Path) -> ConfigMapping:
    with path.open(encoding="utf-8") as handle:
        data = yaml.safe_load(handle)
    if not isinstance(data, dict):
        raise RulesError(f"{path}: expected a mapping at the top level")
    return data


def _list(path: Path, data: ConfigMapping, key: str) -> list[Any]:
    value = data.get(key)
    if not isinstance(value, list) or not value:
        raise RulesError(f"{path}: {key} must be a non-empty list")
    return value


def _read_categories(path: Path, data: ConfigMapping) -> dict[int, DecreeCategory]:
    entries = data.get("categories")
    if not isinstance(entries, dict) or sorted(entries) != list(range(1, 11)):
        raise RulesError(f"{path}: categories must define 1 to 10, the rows of the annex to R.101-1")
    return {
        number: DecreeCategory(number, bool(entry["artificial"]), str(entry["label"]))
        for number, entry in entries.items()
    }


def _category_of(path: Path, index: int, entry: ConfigMapping, categories: dict[int, DecreeCategory]) -> int:
    number = entry.get("category")
    if number not in categories:
        raise RulesError(f"{path}: rules[{index}] has category {number!r}; expected 1 to 10")
    if entry.get("basis") not in ("source", "inferred"):
        raise RulesError(f"{path}: rules[{index}] needs basis: source or inferred")
    return int(number)


def _read_thresholds(path: Path, data: ConfigMapping, cs_nom: Nomenclature, us_nom: Nomenclature) -> Thresholds:
    values = data.get("thresholds") or {}
    try:
        numbers = {key: float(values[key]) for key in ("built_min_area_m2", "min_area_m2", "linear_min_width_m")}
    except (KeyError, TypeError, ValueError) as error:
        raise RulesError(
            f"{path}: thresholds need numeric built_min_area_m2, min_area_m2, linear_min_width_m ({error})"
        ) from None
    return Thresholds(
        **numbers,
        built_covers=frozenset(_leaves(path, "built_covers", _list(path, data, "built_covers"), cs_nom)),
        linear_usages=frozenset(_leaves(path, "linear_usages", _list(path, data, "linear_usages"), us_nom)),
    )


def _rule[V: (bool, int)](
    path: Path,
    where: str,
    cs: Iterable[str] | None,
    us: Iterable[str] | None,
    value: V,
    cs_nom: Nomenclature,
    us_nom: Nomenclature,
) -> _Rule[V]:
    return _Rule(_code_set(path, where, cs, cs_nom), _code_set(path, where, us, us_nom), value)


def _code_set(path: Path, where: str, codes: Iterable[str] | None, nomenclature: Nomenclature) -> frozenset[str] | None:
    codes = list(codes or [])
    if codes == [ANY]:
        return None
    if not codes:
        raise RulesError(f"{path}, {where}: empty {nomenclature.kind} list; use {ANY!r} to match any code")
    return frozenset(_leaves(path, where, codes, nomenclature))


def _leaves(path: Path, where: str, codes: Iterable[str], nomenclature: Nomenclature) -> list[str]:
    codes = [str(code) for code in codes]
    for code in codes:
        entry = nomenclature.codes.get(code)
        if entry is None or not entry.leaf:
            raise RulesError(
                f"{path}, {where}: {code!r} is not a {nomenclature.kind} leaf; "
                f"expected one of {', '.join(nomenclature.leaves())}"
            )
    return codes


def _resolve_leaves[V: (bool, int)](
    path: Path, table: list[_Rule[V]], cs_nom: Nomenclature, us_nom: Nomenclature
) -> dict[tuple[str, str], V]:
    """First matching rule for every leaf pair; a pair that no rule matches is an error in the file."""
    answers: dict[tuple[str, str], V] = {}
    for cs in cs_nom.leaves():
        for us in us_nom.leaves():
            value = next((rule.value for rule in table if rule.matches(cs, us)), None)
            if value is None:
                raise RulesError(f"{path}: no rule matches {cs} × {us}")
            answers[(cs, us)] = value
    return answers


def _extend_to_nodes[V: (bool, int)](
    leaf_answers: dict[tuple[str, str], V], cs_nom: Nomenclature, us_nom: Nomenclature
) -> dict[tuple[str, str], V]:
    """Give a non-leaf code (CS2.1.1, US4.1) or ANY the answer all its leaves share; none when they disagree."""
    cs_leaves, us_leaves = _leaves_under(cs_nom), _leaves_under(us_nom)
    answers: dict[tuple[str, str], V] = {}
    for cs, cs_set in cs_leaves.items():
        for us, us_set in us_leaves.items():
            values = {leaf_answers[(a, b)] for a in cs_set for b in us_set}
            if len(values) == 1:
                answers[(cs, us)] = values.pop()
    return answers


def _leaves_under(nomenclature: Nomenclature) -> dict[str, set[str]]:
    """Leaves each code stands for: a leaf stands for itself (US235 is a leaf even though US2 lists it as parent)."""
    under: dict[str, set[str]] = {code: set() for code in nomenclature.codes}
    for leaf in nomenclature.leaves():
        under[leaf].add(leaf)
        for ancestor in nomenclature.ancestors(leaf)[1:]:
            if not nomenclature.codes[ancestor].leaf:
                under[ancestor].add(leaf)
    return {**{code: leaves for code, leaves in under.items() if leaves}, ANY: set(nomenclature.leaves())}
