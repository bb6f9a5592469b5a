"""The table of grouped territories (EPCI, SCoT, région, département): names and memberships, kept in the store.

The commune contours carry at most an EPCI SIREN; names, SCoT perimeters and régions come from other sources
(``ingest.territories``). They are kept as notes of the store (:meth:`FeatureStore.set_mark`, scope
:data:`SCOPE`), one JSON document per kind: replacing a kind is then one write that readers see whole or not at
all, on both stores, with no schema to migrate.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from .base import FeatureStore

#: The notes' scope in the store.
SCOPE = "territoires"
#: The kinds of grouped territory the table holds.
KINDS = ("epci", "scot", "region", "departement")


@dataclass(frozen=True)
class TerritoryRecord:
    """One grouped territory: made of communes (EPCI, SCoT) or of départements (région, département)."""

    kind: str
    code: str
    nom: str
    #: INSEE codes of its communes, with the former codes of merged communes (data of an older COG still match).
    communes: tuple[str, ...] = ()
    #: INSEE codes of its départements (a région's; a département's own code).
    departements: tuple[str, ...] = ()


@dataclass(frozen=True)
class TerritoryTable:
    """Every territory of one kind, as one ingest wrote them, and where they came from."""

    kind: str
    source: str
    records: tuple[TerritoryRecord, ...]


def write_table(store: FeatureStore, table: TerritoryTable) -> None:
    """Replace the territories of ``table.kind`` by ``table``, in one write."""
    document = {
        "source": table.source,
        "territoires": [[r.code, r.nom, list(r.communes), list(r.departements)] for r in table.records],
    }
    store.set_mark(SCOPE, table.kind, json.dumps(document, ensure_ascii=False, separators=(",", ":")))


def read_table(store: FeatureStore, kind: str) -> TerritoryTable | None:
    """The territories of ``kind`` held in the store, or None when none were ingested."""
    text = store.marks(SCOPE).get(kind)
    if text is None:
        return None
    document = json.loads(text)
    records = tuple(
        TerritoryRecord(kind, code, nom, tuple(communes), tuple(departements))
        for code, nom, communes, departements in document["territoires"]
    )
    return TerritoryTable(kind, document["source"], records)
