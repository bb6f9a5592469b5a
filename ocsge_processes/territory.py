"""Territories and their projected CRS: Lambert-93 in metropolitan France, UTM zones overseas.

Areas are planar in the territory's CRS, as the official tool computes them; the CRS of a delivery is named by a
token in its file name (LAMB93, RGAF09UTM20, ...). :data:`TERRITORY_CRS` is the one table of these CRSs: the
delivery tokens, the départements' CRSs, the overseas collections and the CRS lists the server publishes are all
read from it, so a new territory is one row.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Sequence
from dataclasses import dataclass

import pyproj

from .errors import UnknownCodeError


@dataclass(frozen=True)
class TerritoryCrs:
    """One territory CRS: where it applies and how IGN's delivery names spell it."""

    epsg: int
    #: Short name, used in the ids of the territory's collections (``ocsge-occupation-sol-reunion``).
    name: str
    #: INSEE codes of the départements delivered and measured in it; empty for the metropolitan default.
    departements: tuple[str, ...]
    #: Tokens naming it in IGN delivery names, the one IGN uses now first.
    tokens: tuple[str, ...]


#: The territory CRSs, the metropolitan default first.
TERRITORY_CRS: tuple[TerritoryCrs, ...] = (
    TerritoryCrs(2154, "metropole", (), ("LAMB93",)),
    TerritoryCrs(5490, "antilles", ("971", "972"), ("RGAF09UTM20",)),
    TerritoryCrs(2972, "guyane", ("973",), ("RGFG95UTM22", "UTM22RGFG95")),
    TerritoryCrs(2975, "reunion", ("974",), ("RGR92UTM40S",)),
    TerritoryCrs(4471, "mayotte", ("976",), ("RGM04UTM38S",)),
)

#: The CRS of metropolitan France, where a département not listed in the table is measured.
METROPOLE_EPSG = TERRITORY_CRS[0].epsg

#: OGC URI of CRS84 (longitude, latitude): what clients get unless they ask for another CRS.
CRS84 = "http://www.opengis.net/def/crs/OGC/1.3/CRS84"
#: The global CRSs offered besides CRS84: EPSG:4326 (latitude first) and Web Mercator.
WGS84_EPSG, WEB_MERCATOR_EPSG = 4326, 3857

_METROPOLE_DEPARTEMENT = re.compile(r"^(0?[1-9]|[1-8][0-9]|9[0-5]|2[AB])$")


def epsg_uri(epsg: int) -> str:
    """The OGC URI of EPSG:``epsg``, as OGC API requests and configurations name CRSs."""
    return f"http://www.opengis.net/def/crs/EPSG/0/{epsg}"


def territories() -> tuple[TerritoryCrs, ...]:
    """The rows of :data:`TERRITORY_CRS`, the metropolitan default first."""
    return TERRITORY_CRS


def territory_epsgs() -> tuple[int, ...]:
    """EPSG codes of the territory CRSs, the metropolitan one first."""
    return tuple(row.epsg for row in TERRITORY_CRS)


def overseas() -> tuple[TerritoryCrs, ...]:
    """The overseas rows of the table (every row but the metropolitan default)."""
    return tuple(row for row in TERRITORY_CRS if row.epsg != METROPOLE_EPSG)


def published_crs() -> list[str]:
    """URIs of the CRSs every collection offers: CRS84 first (clients' default), Lambert-93, EPSG:4326 and Web
    Mercator, then the overseas CRSs."""
    globals_ = [epsg_uri(METROPOLE_EPSG), epsg_uri(WGS84_EPSG), epsg_uri(WEB_MERCATOR_EPSG)]
    return [CRS84, *globals_, *(epsg_uri(row.epsg) for row in overseas())]


def covering_crs(bbox: Sequence[float], storage_epsg: int) -> list[str]:
    """The published CRSs (:func:`published_crs`, in its order) fit for data lying in ``bbox`` (CRS84): those whose
    area of use in the EPSG database meets it, and the storage CRS always. Elsewhere a projected CRS gives
    coordinates without meaning (Lambert-93 in La Réunion). Meeting, not containing: EPSG's area of use of UTM 22N
    stops at 54° W, inside Guyane, which IGN delivers and measures wholly in it."""
    west, south, east, north = bbox
    kept = []
    for uri in published_crs():
        epsg = int(uri.rsplit("/", 1)[1]) if uri != CRS84 else WGS84_EPSG
        a_west, a_south, a_east, a_north = _area_of_use(epsg)
        if epsg == storage_epsg or (a_west <= east and west <= a_east and a_south <= north and south <= a_north):
            kept.append(uri)
    return kept


@functools.cache
def _area_of_use(epsg: int) -> tuple[float, float, float, float]:
    """West, south, east, north (degrees) where EPSG:``epsg`` applies; the globe if the database gives none."""
    area = pyproj.CRS.from_epsg(epsg).area_of_use
    return area.bounds if area is not None else (-180.0, -90.0, 180.0, 90.0)


def crs_tokens() -> dict[str, int]:
    """EPSG code of each CRS token of IGN delivery names (``LAMB93`` -> 2154)."""
    return {token: row.epsg for row in TERRITORY_CRS for token in row.tokens}


def crs_token(epsg: int) -> str:
    """The token naming EPSG:``epsg`` in IGN delivery names (LAMB93, RGAF09UTM20, ...)."""
    for row in TERRITORY_CRS:
        if row.epsg == epsg:
            return row.tokens[0]
    raise UnknownCodeError(f"EPSG:{epsg} is not a territory CRS; expected {listed_epsgs()}")


def normalise_departement(value: object) -> str:
    """INSEE département code as text (``'33'``, ``'2A'``, ``'971'``) from ``33``, ``'D033'``, ``'033'``..."""
    text = str(value).strip().upper()
    if text.startswith("D"):
        text = text[1:]
    if len(text) == 3 and text.startswith("0"):
        text = text[1:]
    if len(text) == 1 and text.isdigit():
        text = "0" + text
    if not _METROPOLE_DEPARTEMENT.match(text) and not any(text in row.departements for row in TERRITORY_CRS):
        raise UnknownCodeError(f"unknown département {value!r}; expected an INSEE code such as 33, 2A or 971")
    return text


def departement_epsg(departement: str) -> int:
    """EPSG code of the projected CRS in which ``departement`` is delivered and measured."""
    code = normalise_departement(departement)
    return next((row.epsg for row in TERRITORY_CRS if code in row.departements), METROPOLE_EPSG)


def departement_of_commune(code_insee: str) -> str:
    """Département of a commune INSEE code (``33063`` -> ``33``, ``97411`` -> ``974``, ``2A004`` -> ``2A``)."""
    code = str(code_insee).strip().upper()
    if not re.fullmatch(r"[0-9][0-9AB][0-9]{3}", code):
        raise UnknownCodeError(f"{code_insee!r} is not a commune INSEE code (five characters, e.g. 33063)")
    return code[:3] if code.startswith("97") else code[:2]


def listed_epsgs() -> str:
    """The territory CRSs as messages list them: ``EPSG:2154, 5490, 2972, 2975 or 4471``."""
    *first, last = territory_epsgs()
    return f"EPSG:{', '.join(map(str, first))} or {last}" if first else f"EPSG:{last}"
