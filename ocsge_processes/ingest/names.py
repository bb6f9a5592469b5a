"""What IGN delivery names say: département, CRS, millésimes, and which published layer a source layer feeds.

IGN names carry the metadata that old shapefiles lack (``OCS-GE_2-0__SHP_LAMB93_D094_DIFF_2018-2021``), so each
token is looked up in a chain of names, most specific first: layer, file, folders, archive.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence

from ..errors import UnknownCodeError
from ..layers import ARTIF, ARTIF_DIFFERENCE, COMMUNES, DIFFERENCE, OCCUPATION_SOL, ZONE_CONSTRUITE, Layer
from ..territory import CRS_TOKENS, normalise_departement

_DEPARTEMENT_TOKEN = re.compile(r"(?<![A-Za-z0-9])D(0?2[AB]|0?\d{2,3})(?![A-Za-z0-9])")
_CRS_TOKEN = re.compile(r"(?<![A-Za-z0-9])(" + "|".join(CRS_TOKENS) + r")(?![A-Za-z0-9])", re.IGNORECASE)
_YEAR = r"(?:19|20)\d{2}"
_YEAR_PAIR = re.compile(rf"(?<!\d)({_YEAR})[-_]({_YEAR})(?!\d)")
_SINGLE_YEAR = re.compile(rf"(?<!\d)({_YEAR})(?!\d)")
#: Per-millésime columns of DIFF layers: ``CS_2018``, ``us_2021``, ``artif_2018``.
YEAR_COLUMN = re.compile(rf"^(cs|us|artif)_({_YEAR})$", re.IGNORECASE)


def departement_token(names: Iterable[str]) -> str | None:
    """Département of the first name with a ``D033`` / ``D02A`` / ``D0971`` token, as an INSEE code."""
    for name in names:
        match = _DEPARTEMENT_TOKEN.search(name)
        if match:
            code = match.group(1)
            if len(code) == 4:  # D0971 in ARTIFICIALISATION archives, D971 elsewhere
                code = code[1:]
            try:
                return normalise_departement(code)
            except UnknownCodeError:
                continue
    return None


def crs_token(names: Iterable[str]) -> tuple[str, int] | None:
    """CRS token (``LAMB93``...) of the first name that has one, and its EPSG code."""
    for name in names:
        match = _CRS_TOKEN.search(name)
        if match:
            token = match.group(1).upper()
            return token, CRS_TOKENS[token]
    return None


def year_pair(names: Iterable[str]) -> tuple[int, int] | None:
    """Millésimes of the first name with two years (``DIFF-2018-2021``, ``zan_evol_2018_2021``), earlier first.

    Names may list them in reverse (``desartificialisation_2018_2015``); the earlier year is always "avant".
    """
    for name in names:
        match = _YEAR_PAIR.search(name)
        if match:
            first, second = int(match.group(1)), int(match.group(2))
            if first != second:
                return min(first, second), max(first, second)
    return None


def single_year(names: Iterable[str]) -> int | None:
    """Millésime of the first name that holds exactly one year (``..._D033_2021-01-01``, ``artif_2021_33``)."""
    for name in names:
        years = set(_SINGLE_YEAR.findall(name))
        if len(years) == 1:
            return int(years.pop())
    return None


def layer_by_name(name: str) -> Layer | None:
    """Published layer that a file or layer name announces, as IGN and sparte name them; None when unknown."""
    lowered = name.lower()
    if "commune" in lowered:
        return COMMUNES
    if "zan_evol" in lowered:
        return ARTIF_DIFFERENCE
    is_diff = "diff" in lowered or "diif" in lowered  # some IGN archives misspell DIFF
    if "artif" in lowered:
        return ARTIF_DIFFERENCE if is_diff else ARTIF
    if is_diff:
        return DIFFERENCE
    if "occupation" in lowered:
        return OCCUPATION_SOL
    if "construite" in lowered:
        return ZONE_CONSTRUITE
    return None


def layer_by_fields(fields: Iterable[str]) -> Layer | None:
    """Published layer that a field list implies, or None when the fields alone do not tell.

    Fields win over names: SYBARVAL's ``artificialisation_2015_2018`` is a plain DIFF layer (codes of both years,
    no ``artif`` column), and an IGN DIFF file may sit in a folder named after OCCUPATION_SOL.
    """
    lowered = {field.lower() for field in fields}
    per_year = [YEAR_COLUMN.match(field) for field in lowered]
    prefixes_years = {(m.group(1).lower(), m.group(2)) for m in per_year if m}
    cs_years = {year for prefix, year in prefixes_years if prefix == "cs"}
    if "artificialisation" in lowered or any(prefix == "artif" for prefix, _ in prefixes_years):
        return ARTIF_DIFFERENCE
    if {"cs_avant", "cs_apres"} <= lowered or len(cs_years) >= 2:
        return DIFFERENCE
    if "artif" in lowered:
        return ARTIF
    if "code_cs" in lowered or "couverture" in lowered:
        return OCCUPATION_SOL
    return None


def route_layer(names: Sequence[str], fields: Iterable[str]) -> Layer | None:
    """Published layer fed by a source layer: the first name that announces one, refined by the fields.

    A layer whose names announce nothing is not part of the delivery (``enveloppe_urbaine_2018``): None.
    """
    by_name = next((layer for layer in map(layer_by_name, names) if layer is not None), None)
    if by_name is None or by_name is COMMUNES:
        return by_name
    return layer_by_fields(fields) or by_name
