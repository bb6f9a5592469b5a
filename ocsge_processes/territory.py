"""Territories and their projected CRS: Lambert-93 in metropolitan France, UTM zones overseas.

Areas are planar in the territory's CRS, as the official tool computes them; the CRS of a delivery is named by a
token in its file name (LAMB93, RGAF09UTM20, ...).
"""

from __future__ import annotations

import re

from .errors import UnknownCodeError

#: EPSG code of each CRS token used in IGN delivery names.
CRS_TOKENS: dict[str, int] = {
    "LAMB93": 2154,
    "RGAF09UTM20": 5490,
    "RGFG95UTM22": 2972,
    "UTM22RGFG95": 2972,
    "RGR92UTM40S": 2975,
    "RGM04UTM38S": 4471,
}

#: Overseas départements and their CRS; every other département uses Lambert-93.
DROM_EPSG: dict[str, int] = {"971": 5490, "972": 5490, "973": 2972, "974": 2975, "976": 4471}

METROPOLE_EPSG = 2154

#: Short names of the overseas territories sharing each CRS, used in the ids of their collections.
DROM_NAMES: dict[int, str] = {5490: "antilles", 2972: "guyane", 2975: "reunion", 4471: "mayotte"}

#: The territory CRSs offered to clients besides CRS84, EPSG:4326 and EPSG:3857.
TERRITORY_EPSG: tuple[int, ...] = (2154, 5490, 2972, 2975, 4471)

_DEPARTEMENT = re.compile(r"^(0?[1-9]|[1-8][0-9]|9[0-5]|2[AB]|97[1-46])$")


def normalise_departement(value: object) -> str:
    """INSEE département code as text (``'33'``, ``'2A'``, ``'971'``) from ``33``, ``'D033'``, ``'033'``..."""
    text = str(value).strip().upper()
    if text.startswith("D"):
        text = text[1:]
    if len(text) == 3 and text.startswith("0"):
        text = text[1:]
    if len(text) == 1 and text.isdigit():
        text = "0" + text
    if not _DEPARTEMENT.match(text):
        raise UnknownCodeError(f"unknown département {value!r}; expected an INSEE code such as 33, 2A or 971")
    return text


def departement_epsg(departement: str) -> int:
    """EPSG code of the projected CRS in which ``departement`` is delivered and measured."""
    return DROM_EPSG.get(normalise_departement(departement), METROPOLE_EPSG)


def departement_of_commune(code_insee: str) -> str:
    """Département of a commune INSEE code (``33063`` -> ``33``, ``97411`` -> ``974``, ``2A004`` -> ``2A``)."""
    code = str(code_insee).strip().upper()
    if not re.fullmatch(r"[0-9][0-9AB][0-9]{3}", code):
        raise UnknownCodeError(f"{code_insee!r} is not a commune INSEE code (five characters, e.g. 33063)")
    return code[:3] if code.startswith("97") else code[:2]
