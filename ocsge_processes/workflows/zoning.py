"""The zoning breakdown of the `artificialisation` process (input ``zonage``): the indicators of each zone of the
local urban plans over the territory, of each zone type, and of the land no zone covers.

The zones come from the `zonage-urbanisme` collection (CNIG ZONE_URBA, ``ocsge ingest``), or from the request
itself (a GeoJSON FeatureCollection with the CNIG fields: a draft plan), checked as ingest checks a file; each is
measured as a territory by the same functions as the territory itself (``artificialisation.zoning``), so its stocks,
flows and breakdowns read like the territory's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypedDict

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
from shapely.errors import GEOSException

from ..artificialisation import Territory
from ..artificialisation.zoning import AU, UNZONED, Zone, by_typezone, unzoned, zones_in
from ..errors import DeliveryError, InvalidInputError
from ..ingest.columns import read_columns
from ..ingest.geometries import polygonal
from ..layers import GENERATED_SOURCE, ZONE_URBA

#: Zones a request may give inline: more than the plans of any intercommunality hold.
MAX_INLINE_ZONES = 20_000
#: What the document names as the source of zones given in the request.
INLINE = "requête"


class ZoneEntry(TypedDict):
    """A zone's identity beside its indicators (an ``Entry`` of ``workflows.artificialisation``)."""

    id: str
    libelle: str
    typezone: str
    idurba: str
    idzone: str | None
    #: The zone's ``Entry`` (stocks per millésime, flows per pair), as for the territory.
    indicateurs: object


class Zoning(TypedDict):
    """The ``zonage`` member of the indicators document."""

    #: The collection the zones were read from ("requête": given inline), and whether any of them is generated.
    collection: str
    zones_generees: bool
    #: The plans (IDURBA) whose zones lie over the territory.
    plans: list[str]
    #: By zone type: U, AUc, AUs, AU (AUc + AUs, the official tool's type), A, N (those present), then "hors zonage".
    par_typezone: dict[str, object]
    par_zone: list[ZoneEntry]


def zoning_breakdown[F, E](
    frames: Sequence[gpd.GeoDataFrame],
    territory: Territory,
    source: str,
    measure: Callable[[list[Territory]], list[F]],
    entry: Callable[[Territory, F], E],
    aggregate: Callable[[Territory, list[F]], F],
) -> Zoning:
    """The zoning member of the document: ``measure`` the figures of every zone and of the unzoned land (the
    request's stocks and flows), sum them per type with ``aggregate``, and make each an ``entry``."""
    if not frames or not any(len(frame) for frame in frames):
        raise InvalidInputError(
            f"zonage: no zone of a local urban plan is ingested over territory {territory.code}; ingest the "
            "Géoportail de l'Urbanisme ZONE_URBA layer (CNIG standard) with `ocsge ingest` first"
        )
    zones = zones_in(frames, territory)
    if not zones:
        raise InvalidInputError(
            f"zonage: none of {'the zones given' if source == INLINE else f'the {source} zones'} overlaps "
            f"territory {territory.code}"
        )
    rest = unzoned(territory, zones)
    figures = measure([zone.territory for zone in zones] + ([rest] if rest is not None else []))
    per_type: dict[str, object] = {}
    for name, positions in by_typezone(zones).items():
        parts = tuple(part for i in positions for part in zones[i].territory.parts)
        group = Territory(name, _type_name(name), "typezone", parts)
        per_type[name] = entry(group, aggregate(group, [figures[i] for i in positions]))
    if rest is not None:
        per_type[UNZONED] = entry(rest, figures[-1])
    generated = any(_generated(frame) for frame in frames)
    return {
        "collection": source,
        "zones_generees": generated,
        "plans": sorted({zone.idurba for zone in zones}),
        "par_typezone": per_type,
        "par_zone": [_zone_entry(zone, entry(zone.territory, figures[i])) for i, zone in enumerate(zones)],
    }


