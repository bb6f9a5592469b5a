"""Grouped territories (EPCI, SCoT, région, département) found by code or by name, and the ingested communes
that make them up: the resolution the process, the dashboard and the exports share.

Names and memberships come from the territory table (``stores.territory_table``, filled by ``ocsge
ingest-territoires``). Without one, an EPCI is still found by SIREN through the communes' own ``epci`` column, and a
département by its code; a name, a SCoT or a région needs the table, and the error says so.
"""

from __future__ import annotations

import difflib
import re
import unicodedata
from collections.abc import Iterable

from ..errors import UnknownCodeError
from ..layers import COMMUNES
from ..stores import FeatureStore, table_name
from ..stores.territory_table import KINDS, TerritoryRecord, read_table
from ..territory import departement_epsg, departement_of_commune, normalise_departement, territory_epsgs

#: What each kind is called in messages.
LABELS = {"epci": "EPCI", "scot": "SCoT", "region": "région", "departement": "département"}
#: Close matches a refusal suggests.
SUGGESTIONS = 5
#: Territories a search gives at most.
SEARCH_LIMIT = 20


class UnknownTerritoryError(UnknownCodeError):
    """A territory code or name that the store does not know."""


def find(store: FeatureStore, kind: str, value: str) -> TerritoryRecord:
    """The territory of ``kind`` whose code is ``value``, else whose name is ``value`` (case, accents and
    punctuation aside); an UnknownTerritoryError naming it, with close names, otherwise."""
    label = _label(kind)
    wanted = value.strip()
    table = read_table(store, kind)
    if table is None:
        fallback = _without_table(store, kind, wanted)
        if fallback is not None:
            return fallback
        raise UnknownTerritoryError(
            f"unknown {label} {value!r}: no {label} table is ingested in the store (ocsge ingest-territoires)"
        )
    for record in table.records:
        if record.code == wanted or (kind == "departement" and record.code == _departement_code(wanted)):
            return record
    key = normalised(wanted)
    named = [record for record in table.records if normalised(record.nom) == key]
    if len(named) == 1:
        return named[0]
    if named:
        raise UnknownTerritoryError(
            f"{label} name {value!r} is ambiguous: {', '.join(f'{r.nom} ({r.code})' for r in named)}; give its code"
        )
    fallback = _without_table(store, kind, wanted)
    if fallback is not None:
        return fallback
    close = close_names(wanted, (record.nom for record in table.records))
    hint = f"; close names: {', '.join(close)}" if close else ""
    raise UnknownTerritoryError(f"unknown {label} {value!r}: neither a code nor a name of the {label} table{hint}")


def members(store: FeatureStore, kind: str, code: str) -> list[str]:
    """Sorted INSEE codes of the ingested communes that make up the territory ``kind``/``code`` (a code or name);
    an UnknownTerritoryError when it is unknown or none of its communes is ingested."""
    record = find(store, kind, code)
    found = sorted(_members_of(record, _ingested(store, _departements_of(record))))
    if not found:
        raise UnknownTerritoryError(f"no commune of {_label(kind)} {record.code} ({record.nom}) is ingested")
    return found


def listing(store: FeatureStore, kind: str) -> dict[str, str]:
    """Code -> name of every territory of ``kind`` the store knows (without a table: the EPCI SIRENs and
    départements of the ingested communes, named by their code)."""
    table = read_table(store, _kind(kind))
    if table is not None:
        return {record.code: record.nom for record in table.records}
    column = {"epci": 2, "departement": 1}.get(kind)
    if column is None:
        return {}
    return {row[column]: row[column] for row in _ingested(store) if row[column]}


def commune_memberships(store: FeatureStore, kind: str) -> dict[str, str]:
    """INSEE code of each ingested commune -> code of its territory of ``kind`` (absent when none is known)."""
    communes = _ingested(store)
    table = read_table(store, _kind(kind))
    found: dict[str, str] = {}
    if kind == "epci":  # the communes' own column, which the table overrides where it knows the commune
        found.update((code, epci) for code, _, epci in communes if epci)
    elif kind == "departement" and table is None:
        found.update((code, departement) for code, departement, _ in communes)
    if table is None:
        return found
    if kind in ("region", "departement"):
        owner = {departement: record.code for record in table.records for departement in record.departements}
        found.update((code, owner[departement]) for code, departement, _ in communes if departement in owner)
        return found
    held = {code for code, _, _ in communes}
    for record in table.records:  # over the members, not the communes: 1 255 EPCI times 35 000 communes is slow
        found.update((commune, record.code) for commune in record.communes if commune in held)
    return found


