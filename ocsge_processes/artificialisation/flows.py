"""Artificialisation flows of a territory between two millésimes, from a difference layer.

As the official tool computes them (sparte ``artif_flux_commune.sql``): artificialisation = Σ area of the difference
polygons that became artificial, désartificialisation = Σ area of those that stopped being so, net = the first minus
the second, each also as a % of the territory. The net flow must agree with the change of stock within 0.5 ha
(sparte ``tests/artif_flux_matches_artif_difference.sql``). The imperméabilisation flows are the same sums over the
polygons whose couverture became sealed or stopped being so (``impermeable``), whatever the method.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from ..errors import InvalidInputError
from .impermeable import impermeable_flags
from .measure import M2_PER_HA, Layers, Pieces, measured, percent
from .methods import DECREE, IGN, MATRIX
from .rules import artificial_flags
from .stock import NOT_CLASSIFIED, Stock
from .territory import Territory

#: Codes before and after the change, as the DIFFERENCE and ARTIF DIFF layers name them.
CHANGE_COLUMNS = ("code_cs_avant", "code_us_avant", "code_cs_apres", "code_us_apres")

#: Largest gap (ha) between the net flow and the change of stock that the official tool accepts.
CONSISTENCY_TOLERANCE_HA = 0.5

ARTIFICIALISATION, DESARTIFICIALISATION = 1, -1


@dataclass(frozen=True)
class Transition:
    """Area (ha) that went from one CS × US pair to another, and in which direction it moved artificialisation."""

    code_cs_avant: str
    code_us_avant: str
    code_cs_apres: str
    code_us_apres: str
    #: 1: artificialisation, -1: désartificialisation, 0: no change of status, None: cannot be told.
    sens: int | None
    surface_ha: float
    #: 1: imperméabilisation, -1: désimperméabilisation, 0: sealed before and after, or neither.
    sens_impermeabilisation: int


@dataclass(frozen=True)
class Flows:
    """Artificialisation flows of one territory between two millésimes."""

    territoire: str
    methode: str
    surface_ha: float
    artificialisation_ha: float
    desartificialisation_ha: float
    artificialisation_nette_ha: float
    artificialisation_pct: float
    desartificialisation_pct: float
    artificialisation_nette_pct: float
    #: Changed area whose direction cannot be told (missing or unknown codes); in neither flow.
    surface_non_classee_ha: float
    #: Sealing flows (couverture ``impermeable`` before and after), whatever the method.
    impermeabilisation_ha: float
    desimpermeabilisation_ha: float
    impermeabilisation_nette_ha: float
    impermeabilisation_pct: float
    desimpermeabilisation_pct: float
    impermeabilisation_nette_pct: float
    #: By CS/US transition, largest first.
    transitions: tuple[Transition, ...]


def compute_flows(differences: Layers, territory: Territory, method: str | None = None) -> Flows:
    """Flows of ``territory`` from difference polygons (one layer per CRS of the territory).

    ``method``: ``ign`` reads IGN's ARTIF DIFF field ``artificialisation`` (±1); ``matrix`` compares the matrix class
    before and after. By default ``ign`` when every layer has that field. The decree thresholds cannot be applied to
    changed polygons alone: for decree flows, difference two ``decree`` stocks.
    """
    return compute_all_flows(differences, [territory], method)[0]


def compute_all_flows(differences: Layers, territories: Sequence[Territory], method: str | None = None) -> list[Flows]:
    """The flows of each of ``territories`` (every commune of a département) from one pass over the layers."""
    if not territories:
        return []
    measures = measured(differences, territories, method, _resolve, _measure)
    area_ha, sens = measures.table["area_m2"].to_numpy() / M2_PER_HA, measures.table["sens"]
    artificialisation = measures.per_territory(area_ha * (sens == ARTIFICIALISATION).fillna(False).to_numpy(bool))
    desartificialisation = measures.per_territory(area_ha * (sens == DESARTIFICIALISATION).fillna(False).to_numpy(bool))
    non_classee = measures.per_territory(area_ha * sens.isna().to_numpy())
    sealing = measures.table["sens_impermeabilisation"].to_numpy()
    impermeabilisation = measures.per_territory(area_ha * (sealing == ARTIFICIALISATION))
    desimpermeabilisation = measures.per_territory(area_ha * (sealing == DESARTIFICIALISATION))
    transitions = _transitions(measures.table, measures.count)
    return [
        _flows(
            territory.code,
            measures.method,
            territory.surface_m2 / M2_PER_HA,
            artificialisation_ha=float(artificialisation[position]),
            desartificialisation_ha=float(desartificialisation[position]),
            non_classee_ha=float(non_classee[position]),
            sealing_ha=(float(impermeabilisation[position]), float(desimpermeabilisation[position])),
            transitions=transitions[position],
        )
        for position, territory in enumerate(territories)
    ]


def aggregate_flows(flows: Sequence[Flows], territoire: str) -> Flows:
    """Flows of a territory made of non-overlapping ones: Σ areas, and % of Σ surfaces."""
    methods = {flow.methode for flow in flows}
    if len(methods) != 1:
        raise InvalidInputError(f"cannot aggregate flows computed with different methods: {sorted(methods)}")
    totals: dict[tuple[str, str, str, str, int | None, int], float] = {}
    for flow in flows:
        for item in flow.transitions:
            key = (
                item.code_cs_avant,
                item.code_us_avant,
                item.code_cs_apres,
                item.code_us_apres,
                item.sens,
                item.sens_impermeabilisation,
            )
            totals[key] = totals.get(key, 0.0) + item.surface_ha
    return _flows(
        territoire,
        methods.pop(),
        sum(flow.surface_ha for flow in flows),
        artificialisation_ha=sum(flow.artificialisation_ha for flow in flows),
        desartificialisation_ha=sum(flow.desartificialisation_ha for flow in flows),
        non_classee_ha=sum(flow.surface_non_classee_ha for flow in flows),
        sealing_ha=(
            sum(flow.impermeabilisation_ha for flow in flows),
            sum(flow.desimpermeabilisation_ha for flow in flows),
        ),
        transitions=_sorted(
            Transition(cs_avant, us_avant, cs_apres, us_apres, sens, surface_ha, sealing)
            for (cs_avant, us_avant, cs_apres, us_apres, sens, sealing), surface_ha in totals.items()
        ),
    )


def consistency_gap_ha(flows: Flows, stock_before: Stock, stock_after: Stock) -> float:
    """Change of artificialised stock minus net flow (ha); the official tool accepts up to 0.5 ha either way."""
    change_ha = stock_after.surface_artificialisee_ha - stock_before.surface_artificialisee_ha
    return change_ha - flows.artificialisation_nette_ha


def is_consistent(flows: Flows, stock_before: Stock, stock_after: Stock) -> bool:
    """Whether the flows and the two stocks pass the official consistency rule (|gap| ≤ 0.5 ha)."""
    return abs(consistency_gap_ha(flows, stock_before, stock_after)) <= CONSISTENCY_TOLERANCE_HA


def _resolve(frames: Sequence[gpd.GeoDataFrame], method: str | None) -> str:
    if method is None:
        return IGN if all("artificialisation" in frame.columns for frame in frames) else MATRIX
    if method == DECREE:
        raise InvalidInputError(
            "the decree thresholds need the whole partition, not only the changed polygons: "
            "compute two stocks with method 'decree' and take their difference"
        )
    if method not in (IGN, MATRIX):
        raise InvalidInputError(f"unknown flow method {method!r}; expected {IGN} or {MATRIX}")
    return method


def _measure(frame: gpd.GeoDataFrame, pieces: Pieces, method: str) -> pd.DataFrame:
    """One row per piece of difference polygon inside a territory: which one, area there, direction, codes."""
    missing = [column for column in CHANGE_COLUMNS if column not in frame.columns]
    if missing:
        raise InvalidInputError(f"a difference layer needs {', '.join(missing)}")
    rows = frame.iloc[pieces.row]
    return pd.DataFrame(
        {
            "territory": pieces.territory,
            "area_m2": pieces.area_m2,
            "sens": _sens(rows, method).to_numpy(),
            "sens_impermeabilisation": (
                impermeable_flags(rows["code_cs_apres"]).astype(np.int8)
                - impermeable_flags(rows["code_cs_avant"]).astype(np.int8)
            ),
            **{
                column: rows[column].astype("string").fillna(NOT_CLASSIFIED).to_numpy(dtype=object)
                for column in CHANGE_COLUMNS
            },
        }
    )


def _sens(frame: gpd.GeoDataFrame, method: str) -> pd.Series:
    """1, -1 or 0 per polygon (nullable): from IGN's field, or from the matrix class before and after."""
    if method == IGN:
        values = pd.to_numeric(frame["artificialisation"], errors="coerce").astype("Int64")
        unexpected = sorted(set(values.dropna()) - {ARTIFICIALISATION, DESARTIFICIALISATION})
        if unexpected:
            raise InvalidInputError(f"unexpected `artificialisation` values {unexpected}; IGN writes 1 or -1")
        return values
    before = artificial_flags(frame["code_cs_avant"], frame["code_us_avant"]).astype("Int64")
    after = artificial_flags(frame["code_cs_apres"], frame["code_us_apres"]).astype("Int64")
    return after - before