def _zone_entry(zone: Zone, indicators: object) -> ZoneEntry:
    """A zone's identity, then its indicators."""
    return {
        "id": zone.id,
        "libelle": zone.libelle,
        "typezone": zone.typezone,
        "idurba": zone.idurba,
        "idzone": zone.idzone,
        "indicateurs": indicators,
    }


_NAMES = {
    "U": "zones urbaines (U)",
    "AUc": "zones à urbaniser ouvertes (AUc)",
    "AUs": "zones à urbaniser fermées (AUs)",
    AU: "zones à urbaniser (AUc + AUs)",
    "A": "zones agricoles (A)",
    "N": "zones naturelles et forestières (N)",
}


def _type_name(name: str) -> str:
    """How the document names a zone type."""
    return _NAMES[name]


def _generated(frame: gpd.GeoDataFrame) -> bool:
    """Whether any zone of ``frame`` was made by ``ocsge generate`` (its ``source`` says so)."""
    return "source" in frame.columns and bool((frame["source"] == GENERATED_SOURCE).any())


def inline_zoning(value: object, territory: Territory) -> list[gpd.GeoDataFrame]:
    """Zones given in the request as a GeoJSON FeatureCollection (CRS84) with the CNIG ZONE_URBA fields, checked as
    ``ocsge ingest`` checks a file, in each CRS of ``territory``; a collection not in the standard is refused."""
    features = value.get("features") if isinstance(value, dict) and value.get("type") == "FeatureCollection" else None
    if not isinstance(features, list) or not features or len(features) > MAX_INLINE_ZONES:
        raise InvalidInputError(
            f"zonage must be true, false, or a GeoJSON FeatureCollection of 1 to {MAX_INLINE_ZONES} zones with the "
            "CNIG ZONE_URBA fields (LIBELLE, TYPEZONE, IDURBA)"
        )
    try:
        raw = gpd.GeoDataFrame.from_features(features, crs="OGC:CRS84")
        columns = read_columns(raw, ZONE_URBA, "the zones given").values
        shapes = np.asarray(raw.geometry.array, dtype=object)
        geometries, _ = polygonal(shapes, pyproj.CRS("OGC:CRS84"), "the zones given")
    except DeliveryError as error:
        raise InvalidInputError(f"zonage is not in the CNIG standard: {error}") from None
    except (KeyError, TypeError, ValueError, AttributeError, GEOSException) as error:
        raise InvalidInputError(f"zonage: not a GeoJSON FeatureCollection of polygons ({error})") from None
    if columns["typezone"].isna().any() or columns["libelle"].isna().any():
        raise InvalidInputError("zonage is not in the CNIG standard: every zone needs a LIBELLE and a TYPEZONE")
    if "id" not in columns:
        columns["id"] = [f"zone-{position + 1}" for position in range(len(columns))]
    columns["id"] = columns["id"].fillna(pd.Series([f"zone-{i + 1}" for i in range(len(columns))], index=columns.index))
    keep = pd.notna(geometries)
    if not keep.any():
        raise InvalidInputError("zonage: none of the zones given has a Polygon or MultiPolygon geometry")
    west, south, east, north = shapely.total_bounds(geometries[keep])
    if not (-180 <= west <= east <= 180 and -90 <= south <= north <= 90):
        raise InvalidInputError("zonage: the zones given are GeoJSON in CRS84: longitudes, then latitudes, in degrees")
    zones = gpd.GeoDataFrame(columns[keep.tolist()], geometry=list(geometries[keep]), crs="OGC:CRS84")
    return [_projectable(zones.to_crs(epsg)) for epsg in territory.epsgs]


def _projectable(zones: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """The zones a CRS can hold: one far outside its area comes out with infinite coordinates, and lies outside the
    territory's parts in that CRS anyway."""
    finite = np.isfinite(shapely.bounds(np.asarray(zones.geometry.array, dtype=object))).all(axis=1)
    return zones if finite.all() else zones[finite]
