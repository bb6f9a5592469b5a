"""Urban zoning (CNIG ZONE_URBA) over the artificialisation indicators: in which zones of the local urban plans the
artificialised and sealed land lies, and how much of each zone type was artificialised between two millésimes.

The CNIG standard for PLU and PLUi (v2017, kept by its later revisions) types each zone ``TYPEZONE`` U (urbaine),
AUc or AUs (à urbaniser, open to building or not yet), A (agricole) or N (naturelle); its 2014 version also had Ah, Nh
and Nd, which the official tool reads as A, N and N (MTES-MCT/sparte ``macros/gpu/standardize_zonage_type.sql``), as
we do. The official tool also merges AUc and AUs into AU; we keep them apart and give AU as their sum.

A zone is measured like a commune: its pieces inside the territory, each in its département's CRS, become a
:class:`Territory` whose stock and flows ``stock.py`` and ``flows.py`` compute exactly as for any territory, and a
zone type is the Σ of its zones. What no zone covers (communes under the national rules, RNU) is a territory of its
own, so that the zone types and the unzoned land add up to the territory.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely
from shapely.geometry.base import BaseGeometry

from ..errors import InvalidInputError
from .measure import Layers
from .territory import Territory, TerritoryPart

#: The zone types of the CNIG standard, in the order the plans list them.
TYPEZONES = ("U", "AUc", "AUs", "A", "N")
#: CNIG 2014 types (STECAL sectors Ah and Nh, Nd), read as the official tool reads them.
LEGACY_TYPEZONES = {"Ah": "A", "Nh": "N", "Nd": "N"}
#: The official tool's "à urbaniser" type: AUc and AUs together.
AU = "AU"
AU_TYPES = ("AUc", "AUs")
#: The key of the land no zone covers.
UNZONED = "hors zonage"
#: The columns a zoning layer needs (``layers.ZONE_URBA``).
ZONE_COLUMNS = ("id", "libelle", "typezone", "idurba")

#: Each type, legacy ones too, by its upper-case spelling: what it is read as, and how the standard spells it.
_SPELLINGS = {name.upper(): (name, name) for name in TYPEZONES} | {
    legacy.upper(): (read_as, legacy) for legacy, read_as in LEGACY_TYPEZONES.items()
}


def typezone(value: str) -> str | None:
    """The CNIG spelling of a TYPEZONE value (``auc`` → ``AUc``, ``Nh`` → ``N``), or None when the standard has no
    such type (``UA`` is a LIBELLE, not a TYPEZONE)."""
    found = _SPELLINGS.get(value.strip().upper())
    return found[0] if found else None


def cnig_spelling(value: str) -> str | None:
    """``value`` as the standard spells it (``AUC`` → ``AUc``, ``NH`` → ``Nh``), or None when it is no type."""
    found = _SPELLINGS.get(value.strip().upper())
    return found[1] if found else None


@dataclass(frozen=True)
class Zone:
    """One zone of a plan, cut to the territory: ``territory`` holds its pieces there (code: the zone's ``id``)."""

    id: str
    libelle: str
    typezone: str
    idurba: str
    territory: Territory
    #: The plan's own identifier of the zone (CNIG IDZONE), where it gives one.
    idzone: str | None = None


def zones_in(zoning: Layers, territory: Territory) -> list[Zone]:
    """The zones of ``zoning`` (ZONE_URBA frames, one per CRS) that overlap ``territory``, each cut to it.

    A zone whose TYPEZONE is not in the standard is refused: ingest refuses it already, so it means a layer that did
    not come through ``ocsge ingest``.
    """
    frames = [zoning] if isinstance(zoning, gpd.GeoDataFrame) else list(zoning)
    zones: list[Zone] = []
    for frame in frames:
        missing = [column for column in ZONE_COLUMNS if column not in frame.columns]
        if missing:
            raise InvalidInputError(f"a zoning layer needs the ZONE_URBA fields {', '.join(missing)}")
        epsg = frame.crs.to_epsg() if frame.crs is not None else None
        if epsg is None:
            raise InvalidInputError(f"a zoning layer has no EPSG CRS ({frame.crs}); areas need the département's")
        parts = territory.parts_in(epsg)
        if not parts or frame.empty:
            continue
        pieces = _cut(np.asarray(frame.geometry.array, dtype=object), [part.geometry for part in parts])
        for row, geometries in pieces.items():
            record = frame.iloc[row]
            kind = typezone(str(record["typezone"]))
            if kind is None:
                raise InvalidInputError(
                    f"zone {record['id']!r}: TYPEZONE {record['typezone']!r} is not in the CNIG standard "
                    f"(expected one of {', '.join(TYPEZONES)})"
                )
            zone_territory = Territory(
                str(record["id"]),
                str(record["libelle"]),
                "zone",
                tuple(TerritoryPart(epsg, geometry) for geometry in geometries),
            )
            idzone = record.get("idzone")
            zones.append(
                Zone(
                    str(record["id"]),
                    str(record["libelle"]),
                    kind,
                    str(record["idurba"]),
                    zone_territory,
                    None if idzone is None or pd.isna(idzone) else str(idzone),
                )
            )
    return zones


def unzoned(territory: Territory, zones: Sequence[Zone]) -> Territory | None:
    """The land of ``territory`` that none of ``zones`` covers, or None when they cover all of it."""
    parts = []
    for part in territory.parts:
        covered = [p.geometry for zone in zones for p in zone.territory.parts_in(part.epsg)]
        rest = _polygonal(shapely.difference(part.geometry, shapely.union_all(covered)) if covered else part.geometry)
        if rest is not None:
            parts.append(TerritoryPart(part.epsg, rest))
    if not parts:
        return None
    return Territory(UNZONED, f"{territory.nom} : {UNZONED}", UNZONED, tuple(parts))


def by_typezone(zones: Sequence[Zone]) -> dict[str, list[int]]:
    """Positions in ``zones`` of the zones of each type, in the standard's order, AU (AUc + AUs) after AUs; only the
    types present."""
    groups: dict[str, list[int]] = {}
    for name in TYPEZONES:
        found = [position for position, zone in enumerate(zones) if zone.typezone == name]
        if found:
            groups[name] = found
        if name == AU_TYPES[-1]:
            merged = [position for position, zone in enumerate(zones) if zone.typezone in AU_TYPES]
            if merged:
                groups[AU] = merged
    return groups


def _cut(geometries: np.ndarray, parts: list[BaseGeometry]) -> dict[int, list[BaseGeometry]]:
    """For each row of ``geometries`` overlapping a part, its polygonal pieces inside the parts (one STR-tree
    query for all parts; a zone inside a part is kept whole)."""
    tree = shapely.STRtree(geometries)
    own = np.array(parts, dtype=object)
    shapely.prepare(own)
    part, row = tree.query(own, predicate="intersects")
    covered = shapely.covers(own[part], geometries[row])
    cut = np.where(covered, geometries[row], shapely.intersection(geometries[row], own[part]))
    pieces: dict[int, list[BaseGeometry]] = {}
    for index, geometry in zip(row.tolist(), cut, strict=True):
        polygonal = _polygonal(geometry)
        if polygonal is not None:
            pieces.setdefault(index, []).append(polygonal)
    return dict(sorted(pieces.items()))


def _polygonal(geometry: BaseGeometry) -> BaseGeometry | None:
    """The polygons of ``geometry`` (an intersection may add lines and points where borders touch), or None when it
    has no area."""
    polygons = [g for g in shapely.get_parts(geometry) if shapely.get_type_id(g) in (3, 6) and g.area > 0]
    if not polygons:
        return None
    return polygons[0] if len(polygons) == 1 else shapely.MultiPolygon(polygons)