def _transitions(table: pd.DataFrame, count: int) -> list[tuple[Transition, ...]]:
    """Area by CS/US transition and direction, for each territory."""
    keys = ["territory", *CHANGE_COLUMNS, "sens", "sens_impermeabilisation"]
    sums = table.groupby(keys, dropna=False, sort=False)["area_m2"].sum() / M2_PER_HA
    found: list[list[Transition]] = [[] for _ in range(count)]
    for (position, cs_avant, us_avant, cs_apres, us_apres, value, sealing), surface_ha in zip(
        sums.index, sums, strict=True
    ):
        sens = None if pd.isna(value) else int(value)
        found[position].append(
            Transition(
                str(cs_avant), str(us_avant), str(cs_apres), str(us_apres), sens, float(surface_ha), int(sealing)
            )
        )
    return [_sorted(items) for items in found]


def _sorted(transitions: Iterable[Transition]) -> tuple[Transition, ...]:
    return tuple(sorted(transitions, key=lambda item: (-item.surface_ha, str(item))))


def _flows(
    territoire: str,
    methode: str,
    surface_ha: float,
    *,
    artificialisation_ha: float,
    desartificialisation_ha: float,
    non_classee_ha: float,
    sealing_ha: tuple[float, float],
    transitions: tuple[Transition, ...],
) -> Flows:
    net_ha = artificialisation_ha - desartificialisation_ha
    sealed_ha, unsealed_ha = sealing_ha
    # Keyword arguments, one a line: alike in shape to other calls with many named values, not shared logic.
    return Flows(
        territoire=territoire,
        methode=methode,
        surface_ha=surface_ha,
        artificialisation_ha=artificialisation_ha,
        desartificialisation_ha=desartificialisation_ha,
        artificialisation_nette_ha=net_ha,
        artificialisation_pct=percent(artificialisation_ha, surface_ha),
        desartificialisation_pct=percent(desartificialisation_ha, surface_ha),
        artificialisation_nette_pct=percent(net_ha, surface_ha),
        surface_non_classee_ha=non_classee_ha,
        impermeabilisation_ha=sealed_ha,
        desimpermeabilisation_ha=unsealed_ha,
        impermeabilisation_nette_ha=sealed_ha - unsealed_ha,
        impermeabilisation_pct=percent(sealed_ha, surface_ha),
        desimpermeabilisation_pct=percent(unsealed_ha, surface_ha),
        impermeabilisation_nette_pct=percent(sealed_ha - unsealed_ha, surface_ha),
        transitions=transitions,
    )
