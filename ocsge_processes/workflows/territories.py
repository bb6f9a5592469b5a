"""Territories named the way users name them (INSEE codes, an EPCI, SCoT or région by code or name, a
département, a geometry, a bbox, or a list of these), resolved against the communes held in a store."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj
import shapely
import shapely.ops
from shapely.geometry import Point
from shapely.geometry.base import BaseGeometry

from ..artificialisation import Territory, TerritoryPart, combine
from ..crsnames import ogc_uri
from ..errors import InvalidInputError
from ..layers import COMMUNES
from ..stores import FeatureStore, table_name
from ..stores.territory_table import TerritoryRecord
from ..territory import (
    METROPOLE_EPSG,
    departement_epsg,
    departement_of_commune,
    normalise_departement,
    overseas,
    territory_epsgs,
)
from .territory_names import LABELS, UnknownTerritoryError, covered, find

__all__ = ["KINDS", "ResolvedTerritory", "UnknownTerritoryError", "resolve"]

KINDS = ("communes", "epci", "scot", "region", "departement", "geometry", "bbox", "liste")
#: Territories in one list (``{"liste": [...]}``), each answered apart.
MAX_LISTE = 100
#: The kinds that group communes, found by code or name in the territory table (``territory_names``).
_GROUPS = ("epci", "scot", "region")


@dataclass(frozen=True)
class ResolvedTerritory:
    """A territory and, when it is made of communes, each commune as a territory of its own."""

    territory: Territory
    communes: tuple[Territory, ...]
    departements: tuple[str, ...]
    #: The territories of a list, each answered apart (``territory`` is then their union, read once for all).
    members: tuple[Territory, ...] = ()


def resolve(store: FeatureStore, spec: object) -> ResolvedTerritory:
    """The territory described by ``spec`` (the process input ``territoire``)."""
    if not isinstance(spec, dict) or len(spec.keys() & set(KINDS)) != 1:
        raise InvalidInputError(
            "territoire must be an object with exactly one of: communes (list of INSEE codes), epci (SIREN or "
            "name), scot (code or name), region (code or name), departement, geometry (GeoJSON, with optional "
            "crs), bbox ([minx, miny, maxx, maxy], optional crs), liste (a list of these)"
        )
    if "liste" in spec:
        return _liste(store, spec["liste"])
    if "communes" in spec:
        codes = spec["communes"]
        if not isinstance(codes, list) or not codes or not all(isinstance(c, str) for c in codes):
            raise InvalidInputError("territoire.communes must be a non-empty list of INSEE codes (strings)")
        frame = _communes(store, {departement_of_commune(c) for c in codes})
        unknown = sorted(set(codes) - set(frame.code_insee))
        if unknown:
            raise UnknownTerritoryError(
                f"unknown commune INSEE code(s) {', '.join(unknown)}: not among the communes ingested in the store"
            )
        chosen = frame[frame.code_insee.isin(codes)]
        code = codes[0] if len(codes) == 1 else "+".join(sorted(codes))
        return _from_communes(chosen, code, "communes")
    kind = next((k for k in _GROUPS if k in spec), None)
    if kind is not None:
        value = spec[kind]
        if not isinstance(value, str) or not value.strip():
            raise InvalidInputError(f"territoire.{kind} must be a code or a name (a non-empty string)")
        return _group(store, find(store, kind, value))
    if "departement" in spec:
        departement = normalise_departement(spec["departement"])
        chosen = _communes(store, {departement})
        if chosen.empty:
            raise UnknownTerritoryError(f"no commune of département {departement} is ingested")
        return _from_communes(chosen, departement, "departement")
    geometry = _user_geometry(spec)
    _check_degrees(geometry, _crs(spec.get("crs")))
    epsg = _territory_crs(geometry, spec.get("crs"))
    try:
        part = TerritoryPart(epsg, _to_epsg(geometry, spec.get("crs"), epsg))
    except InvalidInputError as err:  # e.g. an area that is not finite
        raise InvalidInputError(f"territoire: {err}") from None
    territory = Territory("geometrie", "Territoire donné par sa géométrie", "geometry", (part,))
    return ResolvedTerritory(territory, (), ())


def _group(store: FeatureStore, record: TerritoryRecord) -> ResolvedTerritory:
    """The ingested communes of an EPCI, SCoT or région."""
    label = LABELS[record.kind]
    members = set(record.communes)
    departements = set(record.departements) or {departement_of_commune(code) for code in members}
    held = covered(departements)  # not a collectivité d'outre-mer's, which has no territory CRS
    frame = _communes(store, held) if held else pd.DataFrame({"code_insee": []})
    chosen = frame if record.kind == "region" else frame[frame.code_insee.isin(members)]
    if chosen.empty:
        raise UnknownTerritoryError(f"no commune of {label} {record.code} ({record.nom}) is ingested")
    return _from_communes(chosen, record.code, record.kind, record.nom)


def _liste(store: FeatureStore, items: object) -> ResolvedTerritory:
    """Several territories, each answered apart; read together as their union."""
    if not isinstance(items, list) or not items or len(items) > MAX_LISTE:
        raise InvalidInputError(f"territoire.liste must be a list of 1 to {MAX_LISTE} territories")
    resolved = []
    for position, item in enumerate(items):
        if isinstance(item, dict) and ("liste" in item or "collection" in item):
            raise InvalidInputError(f"territoire.liste[{position}]: a list holds no list nor collection")
        try:
            resolved.append(resolve(store, item))
        except InvalidInputError as err:
            raise type(err)(f"territoire.liste[{position}]: {err}") from None
    members = tuple(r.territory for r in resolved)
    communes = {c.code: c for r in resolved for c in r.communes}
    union = combine("liste", f"{len(members)} territoires", "liste", members)
    departements = tuple(sorted({d for r in resolved for d in r.departements}))
    return ResolvedTerritory(union, tuple(communes[code] for code in sorted(communes)), departements, members)


def _communes(store: FeatureStore, departements: set[str] | None) -> pd.DataFrame:
    """The communes held for ``departements`` (None: all), each with the EPSG code of its table in ``epsg``.

    A plain table whose geometries are shapely objects: the communes of several CRSs (a metropolitan and an overseas
    one, or every commune for an EPCI) cannot share one GeoDataFrame, whose geometry column has a single CRS.
    """
    epsgs = sorted({departement_epsg(d) for d in departements}) if departements else list(territory_epsgs())
    tables = store.tables()
    frames = [
        _plain(store.read_frame(COMMUNES, epsg)).assign(epsg=epsg)
        for epsg in epsgs
        if table_name(COMMUNES, epsg) in tables
    ]
    if not frames:
        return pd.DataFrame({"code_insee": [], "departement": [], "epci": [], "nom": [], "epsg": [], "geometry": []})
    frame = pd.concat(frames, ignore_index=True)
    return frame if departements is None else frame[frame.departement.isin(departements)]


def _plain(frame: gpd.GeoDataFrame) -> pd.DataFrame:
    """``frame`` as a pandas table whose ``geometry`` holds shapely objects, its CRS left to the caller."""
    return pd.DataFrame(frame.drop(columns=frame.geometry.name)).assign(
        geometry=np.asarray(frame.geometry.array, dtype=object)
    )


def _from_communes(frame: pd.DataFrame, code: str, kind: str, nom: str | None = None) -> ResolvedTerritory:
    rows = frame.sort_values("code_insee")
    communes = tuple(
        Territory(code, nom, "commune", (TerritoryPart(int(epsg), geometry),))
        for code, nom, epsg, geometry in zip(
            rows["code_insee"], rows["nom"], rows["epsg"], rows["geometry"], strict=True
        )
    )
    nom = nom or (communes[0].nom if len(communes) == 1 else f"{len(communes)} communes")
    return ResolvedTerritory(combine(code, nom, kind, communes), communes, tuple(sorted(set(frame.departement))))


def _user_geometry(spec: dict[str, Any]) -> BaseGeometry:
    try:
        if "bbox" in spec:
            minx, miny, maxx, maxy = (float(v) for v in spec["bbox"])
            if minx >= maxx or miny >= maxy:
                raise ValueError("the lower corner must be below and left of the upper corner")
            return shapely.box(minx, miny, maxx, maxy)
        geometry = shapely.geometry.shape(spec["geometry"])
    except (TypeError, ValueError, OverflowError, KeyError, AttributeError, shapely.errors.GEOSException) as err:
        raise InvalidInputError(f"territoire: invalid geometry or bbox: {err}") from None
    if geometry.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidInputError(f"territoire.geometry must be a Polygon or MultiPolygon, not {geometry.geom_type}")
    if not geometry.is_valid:
        raise InvalidInputError(f"territoire.geometry is invalid: {shapely.is_valid_reason(geometry)}")
    return geometry


def _check_degrees(geometry: BaseGeometry, crs: pyproj.CRS) -> None:
    """In a geographic CRS (longitude first, as every transform here reads it), coordinates must lie on the globe:
    beyond it, PROJ wraps longitudes round and the territory would silently be somewhere else."""
    if not crs.is_geographic:
        return
    west, south, east, north = geometry.bounds
    if not (west >= -180 and east <= 180 and south >= -90 and north <= 90):
        raise InvalidInputError(
            f"territoire: in {crs.name}, longitudes must lie in [-180, 180] and latitudes in "
            f"[-90, 90]; the territory spans [{west:g}, {east:g}] × [{south:g}, {north:g}]"
        )


def _crs(value: object) -> pyproj.CRS:
    try:
        name = value or "OGC:CRS84"
        return pyproj.CRS.from_user_input(ogc_uri(name) if isinstance(name, str) else name)
    except pyproj.exceptions.CRSError:
        raise InvalidInputError(
            f"territoire.crs {value!r} is not a known CRS (e.g. EPSG:2154 or "
            "http://www.opengis.net/def/crs/OGC/1.3/CRS84)"
        ) from None


def _territory_crs(geometry: BaseGeometry, crs: object) -> int:
    """The territory CRS the geometry is measured in: its own if it is one, else the one of where it lies."""
    source = _crs(crs)
    epsg = source.to_epsg()
    if epsg in territory_epsgs():
        return epsg
    point = _to_lonlat(geometry.representative_point(), source)
    for drom_epsg in (row.epsg for row in overseas()):
        area = pyproj.CRS.from_epsg(drom_epsg).area_of_use
        if area is None:  # every territory CRS has one in the EPSG database
            continue
        west, south, east, north = area.bounds
        if west <= point.x <= east and south <= point.y <= north:
            return drom_epsg
    return METROPOLE_EPSG


def _to_lonlat(point: Point, source: pyproj.CRS) -> Point:
    transformer = pyproj.Transformer.from_crs(source, "OGC:CRS84", always_xy=True)
    return shapely.ops.transform(transformer.transform, point)


def _to_epsg(geometry: BaseGeometry, crs: object, epsg: int) -> BaseGeometry:
    transformer = pyproj.Transformer.from_crs(_crs(crs), pyproj.CRS.from_epsg(epsg), always_xy=True)
    return shapely.ops.transform(transformer.transform, geometry)
