"""Exports shaped like the official tool's open data (``sparte_columns``): per commune, EPCI, SCoT, département or
région, artificialisation or imperméabilisation, as CSV or GeoPackage in EPSG:4326.

The figures are the process's (``artificialisation.run`` with every commune detailed), each commune at the
millésimes of its département, by rank; a land made of communes sums theirs, as sparte does.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pyogrio
import shapely
from shapely.geometry.base import BaseGeometry

from ..artificialisation import Territory
from ..errors import InvalidInputError
from ..layers import COMMUNES
from ..stores import FeatureStore, table_name
from ..territory import departement_epsg, normalise_departement, territory_epsgs
from .artificialisation import Entry, Indicators, run
from .sparte_columns import (
    EPSG,
    FORMATS,
    GEOMETRY_COLUMN,
    Indicator,
    Land,
    Level,
    PairFlows,
    RankStock,
    aggregate,
    columns,
    export_ranks,
    file_name,
    is_text,
    layer_name,
    row,
)
from .territories import resolve
from .territory_names import commune_memberships, listing

M2_PER_HA = 10_000
#: The level of an export of a territory of each kind the process resolves; a list of communes has none of its own.
LEVEL_OF_KIND: dict[str, Level] = {"epci": "epci", "departement": "departement", "scot": "scot", "region": "region"}


@dataclass(frozen=True)
class Commune:
    """A commune's figures and its contour in EPSG:4326."""

    land: Land
    geometry: BaseGeometry


def commune_lands(document: Indicators, communes: Sequence[Territory], table: pd.DataFrame) -> list[Commune]:
    """The communes of a process document (``detail_communes``), ``communes`` giving their contours and ``table``
    (the communes layer's rows) their département and EPCI."""
    entries = {entry["code"]: entry for entry in document.get("communes", [])}
    known = table.drop_duplicates("code_insee").set_index("code_insee")
    lands = []
    for commune in communes:
        facts = known.loc[commune.code] if commune.code in known.index else None
        departement = str(facts["departement"]) if facts is not None else None
        epci = facts["epci"] if facts is not None and isinstance(facts["epci"], str) and facts["epci"] else None
        memberships = {"departement_code": departement, "epci_code": epci, "region_code": None, "scot_code": None}
        land = _land(document, entries[commune.code], commune, departement, memberships)
        lands.append(Commune(land, _in_degrees(commune)))
    return lands


def _land(
    document: Indicators, entry: Entry, commune: Territory, departement: str | None, memberships: dict[str, str | None]
) -> Land:
    """One commune's figures by rank: its stocks where its layer covers it, and the gross flows of each pair."""
    ranks = document["rangs_millesimes"]
    years = document["millesimes_par_departement"].get(departement or "", [])
    stocks = {}
    for position, label in enumerate(document["millesimes"]):
        stock = entry["stocks"].get(str(label))
        year = frozenset([years[position]]) if position < len(years) else frozenset()
        if stock is None:
            stocks[ranks[position]] = RankStock(year, None, None)
            continue
        stocks[ranks[position]] = RankStock(
            year,
            stock["surface_artificialisee_ha"] * M2_PER_HA,
            stock["surface_impermeabilisee_ha"] * M2_PER_HA,
        )
    flows = {}
    for position, label in enumerate(document["periodes"]):
        fields = entry.get("flux", {}).get(label, {})
        values = [fields.get(name) for name in _FLOW_FIELDS]
        flows[(ranks[position], ranks[position + 1])] = PairFlows(
            *(float(value) * M2_PER_HA if isinstance(value, int | float) else None for value in values)
        )
    return Land(commune.code, commune.nom, commune.surface_m2, stocks, flows, memberships)


_FLOW_FIELDS = ("artificialisation_ha", "desartificialisation_ha", "impermeabilisation_ha", "desimpermeabilisation_ha")


def _in_degrees(territory: Territory) -> BaseGeometry:
    """The territory's contour in EPSG:4326 (longitude first, as GeoPackage and sparte's ``ST_Transform`` store it)."""
    parts = [
        gpd.GeoSeries([part.geometry], crs=f"EPSG:{part.epsg}").to_crs(f"EPSG:{EPSG}").iloc[0]
        for part in territory.parts
    ]
    return parts[0] if len(parts) == 1 else shapely.union_all(parts)


def territory_communes(
    store: FeatureStore, territoire: object, millesimes: object = None, methode: str | None = None
) -> tuple[dict[Level, list[str]], list[Commune]]:
    """The communes of one territory (the process's ``territoire``), and the lands it is made of by level: itself
    (an EPCI, a SCoT...) or each territory of a list, as sparte gives one row per territory; none for communes."""
    scopes, communes = _computed(store, territoire, millesimes, methode)
    return scopes, with_memberships(store, communes)


def _computed(
    store: FeatureStore, territoire: object, millesimes: object, methode: str | None
) -> tuple[dict[Level, list[str]], list[Commune]]:
    """``territory_communes`` before the memberships of the territory table are added."""
    resolved = resolve(store, territoire)
    if not resolved.communes:
        raise InvalidInputError(
            "a sparte export needs a territory made of communes (communes, epci, departement, scot or region): "
            "the official tool has no figures for other shapes"
        )
    document = run(store, territoire, millesimes, methode, detail_communes=True)
    table = _communes_table(store, resolved.departements)
    scopes: dict[Level, list[str]] = {}
    for land in resolved.members or (resolved.territory,):
        level = LEVEL_OF_KIND.get(land.kind)
        if level is not None:
            scopes.setdefault(level, []).append(land.code)
    return scopes, commune_lands(document, resolved.communes, table)


