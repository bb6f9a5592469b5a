"""The columns of the official tool's open data (MTES-MCT/sparte, "Mon Diagnostic Artificialisation", published on
data.gouv.fr), so that a user can diff our figures against theirs with no renaming. Only the exports use these
names; our collections and the process document keep ours.

Facts read from sparte at commit ``SPARTE_COMMIT`` (2026-04-17): the dbt models
``airflow/include/sql/sparte/models/for_export/ocsge/{artif,imper}/for_export_<indicator>_<level>.sql`` give the
columns and their order, ``airflow/dags/data_gouv/configs.py`` the file and layer names (``artif_commune.csv``,
``artif_commune.gpkg`` with layer ``artif_commune``), ``SQLToCSVOnS3Handler.py`` the CSV (GDAL's CSV driver, strings
always quoted, no geometry column). Surfaces are m² (planar areas, never converted to ha in those models), percents
are 0-100 and unrounded: ``pourcent = surface / surface of the land × 100``, a land's figures being sums over its
communes; ``flux_surface_1_2`` and ``flux_percent_1_2`` are the changes of stock between the 1st and 2nd millésime
(in m² and in points of percent). Millésimes are indexed by rank in each département (``millesimes_1`` lists the years
of rank 1, as ``"2018, 2019"`` when the départements differ).

sparte exports ranks 1 and 2 only. Its columns come first, all of them and in its order; after them, a third
millésime (M3) extends the same pattern: ``millesimes_3``, ``pourcent_artif_3``, ``surface_artif_3``,
``flux_surface_2_3``, ``flux_percent_2_3``; then ours, which its export lacks: the gross flows of the difference
layers (``flux_artif_1_2``, ``flux_desartif_1_2``, ``flux_artif_net_1_2``, in m²), named as sparte's own proposal for
data.gouv (``airflow/dags/data_gouv/propositions_ocsge.md``) names them, with the pair's ranks.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal, get_args

#: The sparte commit the names were read from.
SPARTE_COMMIT = "baa213731ac71463f571ae022a9ee3465ed818a3"

Level = Literal["commune", "epci", "scot", "departement", "region"]
Indicator = Literal["artif", "imper"]
LEVELS: tuple[Level, ...] = get_args(Level)
INDICATORS: tuple[Indicator, ...] = get_args(Indicator)
FORMATS = ("csv", "gpkg")

#: Columns after the land's code and name: the département row names its région first, the commune row ends with
#: its memberships and its area.
_LEADING: dict[Level, tuple[str, ...]] = {"departement": ("region_code",)}
_TRAILING: dict[Level, tuple[str, ...]] = {
    "commune": ("departement_code", "region_code", "epci_code", "scot_code", "commune_surface")
}
#: Ranks every export has, so that sparte's columns are there even for a single millésime.
BASE_RANKS = (1, 2)
#: The geometry column of the GeoPackage (sparte's ``geom``, in EPSG:4326).
GEOMETRY_COLUMN = "geom"
EPSG = 4326


@dataclass(frozen=True)
class RankStock:
    """A land at one millésime rank: the years its départements used and its stock areas (m²; None: unknown)."""

    years: frozenset[int]
    artif_m2: float | None
    imper_m2: float | None


@dataclass(frozen=True)
class PairFlows:
    """A land's gross flows between two ranks, from the difference layers (m²; None: no difference layer)."""

    artif_m2: float | None
    desartif_m2: float | None
    imper_m2: float | None
    desimper_m2: float | None


@dataclass(frozen=True)
class Land:
    """A commune, or a land made of communes, with its figures by rank and by pair of ranks."""

    code: str
    nom: str | None
    surface_m2: float
    stocks: dict[int, RankStock]
    flows: dict[tuple[int, int], PairFlows]
    #: ``departement_code``, ``region_code``, ``epci_code``, ``scot_code`` where known.
    memberships: dict[str, str | None] = field(default_factory=dict)


def export_ranks(lands: Iterable[Land]) -> tuple[int, ...]:
    """The ranks an export has columns for: 1, 2 and any other a land holds."""
    return tuple(sorted({*BASE_RANKS, *(rank for land in lands for rank in land.stocks)}))


def columns(level: Level, indicator: Indicator, ranks: Sequence[int]) -> list[str]:
    """The export's columns, geometry aside: sparte's, in its order (``ranks`` starts with ``BASE_RANKS``), then
    ours: the ranks beyond, then the gross flows."""
    names = [f"{level}_code", "nom", *_LEADING.get(level, ())]
    blocks = []
    for previous, rank in [(None, ranks[0]), *pairwise(ranks)]:
        block = [f"millesimes_{rank}", f"pourcent_{indicator}_{rank}", f"surface_{indicator}_{rank}"]
        if previous is not None:
            block += [f"flux_surface_{previous}_{rank}", f"flux_percent_{previous}_{rank}"]
        blocks.append(block)
    base = len(BASE_RANKS)  # sparte's ranks, then its trailing columns, then the ranks it does not export
    names += [name for block in blocks[:base] for name in block]
    names += _TRAILING.get(level, ())
    names += [name for block in blocks[base:] for name in block]
    for previous, rank in pairwise(ranks):
        names += [f"{name}_{previous}_{rank}" for name in gross_flow_names(indicator)]
    return names


