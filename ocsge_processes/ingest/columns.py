"""Field-name variants of IGN deliveries mapped to our canonical columns, with typed and validated values.

Names vary with format and vintage (``CODE_CS`` in SHP, ``code_cs`` in GPKG, ``couverture``; ``cs_avant`` or
``CS_2018`` in DIFF layers), and so do types (``millesime`` as text or integer, ``crit_seuil`` as 0/1 or text).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial

import numpy as np
import pandas as pd
from pandas.api.extensions import ExtensionDtype

from ..errors import DeliveryError
from ..layers import BOOLEAN, INTEGER, NUMBER, STRING, Layer
from ..nomenclature import Nomenclature, couverture, usage
from .names import YEAR_COLUMN
from .zoning import DATE_FIELDS, cnig_dates, typezones

log = logging.getLogger(__name__)

#: pandas dtype of each field type; the text dtype is pandas' default one, whose missing value is NaN.
DTYPES: dict[str, ExtensionDtype] = {
    STRING: pd.StringDtype(na_value=np.nan),
    INTEGER: pd.Int64Dtype(),
    NUMBER: pd.Float64Dtype(),
    BOOLEAN: pd.BooleanDtype(),
}

#: Source names of each canonical column, lower case, preferred first.
_VARIANTS: dict[str, tuple[str, ...]] = {
    "id": ("id", "gid"),  # gid: the Géoportail de l'Urbanisme's key of a zone
    "code_cs": ("code_cs", "couverture"),
    "code_us": ("code_us", "usage"),
    "millesime": ("millesime",),
    "source": ("source",),
    "ossature": ("ossature",),
    "id_origine": ("id_origine",),
    "code_or": ("code_or",),
    "departement": ("departement", "code_dep"),
    "artif": ("artif",),
    "crit_seuil": ("crit_seuil",),
    "artificialisation": ("artificialisation",),
    "millesime_avant": ("millesime_avant",),
    "millesime_apres": ("millesime_apres",),
    "code_cs_avant": ("code_cs_avant", "cs_avant"),
    "code_cs_apres": ("code_cs_apres", "cs_apres"),
    "code_us_avant": ("code_us_avant", "us_avant"),
    "code_us_apres": ("code_us_apres", "us_apres"),
    "artif_avant": ("artif_avant",),
    "artif_apres": ("artif_apres",),
    "code_insee": ("code_insee", "insee_com", "code", "insee"),
    "nom": ("nom", "nom_com"),
    "epci": ("epci", "siren_epci", "code_epci", "_siren_epc"),
}
#: Columns that DIFF layers may instead carry once per millésime (``cs_2018``): prefix and which year.
_PER_YEAR: dict[str, tuple[str, int]] = {
    "code_cs_avant": ("cs", 0),
    "code_cs_apres": ("cs", 1),
    "code_us_avant": ("us", 0),
    "code_us_apres": ("us", 1),
    "artif_avant": ("artif", 0),
    "artif_apres": ("artif", 1),
}
#: Code values that mean "no code" in real deliveries (SYBARVAL has ``INDETERMINE`` usages); read as null.
NO_CODE = frozenset({"", "INDETERMINE"})
_ARTIF_VALUES = ("artif", "non artif")
_TRUE = ("true", "t", "1", "oui", "yes", "vrai")
_FALSE = ("false", "f", "0", "non", "no", "faux")
#: Columns read from the source beyond the layer's fields, or derived later rather than read.
_EXTRA = ("code_insee",)
_DERIVED = ("libelle_cs", "libelle_us")


@dataclass(frozen=True)
class SourceColumns:
    """Canonical columns of one source layer, before its département, millésimes and ids are settled."""

    #: Typed values under canonical names; only the columns the source has.
    values: pd.DataFrame
    #: Millésimes named by per-year columns (``cs_2015``, ``cs_2018``), earlier first.
    years: tuple[int, int] | None


def read_columns(raw: pd.DataFrame, layer: Layer, source: str) -> SourceColumns:
    """Find, convert and validate the columns of ``layer`` in a source frame; refuse missing or unknown values."""
    lookup = {str(name).lower(): str(name) for name in raw.columns if name != "geometry"}
    per_year, years = _per_year_columns(lookup, layer, source)
    mapping: dict[str, str] = {}
    for canonical in (*layer.fields, *_EXTRA):
        if canonical in _DERIVED:
            continue
        found = next((lookup[v] for v in _VARIANTS.get(canonical, (canonical,)) if v in lookup), None)
        if found is None and canonical in _PER_YEAR and years is not None:
            prefix, which = _PER_YEAR[canonical]
            found = per_year.get((prefix, years[which]))
        if found is not None:
            mapping[canonical] = found
    required = layer.delivery.required if layer.delivery is not None else ()
    missing = [name for name in required if name not in mapping]
    if missing:
        expected = "; ".join(f"{name} ({' / '.join(_VARIANTS.get(name, (name,)))})" for name in missing)
        raise DeliveryError(
            f"{source}: missing field(s) for {layer.collection_id}: {expected}; "
            f"the layer has {', '.join(lookup.values()) or 'no fields'}"
        )
    values = pd.DataFrame(index=raw.index)
    for canonical, column in mapping.items():
        values[canonical] = _converter(canonical, layer)(raw[column], source, column)
    return SourceColumns(values, years)


def typed_column(kind: str, values: pd.Series | None, index: pd.Index) -> pd.Series:
    """``values`` in the dtype of field type ``kind``, or an all-null column when the source lacks it."""
    if values is None:
        return pd.Series(pd.NA, index=index, dtype=DTYPES[kind])
    return values.astype(DTYPES[kind])


def labels(codes: pd.Series, nomenclature: Nomenclature) -> pd.Series:
    """Nomenclature labels of validated codes; null stays null."""
    distinct = codes.dropna().unique()
    return codes.map({code: nomenclature.label(code) for code in distinct}).astype(DTYPES[STRING])


def _per_year_columns(
    lookup: dict[str, str], layer: Layer, source: str
) -> tuple[dict[tuple[str, int], str], tuple[int, int] | None]:
    if "millesime_avant" not in layer.fields:
        return {}, None
    per_year = {}
    for lowered, column in lookup.items():
        match = YEAR_COLUMN.match(lowered)
        if match:
            per_year[(match.group(1), int(match.group(2)))] = column
    years = sorted({year for _, year in per_year})
    if not years:
        return per_year, None
    if len(years) != 2:
        raise DeliveryError(
            f"{source}: per-millésime fields ({', '.join(sorted(per_year.values()))}) name "
            f"{len(years)} years ({', '.join(map(str, years))}); a DIFF layer compares exactly two"
        )
    return per_year, (years[0], years[1])


Converter = Callable[[pd.Series, str, str], pd.Series]


def _converter(canonical: str, layer: Layer) -> Converter:
    kind = layer.coded.get(canonical)
    if kind is not None:
        return partial(_codes, nomenclature=couverture() if kind == "cs" else usage(), kind=kind)
    if canonical in ("artif", "artif_avant", "artif_apres"):
        return _artif
    if canonical == "artificialisation":
        return _artificialisation
    if canonical in ("code_insee", "insee"):  # insee: a ZONE_URBA's commune
        return _insee
    if canonical == "typezone":
        return typezones
    if canonical in DATE_FIELDS:
        return cnig_dates
    if layer.fields.get(canonical) == BOOLEAN:
        return _boolean
    if layer.fields.get(canonical) == INTEGER:
        return _integer
    if layer.fields.get(canonical) == NUMBER:
        return _number
    return _any_text


def _codes(values: pd.Series, source: str, field: str, *, nomenclature: Nomenclature, kind: str) -> pd.Series:
    """Codes as the nomenclature spells them: ``CS1.1.1.1`` also from a bare ``1.1.1.1``."""
    mapping: dict[object, str | None] = {}
    unknown: dict[object, int] = {}
    nulled = 0
    for value, count in values.value_counts(dropna=True).items():
        code = _scalar_text(value).upper()
        if code in NO_CODE:
            mapping[value], nulled = None, nulled + int(count)
            continue
        if code[:1].isdigit():
            code = kind.upper() + code
        if code in nomenclature.codes:
            mapping[value] = code
        else:
            unknown[value] = int(count)
    if unknown:
        shown = ", ".join(f"{value!r} ({count} row{'s' if count > 1 else ''})" for value, count in unknown.items())
        raise DeliveryError(
            f"{source}: unknown {nomenclature.kind} code(s) in field {field!r}: {shown}; "
            f"{sum(unknown.values())} row(s) in all. Codes must be in config/nomenclature (e.g. "
            f"{nomenclature.leaves()[0]})"
        )
    if nulled:
        log.info("%s: %d %s value(s) empty or INDETERMINE, read as null", source, nulled, field)
    return values.map(mapping).astype(DTYPES[STRING])


def _artif(values: pd.Series, source: str, field: str) -> pd.Series:
    text = _text(values).str.lower().str.replace(r"[\s_-]+", " ", regex=True).str.strip()
    _refuse(values, text.notna() & ~text.isin(_ARTIF_VALUES), source, field, "'artif' or 'non artif'")
    return text


def _artificialisation(values: pd.Series, source: str, field: str) -> pd.Series:
    numbers = _integer(values, source, field)
    _refuse(values, numbers.notna() & ~numbers.isin([1, -1]), source, field, "1 or -1")
    return numbers


def _boolean(values: pd.Series, source: str, field: str) -> pd.Series:
    text = _text(values).str.lower()
    result = pd.Series(pd.NA, index=values.index, dtype="boolean")
    result[text.isin(_TRUE)] = True
    result[text.isin(_FALSE)] = False
    _refuse(values, text.notna() & result.isna(), source, field, "a boolean (true/false, 1/0)")
    return result


def _integer(values: pd.Series, source: str, field: str) -> pd.Series:
    if pd.api.types.is_bool_dtype(values) or pd.api.types.is_integer_dtype(values):
        return values.astype("Int64")
    text = _text(values)
    numbers = pd.to_numeric(text, errors="coerce")
    bad = text.notna() & (numbers.isna() | (numbers % 1 != 0))
    _refuse(values, bad, source, field, "an integer")
    return numbers.astype("Float64").astype("Int64")


def _number(values: pd.Series, source: str, field: str) -> pd.Series:
    """Numbers, also from text; text that is not a number is refused (pandas' cast would fail without a file)."""
    if pd.api.types.is_numeric_dtype(values) and not pd.api.types.is_bool_dtype(values):
        return values.astype(DTYPES[NUMBER])
    text = _text(values)
    numbers = pd.to_numeric(text, errors="coerce")
    _refuse(values, text.notna() & numbers.isna(), source, field, "a number")
    return numbers.astype(DTYPES[NUMBER])


def _any_text(values: pd.Series, source: str, field: str) -> pd.Series:
    return _text(values)


def _insee(values: pd.Series, source: str, field: str) -> pd.Series:
    """INSEE codes as text; codes stored as numbers lose their leading zero (1001 for 01001)."""
    text = _text(values).str.upper()
    short = text.str.fullmatch(r"\d{4}").fillna(False).astype(bool)
    return text.mask(short, text.str.zfill(5))


def _text(values: pd.Series) -> pd.Series:
    """Text of each value, stripped; integral numbers without ``.0`` (SIREN read as float); empty text is null."""
    if pd.api.types.is_string_dtype(values) and not pd.api.types.is_object_dtype(values):
        text = values.astype(DTYPES[STRING]).str.strip()
    else:
        text = values.map(_scalar_text, na_action="ignore").astype(DTYPES[STRING])
    return text.mask(text == "")


def _scalar_text(value: object) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value).strip()


def _refuse(values: pd.Series, bad: pd.Series, source: str, field: str, expected: str) -> None:
    if bad.any():
        wrong = values[bad.to_numpy(dtype=bool)]
        examples = ", ".join(repr(v) for v in wrong.drop_duplicates().head(5))
        raise DeliveryError(
            f"{source}: field {field!r} must hold {expected}; {len(wrong)} row(s) hold other values, e.g. {examples}"
        )