def store_communes(
    store: FeatureStore,
    departements: Iterable[str] | None = None,
    methode: str | None = None,
    report: Callable[[str], None] | None = None,
) -> list[Commune]:
    """Every commune of ``departements`` (None: every département whose communes are ingested), each département
    computed at all its millésimes; a département with no OCS GE ingested is left out and reported."""
    chosen = sorted({normalise_departement(d) for d in departements}) if departements else held_departements(store)
    communes: list[Commune] = []
    for departement in chosen:
        try:
            _, found = _computed(store, {"departement": departement}, None, methode)
        except InvalidInputError as err:
            if departements:  # asked for by name: its problem is the answer
                raise
            if report is not None:
                report(f"département {departement} left out: {err}")
            continue
        communes += found
        if report is not None:
            report(f"département {departement}: {len(found)} communes")
    return with_memberships(store, communes)


def with_memberships(store: FeatureStore, communes: Sequence[Commune]) -> list[Commune]:
    """``communes`` with their EPCI, SCoT and région where the store's territory table knows them (``ocsge
    ingest-territoires``; the EPCI of the communes layer otherwise)."""
    known = {kind: commune_memberships(store, kind) for kind in ("epci", "scot", "region")}
    updated = []
    for commune in communes:
        land = commune.land
        memberships = dict(land.memberships)
        for kind, codes in known.items():
            if land.code in codes:
                memberships[f"{kind}_code"] = codes[land.code]
        updated.append(Commune(replace(land, memberships=memberships), commune.geometry))
    return updated


def land_names(store: FeatureStore, level: Level) -> dict[str, str]:
    """The names of the lands of ``level`` in the store's territory table (a commune is named by its layer)."""
    return {} if level == "commune" else listing(store, level)


def held_departements(store: FeatureStore) -> list[str]:
    """The départements whose communes the store holds."""
    tables = store.tables()
    found: set[str] = set()
    for epsg in territory_epsgs():
        if table_name(COMMUNES, epsg) in tables:
            found |= {str(value) for value in store.distinct(COMMUNES, epsg, "departement")}
    return sorted(found)


def _communes_table(store: FeatureStore, departements: Iterable[str]) -> pd.DataFrame:
    """The communes layer's rows (no geometry) of ``departements``."""
    frames = [
        pd.DataFrame(store.read_frame(COMMUNES, departement_epsg(d), equals={"departement": d})) for d in departements
    ]
    return pd.concat(frames, ignore_index=True).drop(columns="geometry") if frames else pd.DataFrame({"code_insee": []})


def export_frame(
    communes: Sequence[Commune],
    level: Level,
    indicator: Indicator,
    names: Mapping[str, str] | None = None,
    only: Collection[str] | None = None,
) -> gpd.GeoDataFrame:
    """The export of ``level`` (one row per land, by code) in EPSG:4326; ``names`` gives the lands' names (a
    commune has its own), ``only`` the codes of the lands wanted (None: every land the communes make)."""
    ranks = export_ranks(commune.land for commune in communes)
    lands: list[tuple[Land, BaseGeometry]] = []
    if level == "commune":
        lands = [(commune.land, commune.geometry) for commune in communes]
    else:
        groups: dict[str, list[Commune]] = {}
        for commune in communes:
            code = commune.land.memberships.get(f"{level}_code")
            if code and (only is None or code in only):
                groups.setdefault(code, []).append(commune)
        for code, members in sorted(groups.items()):
            memberships = _shared_memberships(members)
            land = aggregate(code, (names or {}).get(code), [m.land for m in members], memberships)
            lands.append((land, shapely.union_all([m.geometry for m in members])))
    rows = [row(land, level, indicator, ranks) for land, _ in lands]
    names_in_order = columns(level, indicator, ranks)
    frame = pd.DataFrame(rows, columns=names_in_order).astype(
        {name: object if is_text(name) else "float64" for name in names_in_order}
    )  # a column empty in every row keeps its type: GDAL writes a Real field, not a String one
    return gpd.GeoDataFrame(frame, geometry=[g for _, g in lands], crs=f"EPSG:{EPSG}").rename_geometry(GEOMETRY_COLUMN)


def _shared_memberships(members: Sequence[Commune]) -> dict[str, str | None]:
    """The memberships every member shares (a département's région); None where they differ."""
    shared: dict[str, str | None] = {}
    for name in ("departement_code", "region_code", "epci_code", "scot_code"):
        values = {member.land.memberships.get(name) for member in members}
        shared[name] = values.pop() if len(values) == 1 else None
    return shared


def write_export(frame: gpd.GeoDataFrame, folder: Path, level: Level, indicator: Indicator, fmt: str) -> Path:
    """Write ``frame`` under sparte's file name: GeoPackage with one layer of that name, or CSV as sparte's GDAL
    writes it (strings always quoted, no geometry)."""
    if fmt not in FORMATS:
        raise InvalidInputError(f"unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}")
    path = folder / file_name(indicator, level, fmt)
    path.unlink(missing_ok=True)
    if fmt == "gpkg":
        pyogrio.write_dataframe(frame, path, layer=layer_name(indicator, level), driver="GPKG")
    else:
        table = pd.DataFrame(frame.drop(columns=frame.geometry.name))
        pyogrio.write_dataframe(table, path, driver="CSV", layer_options={"STRING_QUOTING": "ALWAYS"})
    return path
