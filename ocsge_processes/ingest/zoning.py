"""The fields of a CNIG ZONE_URBA layer that ingest checks: TYPEZONE in the standard, dates as AAAAMMJJ.

The Géoportail de l'Urbanisme publishes zoning as the CNIG standard describes it (``zone_urba`` in its WFS GeoPackage,
``<INSEE or SIREN>_ZONE_URBA_<DATAPPRO>`` shapefiles in a plan's archive), every field text; a shapefile's DBF may
still type dates. A TYPEZONE outside the standard would put a zone in no type of the breakdown, so it is refused
with the values found.
"""

from __future__ import annotations

import pandas as pd

from ..artificialisation.zoning import LEGACY_TYPEZONES, TYPEZONES, cnig_spelling
from ..errors import DeliveryError

#: The CNIG date fields (AAAAMMJJ text).
DATE_FIELDS = ("datappro", "datvalid")
#: AAAAMMJJ, and the ISO or GDAL spellings of the same day (2023-01-15, 2023/01/15 00:00:00) that exports write.
_DATE = r"^((?:19|20)\d{2})[-/]?(\d{2})[-/]?(\d{2})(?:[ T]00:00(?::00)?)?$"


def typezones(values: pd.Series, source: str, field: str) -> pd.Series:
    """TYPEZONE values in the standard's spelling (``AUC`` → ``AUc``; CNIG 2014's Ah, Nh, Nd kept as given)."""
    text = _text(values)
    mapping: dict[str, str] = {}
    wrong: dict[str, int] = {}
    for value, count in text.value_counts(dropna=True).items():
        spelled = cnig_spelling(str(value))
        if spelled is None:
            wrong[str(value)] = int(count)
        else:
            mapping[str(value)] = spelled
    missing = int(text.isna().sum())
    if wrong or missing:
        shown = ", ".join(f"{value!r} ({count} row{'s' if count > 1 else ''})" for value, count in wrong.items())
        empty = f"{missing} row(s) without a value" if missing else ""
        raise DeliveryError(
            f"{source}: field {field!r} is not in the CNIG standard: {'; '.join(filter(None, (shown, empty)))}; "
            f"TYPEZONE must be one of {', '.join(TYPEZONES)} (or CNIG 2014's {', '.join(LEGACY_TYPEZONES)}); "
            "a zone's name on the plan (UA, 1AUh) goes in LIBELLE"
        )
    return text.map(mapping).astype(text.dtype)


def cnig_dates(values: pd.Series, source: str, field: str) -> pd.Series:
    """Dates as the standard writes them, AAAAMMJJ, also from a DBF date field or an ISO day; other text is
    refused."""
    text: pd.Series
    if pd.api.types.is_datetime64_any_dtype(values):
        text = pd.Series(values.dt.strftime("%Y%m%d"), index=values.index, dtype="string")
    else:
        parts = _text(values).str.extract(_DATE)
        text = (parts[0] + parts[1] + parts[2]).astype("string")
    bad = values.notna().to_numpy(dtype=bool) & text.isna().to_numpy(dtype=bool)
    bad &= _text(values).notna().to_numpy(dtype=bool)
    if bad.any():
        examples = ", ".join(repr(v) for v in values[bad].drop_duplicates().head(5))
        raise DeliveryError(
            f"{source}: field {field!r} must hold CNIG dates (AAAAMMJJ); {int(bad.sum())} row(s) hold other "
            f"values, e.g. {examples}"
        )
    return text


def _text(values: pd.Series) -> pd.Series:
    """Stripped text; empty text is null."""
    text = values.astype("string").str.strip()
    return text.mask(text == "")
