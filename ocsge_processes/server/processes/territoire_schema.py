"""The JSON Schema of the `territoire` input: the ways a user names a territory, checked before anything runs
(``server/validation.py`` turns the first problem into a sentence). ``workflows.territories.resolve`` reads it."""

from __future__ import annotations

from typing import Any

from ...workflows.territories import MAX_LISTE

#: Communes in one territory: more than any région holds (Grand Est: about 5 100).
MAX_COMMUNES = 10_000
_CRS = {"type": "string", "maxLength": 200, "description": "a CRS (e.g. EPSG:2154)"}
#: A code or a name of the territory table (``ocsge ingest-territoires``): names run to about 120 characters.
_NAMED = {"type": "string", "minLength": 1, "maxLength": 200}


def _only(name: str, *optional: str) -> dict[str, Any]:
    """One way of naming a territory: member ``name``, maybe the ``optional`` ones, and no other."""
    return {"required": [name], "propertyNames": {"enum": [name, *optional]}}


#: The territories a list may hold (Any: JSON Schema, free-form): all but a list and a collection.
_ONE: dict[str, Any] = {
    "type": "object",
    # Cheap keywords first: validation stops at the first problem.
    "properties": {
        "communes": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_COMMUNES,
            "uniqueItems": True,
            "items": {
                "type": "string",
                "pattern": "^([0-9]{5}|2[AB][0-9]{3})$",
                "description": "an INSEE commune code (5 characters, e.g. 33009 or 2A004)",
            },
        },
        "epci": {**_NAMED, "description": "an EPCI: its SIREN (9 digits) or its name (Bordeaux Métropole)"},
        "scot": {**_NAMED, "description": "a SCoT: its code or name, as the ingested SCoT table gives them"},
        "region": {**_NAMED, "description": "a région: its INSEE code (75) or name (Nouvelle-Aquitaine)"},
        "departement": {
            "type": "string",
            "pattern": "^([0-9]{2}|2[AB]|97[1-6])$",
            "description": "an INSEE département code (e.g. 33, 2A or 974)",
        },
        "geometry": {
            "type": "object",
            "required": ["type", "coordinates"],
            "properties": {
                "type": {"enum": ["Polygon", "MultiPolygon"]},
                "coordinates": {"type": "array", "minItems": 1},
            },
        },
        "bbox": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}},
        "crs": _CRS,
    },
    "additionalProperties": False,
    "oneOf": [
        _only("communes"),
        _only("epci"),
        _only("scot"),
        _only("region"),
        _only("departement"),
        _only("geometry", "crs"),
        {
            **_only("bbox"),
            "properties": {"bbox": {"items": {"minimum": -180, "maximum": 180}}},
            "description": "a bbox without crs is in CRS84: longitude, latitude",
        },
        {"required": ["bbox", "crs"], "propertyNames": {"enum": ["bbox", "crs"]}},
    ],
}

#: The `territoire` input: one territory, a list of them (one answer each), or an OGC API collection.
TERRITOIRE_SCHEMA: dict[str, Any] = {
    **_ONE,
    "properties": {
        **_ONE["properties"],
        "liste": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_LISTE,
            "items": _ONE,
            "description": "several territories, each answered apart (one entry each in territoires)",
        },
        "collection": {
            "type": "string",
            "format": "uri",
            "maxLength": 2000,
            "description": "an OGC API collection (Processes Part 3): this server's communes, or another server's "
            "polygons (fetched under the outbound policy)",
        },
        "filter": {"type": "string", "maxLength": 20_000, "description": "CQL2 text selecting the collection's items"},
        "filter-lang": {"enum": ["cql2-text"]},
    },
    "oneOf": [*_ONE["oneOf"], _only("liste"), _only("collection", "filter", "filter-lang")],
}
