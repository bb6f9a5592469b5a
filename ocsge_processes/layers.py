"""The published collections: ids, tables and fields. These names are the public API; keep them.

Each layer is stored in one table whose columns are exactly its fields (plus an integer ``fid`` key and the
geometry), in the territory's projected CRS. Stores and the ingest both read these definitions, so a field is
declared once.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .errors import UnknownCodeError

#: Field types, as JSON Schema names them.
STRING, INTEGER, NUMBER, BOOLEAN = "string", "integer", "number", "boolean"


@dataclass(frozen=True)
class Layer:
    """One collection: what it is called, where it is stored, which fields it has."""

    collection_id: str
    table: str
    title: str
    description: str
    fields: dict[str, str]
    #: Identifies an object within one delivery slice (IGN `id`; the same id may recur in another millésime).
    id_field: str = "id"
    #: Whether ``id_field`` is unique across the collection; if not, features are identified by the store's key.
    unique_id: bool = False
    #: Fields whose values come from a nomenclature: field name -> "cs" or "us".
    coded: dict[str, str] = field(default_factory=dict)
    #: Columns that identify one delivery slice; re-ingesting a slice replaces it (idempotent ingest).
    slice_keys: tuple[str, ...] = ("departement", "millesime")


OCCUPATION_SOL = Layer(
    collection_id="ocsge-occupation-sol",
    table="occupation_sol",
    title="OCS GE – Occupation du sol",
    description="Couverture (CS) and usage (US) of the land, one polygon per homogeneous area (IGN OCCUPATION_SOL).",
    fields={
        "id": STRING, "code_cs": STRING, "code_us": STRING, "millesime": INTEGER, "source": STRING,
        "ossature": INTEGER, "id_origine": STRING, "code_or": STRING, "departement": STRING,
        "libelle_cs": STRING, "libelle_us": STRING,
    },
    coded={"code_cs": "cs", "code_us": "us"},
)

ZONE_CONSTRUITE = Layer(
    collection_id="ocsge-zone-construite",
    table="zone_construite",
    title="OCS GE – Zones construites",
    description="Built-up envelopes (IGN ZONE_CONSTRUITE); they set the 500 m² minimum mapping unit inside them.",
    fields={"id": STRING, "millesime": INTEGER, "departement": STRING},
)

#: Codes before and after a change, shared by the two difference layers.
_CHANGE_CODES = {"code_cs_avant": STRING, "code_us_avant": STRING, "code_cs_apres": STRING, "code_us_apres": STRING}
_CHANGE_CODED = {"code_cs_avant": "cs", "code_us_avant": "us", "code_cs_apres": "cs", "code_us_apres": "us"}
_CHANGE_SLICE = ("departement", "millesime_avant", "millesime_apres")

DIFFERENCE = Layer(
    collection_id="ocsge-difference",
    table="difference",
    title="OCS GE – Évolutions entre deux millésimes",
    description="Polygons whose couverture or usage changed between two millésimes (IGN DIFF), with both codes.",
    fields={"id": STRING, **_CHANGE_CODES, "millesime_avant": INTEGER, "millesime_apres": INTEGER,
            "departement": STRING},
    coded=_CHANGE_CODED,
    slice_keys=_CHANGE_SLICE,
)

ARTIF = Layer(
    collection_id="ocsge-artif",
    table="artif",
    title="OCS GE – Artificialisation (IGN)",
    description="IGN's OCS GE Artificialisation layer: decree thresholds applied, `artif` and `crit_seuil` per polygon.",
    fields={
        "id": STRING, "code_cs": STRING, "code_us": STRING, "millesime": INTEGER, "artif": STRING,
        "crit_seuil": BOOLEAN, "departement": STRING,
    },
    coded={"code_cs": "cs", "code_us": "us"},
)

ARTIF_DIFFERENCE = Layer(
    collection_id="ocsge-artif-difference",
    table="artif_difference",
    title="OCS GE – Flux d'artificialisation (IGN)",
    description="IGN's artificialisation DIFF layer: `artificialisation` = 1 (artificialised) or -1 (désartificialised).",
    fields={
        "id": STRING, **_CHANGE_CODES, "artif_avant": STRING, "artif_apres": STRING, "artificialisation": INTEGER,
        "millesime_avant": INTEGER, "millesime_apres": INTEGER, "departement": STRING,
    },
    coded=_CHANGE_CODED,
    slice_keys=_CHANGE_SLICE,
)

COMMUNES = Layer(
    collection_id="communes",
    table="communes",
    title="Communes",
    description="Commune contours (Admin Express or BD TOPO), the territories of the artificialisation rate.",
    fields={"code_insee": STRING, "nom": STRING, "departement": STRING, "epci": STRING},
    id_field="code_insee",
    unique_id=True,
    slice_keys=("departement",),
)

#: What each public field means, for the JSON Schemas and the docs.
FIELD_DESCRIPTIONS: dict[str, str] = {
    "id": "Identifier of the object in the delivery (IGN `id`), unique per millésime.",
    "code_cs": "Couverture du sol code (CS nomenclature leaf, e.g. CS1.1.1.1).",
    "code_us": "Usage du sol code (US nomenclature leaf, e.g. US235).",
    "millesime": "Reference year of the OCS GE millésime.",
    "source": "Origin of the object; generated data says so here.",
    "ossature": "1 when the object belongs to the BD TOPO skeleton (main roads, railways).",
    "id_origine": "Identifier of the object in its source database (IGN `id_origine`).",
    "code_or": "Source-origin code (IGN `code_or`).",
    "departement": "INSEE code of the département (33, 2A, 971, ...).",
    "libelle_cs": "Label of code_cs in the OCS GE nomenclature.",
    "libelle_us": "Label of code_us in the OCS GE nomenclature.",
    "code_cs_avant": "Couverture code at the earlier millésime.",
    "code_us_avant": "Usage code at the earlier millésime.",
    "code_cs_apres": "Couverture code at the later millésime.",
    "code_us_apres": "Usage code at the later millésime.",
    "millesime_avant": "Earlier millésime of the change.",
    "millesime_apres": "Later millésime of the change.",
    "artif": "IGN decision for the object: 'artif' or 'non artif' (decree thresholds applied).",
    "crit_seuil": "True when the decree thresholds, not the CS × US matrix, decided `artif`.",
    "artif_avant": "IGN artif status at the earlier millésime.",
    "artif_apres": "IGN artif status at the later millésime.",
    "artificialisation": "1: became artificial; -1: became non-artificial (désartificialisation).",
    "code_insee": "INSEE code of the commune.",
    "nom": "Name of the commune.",
    "epci": "SIREN of the commune's EPCI, where known.",
}

LAYERS: dict[str, Layer] = {
    layer.collection_id: layer
    for layer in (OCCUPATION_SOL, ZONE_CONSTRUITE, DIFFERENCE, ARTIF, ARTIF_DIFFERENCE, COMMUNES)
}


def get_layer(collection_id: str) -> Layer:
    """The layer published as ``collection_id``, or an error listing the known ones."""
    try:
        return LAYERS[collection_id]
    except KeyError:
        raise UnknownCodeError(
            f"unknown collection {collection_id!r}; expected one of {', '.join(LAYERS)}"
        ) from None
