"""The names clients give a CRS, turned into the one OGC URI the server publishes it under.

OGC API names CRSs by URI (``http://www.opengis.net/def/crs/EPSG/0/2154``); the Géoplateforme, GDAL and QGIS name the
territory CRSs by their IGNF codes (``IGNF:LAMB93``, ``IGNF:RGR92UTM40S``), and many clients send ``EPSG:2154`` or
an OGC URN. Every place that takes a CRS (``crs``, ``bbox-crs`` and ``filter-crs`` of the items, process inputs)
goes through :func:`ogc_uri`, so that they all accept the same names. The IGNF aliases are the territory table's
delivery tokens (``territory.TERRITORY_CRS``) that PROJ's database knows as IGNF codes of the same CRS: an alias
means exactly what PROJ and GDAL mean by it.
"""

from __future__ import annotations

import functools

import pyproj

from .territory import CRS84, TERRITORY_CRS, WEB_MERCATOR_EPSG, WGS84_EPSG, epsg_uri

#: Where IGN's registry publishes its CRS definitions; a client may name an IGNF CRS by this URI.
IGNF_REGISTRY = "https://registre.ign.fr/ign/IGNF/crs/IGNF/"
_CRS84_NAMES = ("OGC:CRS84", "urn:ogc:def:crs:OGC:1.3:CRS84", "urn:ogc:def:crs:OGC::CRS84", CRS84)


@functools.cache
def ignf_aliases() -> dict[str, int]:
    """EPSG code of each IGNF code of a territory CRS, as PROJ spells it (``IGNF:LAMB93`` -> 2154)."""
    aliases = {}
    for row in TERRITORY_CRS:
        for token in row.tokens:
            try:
                same = pyproj.CRS.from_user_input(f"IGNF:{token}").to_epsg() == row.epsg
            except pyproj.exceptions.CRSError:  # a delivery token that is not an IGNF code (PROJ knows it not)
                same = False
            if same:
                aliases[f"IGNF:{token}"] = row.epsg
    return aliases


@functools.cache
def _names() -> dict[str, str]:
    """Every accepted name, upper-cased, with its OGC URI."""
    names = {name.upper(): CRS84 for name in _CRS84_NAMES}
    for epsg in (*(row.epsg for row in TERRITORY_CRS), WGS84_EPSG, WEB_MERCATOR_EPSG):
        uri = epsg_uri(epsg)
        for name in (uri, uri.replace("http://", "https://"), f"EPSG:{epsg}", f"urn:ogc:def:crs:EPSG::{epsg}"):
            names[name.upper()] = uri
    for alias, epsg in ignf_aliases().items():
        code = alias.removeprefix("IGNF:")
        for name in (alias, f"urn:ogc:def:crs:IGNF::{code}", IGNF_REGISTRY + code):
            names[name.upper()] = epsg_uri(epsg)
    return names


def ogc_uri(name: str) -> str:
    """The OGC URI of the CRS ``name`` names (``IGNF:LAMB93``, ``EPSG:2154``, an OGC URN or URI, in any case);
    ``name`` itself when it is none of these, for the caller to refuse with the list it supports."""
    return _names().get(name.strip().upper(), name)
