"""What IGN delivery names say: département, CRS, millésimes, and which published layer a source layer feeds.

IGN names carry the metadata that old shapefiles lack (``OCS-GE_2-0__SHP_LAMB93_D094_DIFF_2018-2021``), so each
token is looked up in a chain of names, most specific first: layer, file, folders, archive.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence

from ..errors import UnknownCodeError
from ..layers import Layer, delivered_layers
from ..territory import crs_tokens, normalise_departement

_DEPARTEMENT_TOKEN = re.compile(r"(?<![A-Za-z0-9])D(0?2[AB]|0?\d{2,3})(?![A-Za-z0-9])")
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
    tokens = crs_tokens()
    pattern = _token_pattern(tuple(tokens))
    for name in names:
        match = pattern.search(name)
        if match:
            token = match.group(1).upper()
            return token, tokens[token]
    return None


@functools.cache
def _token_pattern(tokens: tuple[str, ...]) -> re.Pattern[str]:
    """A whole-token match of any of ``tokens``, case-insensitive (compiled once per table)."""
    return re.compile(r"(?<![A-Za-z0-9])(" + "|".join(map(re.escape, tokens)) + r")(?![A-Za-z0-9])", re.IGNORECASE)


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
    """Published layer that a file or layer name announces, as IGN and sparte name them (``Delivery.names``);
    None when unknown."""
    return next((layer for layer in delivered_layers() if layer.delivery and layer.delivery.named_in(name)), None)


def layer_by_fields(fields: Iterable[str]) -> Layer | None:
    """Published layer that a field list implies (``Delivery.fields``), or None when the fields alone do not tell.

    Fields win over names: SYBARVAL's ``artificialisation_2015_2018`` is a plain DIFF layer (codes of both years,
    no ``artif`` column), and an IGN DIFF file may sit in a folder named after OCCUPATION_SOL.
    """
    tokens = field_tokens(fields)
    return next((layer for layer in delivered_layers() if layer.delivery and layer.delivery.told_by(tokens)), None)


def field_tokens(fields: Iterable[str]) -> set[str]:
    """Lower-case field names, plus ``{prefix}_<avant>`` when per-millésime columns (``cs_2018``) name one year
    and ``{prefix}_<apres>`` when they name two or more, as ``Delivery.fields`` spells them."""
    lowered = {field.lower() for field in fields}
    years: dict[str, set[str]] = {}
    for match in filter(None, map(YEAR_COLUMN.match, lowered)):
        years.setdefault(match.group(1).lower(), set()).add(match.group(2))
    for prefix, named in years.items():
        lowered.add(f"{prefix}_<avant>")
        if len(named) >= 2:
            lowered.add(f"{prefix}_<apres>")
    return lowered


def expected_names() -> str:
    """What names route a layer to each published one, for messages (``occupation for ocsge-occupation-sol``)."""
    return "; ".join(
        f"{' or '.join('+'.join(group) for group in layer.delivery.names)} for {layer.collection_id}"
        for layer in delivered_layers()
        if layer.delivery is not None
    )


def route_layer(names: Sequence[str], fields: Iterable[str]) -> Layer | None:
    """Published layer fed by a source layer: the first name that announces one, refined by the fields.

    A layer whose names announce nothing is not part of the delivery (``enveloppe_urbaine_2018``): None.
    """
    by_name = next((layer for layer in map(layer_by_name, names) if layer is not None), None)
    if by_name is None or (by_name.delivery is not None and by_name.delivery.by_name_only):
        return by_name
    return layer_by_fields(fields) or by_name
