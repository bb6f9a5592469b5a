"""Versions of a millésime: IGN publishes corrective patches of a millésime ("Patch correctif M2") as deliveries of
their own. Ingested as a patch, a delivery becomes the new version of the slices it holds: reads and the process use
it, the rows it replaces are kept in the layer's ``-remplacee`` twin (``layers.OCCUPATION_SOL_REMPLACEE``,
``layers.ARTIF_REMPLACEE``) as the version they were, and each slice's versions are noted in the store with their
delivery, its edition date and when they were replaced.

A delivery is a patch when ``ocsge ingest --correctif`` says so, or when its name holds "correctif" or "patch" (how
IGN names its patch files is UNCONFIRMED here). A plain ingest replaces the current version's rows without keeping
them, as before; the same patch ingested again only replaces them again (idempotent).

Order of the writes, so that a run killed at any point is mended by running it again: the replaced rows are copied
to the twin (a slice of its own, replaced whole if copied twice), then the new version is noted, then the rows are
replaced. Killed before the note, the copy is made again; killed after it, the note names the patch as current and a
new run replaces the rows without copying the patch's own rows over the kept version.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

from ..layers import ARTIF, ARTIF_REMPLACEE, OCCUPATION_SOL, OCCUPATION_SOL_REMPLACEE, Layer
from ..stores import FeatureStore, table_name
from .deliveries import Batch

#: The store notes (``FeatureStore.marks``) of the versions: key ``<collection>/<slice values>``.
SCOPE = "versions"
#: Where the replaced rows of each layer are kept; a patch of another layer is noted but its old rows are not kept.
TWINS = {OCCUPATION_SOL.collection_id: OCCUPATION_SOL_REMPLACEE, ARTIF.collection_id: ARTIF_REMPLACEE}
_PATCH_WORDS = ("correctif", "patch")
_EDITION_DATE = re.compile(r"(\d{4}-\d{2}-\d{2})")


class Version(TypedDict):
    """One version of a slice, as noted."""

    version: int
    source: str
    date: str | None
    correctif: bool
    #: When it was ingested (ISO 8601, UTC); None for rows ingested before versions were noted.
    ingeree_le: str | None
    #: Where its rows are kept once replaced (the twin collection), None while current or when not kept.
    conservee_dans: str | None
    remplacee_le: str | None
    remplacee_par: str | None


@dataclass(frozen=True)
class Delivery:
    """A delivery being ingested: its file name, edition date and whether it is a corrective patch."""

    source: str
    date: str | None
    correctif: bool


def delivery_of(path: Path, correctif: bool = False) -> Delivery:
    """What ``path``'s name says: the edition date IGN names end with (``..._2021-01-01.7z``), and whether it is a
    patch (``correctif`` forces it)."""
    name = path.name
    dates = _EDITION_DATE.findall(name)
    return Delivery(name, dates[-1] if dates else None, correctif or any(w in name.lower() for w in _PATCH_WORDS))


def slice_key(layer: Layer, slice_values: Mapping[str, object]) -> str:
    """The note of one slice (``ocsge-occupation-sol/33/2021``)."""
    return "/".join([layer.collection_id, *(str(slice_values[k]) for k in layer.slice_keys)])


def versions(store: FeatureStore, layer: Layer, slice_values: Mapping[str, object]) -> list[Version]:
    """The versions of one slice noted so far, oldest first; the last one is current."""
    noted: list[Version] = json.loads(store.marks(SCOPE).get(slice_key(layer, slice_values)) or "[]")
    return noted


def all_versions(store: FeatureStore) -> dict[str, list[Version]]:
    """Every slice's versions, by note key."""
    return {key: json.loads(value) for key, value in sorted(store.marks(SCOPE).items())}


def patched_versions(
    store: FeatureStore, layer: Layer, years: Mapping[str, Sequence[int]]
) -> dict[str, dict[str, Version]]:
    """The current version of each (département, millésime) of ``years`` that a corrective patch made, by
    département then year: what an answer read from a patch says it used."""
    notes = store.marks(SCOPE)
    found: dict[str, dict[str, Version]] = {}
    for departement, chosen in years.items():
        for year in chosen:
            noted = notes.get(slice_key(layer, {"departement": departement, "millesime": year}))
            history: list[Version] = json.loads(noted) if noted else []
            if len(history) > 1:
                found.setdefault(departement, {})[str(year)] = history[-1]
    return found


def write_batch(store: FeatureStore, batch: Batch, delivery: Delivery) -> int:
    """Write ``batch`` as its delivery says: a patch becomes the slice's new version (the rows it replaces kept in
    the twin), any other delivery replaces the current version; the rows written."""
    key = slice_key(batch.layer, batch.slice)
    history = versions(store, batch.layer, batch.slice)
    current = history[-1] if history else None
    held = _holds_rows(store, batch)
    now = datetime.now(UTC).isoformat(timespec="seconds")
    if delivery.correctif and held and (current is None or current["source"] != delivery.source):
        if current is None:  # ingested before versions were noted
            current = _version(1, "unknown (ingested before versions were noted)", None, False, None)
            history = [current]
        twin = TWINS.get(batch.layer.collection_id)
        if twin is not None:
            _keep(store, batch, twin, current, now, delivery.source)
        current["conservee_dans"] = twin.collection_id if twin else None
        current["remplacee_le"], current["remplacee_par"] = now, delivery.source
        history.append(_version(current["version"] + 1, delivery.source, delivery.date, True, now))
    elif current is None or current["source"] != delivery.source:  # a first or a plain delivery: the current one
        number = current["version"] if current else 1
        history = [*history[:-1], _version(number, delivery.source, delivery.date, delivery.correctif, now)]
    store.set_mark(SCOPE, key, json.dumps(history))
    return store.replace_slice(batch.layer, batch.epsg, batch.frame, batch.slice)


def _version(number: int, source: str, date: str | None, correctif: bool, ingested: str | None) -> Version:
    return {
        "version": number,
        "source": source,
        "date": date,
        "correctif": correctif,
        "ingeree_le": ingested,
        "conservee_dans": None,
        "remplacee_le": None,
        "remplacee_par": None,
    }


def _holds_rows(store: FeatureStore, batch: Batch) -> bool:
    """Whether the batch's slice already holds rows (a patch of nothing is a first delivery)."""
    if table_name(batch.layer, batch.epsg) not in store.tables():
        return False
    return bool(store.slice_version(batch.layer, batch.epsg, batch.slice))


def _keep(store: FeatureStore, batch: Batch, twin: Layer, current: Version, now: str, patch: str) -> None:
    """Copy the slice's current rows into ``twin`` as version ``current``."""
    rows = store.read_frame(batch.layer, batch.epsg, equals=batch.slice)
    kept = rows[[*batch.layer.fields, rows.geometry.name]].copy()
    kept["version"] = current["version"]
    kept["version_source"] = current["source"]
    kept["version_date"] = current["date"]
    kept["remplacee_le"] = now
    kept["remplacee_par"] = patch
    kept = kept[[*twin.fields, rows.geometry.name]]
    store.replace_slice(twin, batch.epsg, kept, {**batch.slice, "version": current["version"]})