def search(store: FeatureStore, text: str, limit: int = SEARCH_LIMIT) -> list[TerritoryRecord]:
    """The territories of the table whose name holds ``text`` (case, accents and punctuation aside) or whose code is
    ``text``, and of which some commune is ingested: régions, départements, EPCI then SCoT, names starting with it
    first. What the dashboard's search box offers."""
    key, code = normalised(text), text.strip()
    if len(key) < 2:
        return []
    communes, departements = _held(store)
    found: list[tuple[bool, int, TerritoryRecord]] = []
    for rank, kind in enumerate(("region", "departement", "epci", "scot")):
        table = read_table(store, kind)
        for record in table.records if table is not None else ():
            name = normalised(record.nom)
            if key not in name and record.code != code:
                continue
            if departements.isdisjoint(record.departements) and communes.isdisjoint(record.communes):
                continue
            found.append((not name.startswith(key), rank, record))
    found.sort(key=lambda hit: (hit[0], hit[1], hit[2].nom))
    return [record for _, _, record in found[:limit]]


def normalised(name: str) -> str:
    """``name`` compared as users type it: lower case, no accents, punctuation as spaces."""
    plain = unicodedata.normalize("NFKD", name.casefold())
    letters = "".join(char for char in plain if not unicodedata.combining(char))
    return " ".join(re.sub(r"[^0-9a-z]+", " ", letters).split())


def close_names(value: str, names: Iterable[str]) -> list[str]:
    """Up to :data:`SUGGESTIONS` names like ``value``: those containing it first, then the nearest spellings."""
    by_key: dict[str, str] = {}
    for name in names:
        by_key.setdefault(normalised(name), name)
    key = normalised(value)
    containing = sorted(name for k, name in by_key.items() if key and key in k)
    nearest = difflib.get_close_matches(key, list(by_key), n=SUGGESTIONS, cutoff=0.6)
    chosen = [*containing, *(by_key[k] for k in nearest if by_key[k] not in containing)]
    return chosen[:SUGGESTIONS]


#: An ingested commune: INSEE code, département, EPCI SIREN ("" when not known).
Commune = tuple[str, str, str]


def _ingested(store: FeatureStore, departements: set[str] | None = None) -> list[Commune]:
    """The ingested communes (of ``departements`` only, when given: an EPCI's are read, not all of France's)."""
    tables = store.tables()
    frames = []
    for epsg in territory_epsgs():
        if table_name(COMMUNES, epsg) not in tables:
            continue
        if departements is None:
            frames.append(store.read_frame(COMMUNES, epsg))
        else:
            here = sorted(d for d in covered(departements) if departement_epsg(d) == epsg)
            frames.extend(store.read_frame(COMMUNES, epsg, equals={"departement": d}) for d in here)
    rows: list[Commune] = []
    for frame in frames:
        epci = frame["epci"].fillna("") if "epci" in frame else [""] * len(frame)
        rows.extend(zip(frame["code_insee"], frame["departement"], epci, strict=True))
    return [(str(code), str(departement), str(siren)) for code, departement, siren in rows]


def covered(departements: Iterable[str]) -> set[str]:
    """Those of ``departements`` that have a territory CRS: a collectivité d'outre-mer (975, 988, ...) has none, and
    no OCS GE, so none of its communes can be held."""
    found = set()
    for departement in departements:
        try:
            departement_epsg(departement)
        except UnknownCodeError:
            continue
        found.add(departement)
    return found


def _departements_of(record: TerritoryRecord) -> set[str] | None:
    """The départements a territory's communes lie in (None: not known, read them all)."""
    if record.departements:
        return set(record.departements)
    try:
        return {departement_of_commune(code) for code in record.communes}
    except UnknownCodeError:  # a code of a user's table that names no département: read every commune
        return None


def _held(store: FeatureStore) -> tuple[set[str], set[str]]:
    """INSEE codes and départements of the ingested communes (distinct values: no contour is read)."""
    tables = store.tables()
    codes: set[str] = set()
    departements: set[str] = set()
    for epsg in territory_epsgs():
        if table_name(COMMUNES, epsg) in tables:
            codes.update(str(code) for code in store.distinct(COMMUNES, epsg, "code_insee"))
            departements.update(str(code) for code in store.distinct(COMMUNES, epsg, "departement"))
    return codes, departements


def _members_of(record: TerritoryRecord, communes: list[Commune]) -> set[str]:
    if record.kind in ("region", "departement"):
        return {code for code, departement, _ in communes if departement in record.departements}
    wanted = set(record.communes)
    return {code for code, _, _ in communes if code in wanted}


def _without_table(store: FeatureStore, kind: str, value: str) -> TerritoryRecord | None:
    """An EPCI SIREN that ingested communes carry, or the code of a département some ingested commune is in."""
    if kind == "epci" and re.fullmatch(r"[0-9]{9}", value):
        codes = tuple(sorted(code for code, _, epci in _ingested(store) if epci == value))
        return TerritoryRecord("epci", value, value, codes) if codes else None
    code = _departement_code(value) if kind == "departement" else None
    if code is not None and any(departement == code for _, departement, _ in _ingested(store)):
        return TerritoryRecord("departement", code, code, (), (code,))
    return None


def _departement_code(value: str) -> str | None:
    try:
        return normalise_departement(value)
    except UnknownCodeError:
        return None


def _kind(kind: str) -> str:
    if kind not in KINDS:
        raise UnknownCodeError(f"unknown kind of territory {kind!r}; expected one of {', '.join(KINDS)}")
    return kind


def _label(kind: str) -> str:
    return LABELS[_kind(kind)]