def is_text(name: str) -> bool:
    """Whether a column holds text (codes, names, lists of years); the others are numbers."""
    return name.endswith("_code") or name == "nom" or name.startswith("millesimes_")


def gross_flow_names(indicator: Indicator) -> tuple[str, str, str]:
    """Our gross flow columns' stems: gain, loss, net."""
    return f"flux_{indicator}", f"flux_des{indicator}", f"flux_{indicator}_net"


def row(land: Land, level: Level, indicator: Indicator, ranks: Sequence[int]) -> dict[str, object]:
    """One line of the export: ``columns(level, indicator, ranks)`` as keys."""
    values: dict[str, object] = {f"{level}_code": land.code, "nom": land.nom}
    values |= {name: land.memberships.get(name) for name in (*_LEADING.get(level, ()), *_TRAILING.get(level, ()))}
    if level == "commune":
        values["commune_surface"] = _m2(land.surface_m2)
    percents: dict[int, float | None] = {}
    surfaces: dict[int, float | None] = {}
    for rank in ranks:
        stock = land.stocks.get(rank)
        surface = None if stock is None else (stock.artif_m2 if indicator == "artif" else stock.imper_m2)
        surfaces[rank] = surface
        percents[rank] = None if surface is None or not land.surface_m2 else surface / land.surface_m2 * 100
        values[f"millesimes_{rank}"] = None if stock is None else ", ".join(map(str, sorted(stock.years)))
        values[f"pourcent_{indicator}_{rank}"] = percents[rank]
        values[f"surface_{indicator}_{rank}"] = _m2(surface)
    for previous, rank in pairwise(ranks):
        before, after = surfaces[previous], surfaces[rank]
        rate_before, rate_after = percents[previous], percents[rank]
        values[f"flux_surface_{previous}_{rank}"] = None if before is None or after is None else _m2(after - before)
        values[f"flux_percent_{previous}_{rank}"] = (
            None if rate_before is None or rate_after is None else rate_after - rate_before
        )
        flows = land.flows.get((previous, rank))
        gain = None if flows is None else (flows.artif_m2 if indicator == "artif" else flows.imper_m2)
        loss = None if flows is None else (flows.desartif_m2 if indicator == "artif" else flows.desimper_m2)
        net = None if gain is None or loss is None else gain - loss
        for name, value in zip(gross_flow_names(indicator), (gain, loss, net), strict=True):
            values[f"{name}_{previous}_{rank}"] = _m2(value)
    return {name: values.get(name) for name in columns(level, indicator, ranks)}


def aggregate(code: str, nom: str | None, members: Sequence[Land], memberships: dict[str, str | None]) -> Land:
    """A land made of ``members``: Σ areas (the rate is then Σ surfaces / Σ areas, as sparte aggregates). A figure is
    None where one member lacks it: a sum over part of the land would pass for the whole."""
    ranks = {rank for member in members for rank in member.stocks}
    stocks = {}
    for rank in sorted(ranks):
        found = [member.stocks.get(rank) for member in members]
        present = [stock for stock in found if stock is not None]
        whole = len(present) == len(found)
        stocks[rank] = RankStock(
            frozenset().union(*(stock.years for stock in present)),
            _sum([stock.artif_m2 for stock in present]) if whole else None,
            _sum([stock.imper_m2 for stock in present]) if whole else None,
        )
    pairs = {pair for member in members for pair in member.flows}
    flows = {}
    for pair in sorted(pairs):
        got = [member.flows.get(pair) for member in members]
        listed = [flow for flow in got if flow is not None]
        complete = len(listed) == len(got)
        flows[pair] = PairFlows(
            *(
                _sum([getattr(flow, name) for flow in listed]) if complete else None
                for name in ("artif_m2", "desartif_m2", "imper_m2", "desimper_m2")
            )
        )
    return Land(code, nom, sum(member.surface_m2 for member in members), stocks, flows, memberships)


def file_name(indicator: Indicator, level: Level, fmt: str) -> str:
    """sparte's file name (``artif_commune.csv``); its GeoPackage's layer is the name without the suffix."""
    return f"{layer_name(indicator, level)}.{fmt}"


def layer_name(indicator: Indicator, level: Level) -> str:
    """The GeoPackage layer of an export (``artif_commune``)."""
    return f"{indicator}_{level}"


def _sum(values: list[float | None]) -> float | None:
    """Σ ``values``, None when one is None."""
    return None if any(value is None for value in values) else sum(value for value in values if value is not None)


def _m2(value: float | None) -> float | None:
    """An area in m² to 1/10 000 m², as sparte rounds the areas it sums."""
    return None if value is None else round(value, 4)
