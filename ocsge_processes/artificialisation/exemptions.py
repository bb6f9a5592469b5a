"""The optional exemptions of the décret n° 2023-1096: ground-mounted photovoltaic parks and public parks and gardens
may count as non-artificialised. IGN publishes them as "OCS GE Artificialisation avec exemptions".

The rules are data (``config/artificialisation/exemptions.csv``, each with its source): which exemptions exist, the
couvertures each may cover and the area from which it applies. A polygon claims an exemption in its ``exemption``
field; the claim applies where IGN's ``artif`` says artificialised, its couverture qualifies and the touching
polygons claiming the same exemption reach the area threshold together (a park is one place, however many
polygons IGN cut it into). How IGN's delivery spells the claim is UNCONFIRMED (docs/artificialisation.md).
"""

from __future__ import annotations

import csv
import functools
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InvalidInputError
from ..nomenclature import couverture
from ..resources import config_dir
from .components import connected_components
from .measure import M2_PER_HA, Layers, layers_by_epsg, overlay, totals
from .methods import artificial_status
from .rules import RulesError
from .territory import Territory

#: The column of the exemption layer that names the exemption a polygon claims.
EXEMPTION_COLUMN = "exemption"


@dataclass(frozen=True)
class ExemptionRule:
    """One exemption: the couvertures it may cover (None: any), those it never covers, its area threshold."""

    exemption: str
    libelle: str
    couvertures: frozenset[str] | None
    sauf: frozenset[str]
    surface_min_m2: float
    #: "source" when a source states the rule, "inferred" when it is our reading of one.
    basis: str
    source: str

    def qualifies(self, code_cs: pd.Series) -> np.ndarray:
        """Whether each couverture may carry this exemption."""
        allowed = np.ones(len(code_cs), dtype=bool) if self.couvertures is None else code_cs.isin(self.couvertures)
        return np.asarray(allowed & ~code_cs.isin(self.sauf), dtype=bool)


@functools.cache
def exemption_rules() -> dict[str, ExemptionRule]:
    """The rules of ``config/artificialisation/exemptions.csv``, by exemption name."""
    return load_exemption_rules(config_dir() / "artificialisation" / "exemptions.csv")


def load_exemption_rules(path: Path) -> dict[str, ExemptionRule]:
    """Rules read from ``path``, every code checked against the CS nomenclature and expanded to the codes below it
    (a rule on CS2 covers CS2.2.1, which data may carry)."""
    found: dict[str, ExemptionRule] = {}
    with path.open(encoding="utf-8", newline="") as handle:
        for row in csv.DictReader(handle):
            name = row["exemption"].strip()
            if not row["source"].strip() or row["basis"].strip() not in ("source", "inferred"):
                raise RulesError(f"{path}: exemption {name!r} needs a source and a basis (source or inferred)")
            listed = row["couvertures"].split()
            found[name] = ExemptionRule(
                exemption=name,
                libelle=row["libelle"].strip(),
                couvertures=None if listed == ["*"] else _below(path, listed),
                sauf=_below(path, row["sauf"].split()),
                surface_min_m2=float(row["surface_min_m2"]),
                basis=row["basis"].strip(),
                source=row["source"].strip(),
            )
    return found


def applied_exemptions(polygons: gpd.GeoDataFrame, rules: dict[str, ExemptionRule] | None = None) -> pd.Series:
    """The exemption that applies to each polygon (its name), or None where none does.

    A claim applies to a polygon IGN calls artificialised whose couverture qualifies, when the touching polygons
    with the same applicable claim reach the rule's area together. An unknown claim is refused, never ignored.
    """
    rules = exemption_rules() if rules is None else rules
    result = pd.Series([None] * len(polygons), index=polygons.index, dtype=object)
    if EXEMPTION_COLUMN not in polygons.columns or polygons.empty:
        return result
    claims = polygons[EXEMPTION_COLUMN].astype(object).where(polygons[EXEMPTION_COLUMN].notna(), None)
    claims = claims.map(lambda value: str(value).strip() or None if value is not None else None)
    unknown = sorted(set(claims.dropna()) - set(rules))
    if unknown:
        raise InvalidInputError(
            f"unknown exemption {', '.join(map(repr, unknown))} in the exemption layer; expected one of "
            f"{', '.join(rules)} (config/artificialisation/exemptions.csv)"
        )
    artificial = artificial_status(polygons, "ign").fillna(False).to_numpy(dtype=bool)
    geoms = np.asarray(polygons.geometry.array, dtype=object)
    for name, rule in rules.items():
        candidate = (claims == name).to_numpy(dtype=bool) & artificial & rule.qualifies(polygons["code_cs"])
        at = np.flatnonzero(candidate)
        if not len(at):
            continue
        reached = _group_area_m2(geoms[at]) >= rule.surface_min_m2
        result.iloc[at[reached]] = name
    return result


def with_exemptions(polygons: gpd.GeoDataFrame, rules: dict[str, ExemptionRule] | None = None) -> gpd.GeoDataFrame:
    """``polygons`` with ``artif`` set to ``non artif`` where an exemption applies: the stock avec exemptions."""
    applied = applied_exemptions(polygons, rules)
    return polygons.assign(artif=polygons["artif"].where(applied.isna(), "non artif"))


def exempted_areas_ha(
    layers: Layers, territories: Sequence[Territory], rules: dict[str, ExemptionRule] | None = None
) -> list[dict[str, float]]:
    """Per territory, the area (ha) each exemption takes out of the artificialised stock, cut at its border."""
    rules = exemption_rules() if rules is None else rules
    sums = {name: np.zeros(len(territories)) for name in rules}
    for epsg, frame in layers_by_epsg(layers, territories).items():
        applied = applied_exemptions(frame, rules).to_numpy(dtype=object)
        pieces = overlay(frame, territories, epsg)
        for name in rules:
            weights = pieces.area_m2 * (applied[pieces.row] == name)
            sums[name] += totals(pieces.territory, weights, len(territories))
    return [{name: float(sums[name][position]) / M2_PER_HA for name in rules} for position in range(len(territories))]


def _group_area_m2(geoms: np.ndarray) -> np.ndarray:
    """For each polygon, the area of the touching polygons it forms one place with (itself included)."""
    tree = shapely.STRtree(geoms)
    first, second = tree.query(geoms, predicate="intersects")
    groups = connected_components(len(geoms), first, second)
    area = shapely.area(geoms)
    group_area: np.ndarray = np.bincount(groups, weights=area)[groups]
    return group_area


def _below(path: Path, codes: list[str]) -> frozenset[str]:
    """``codes`` and every CS code under them, each checked to be in the nomenclature."""
    nomenclature = couverture()
    unknown = [code for code in codes if code not in nomenclature.codes]
    if unknown:
        raise RulesError(f"{path}: {', '.join(unknown)} are not CS nomenclature codes")
    wanted = set(codes)
    return frozenset(
        code for code in nomenclature.codes if code in wanted or wanted & set(nomenclature.ancestors(code))
    )
