"""JSON Schema of each collection, derived from the layer definitions and the nomenclature.

The files in ``schemas/`` are this output, committed so that people can read the public API without running
code; a test keeps them in step. Coded fields get the nomenclature's leaf codes as their enum.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TypedDict

from . import nomenclature
from .layers import FIELD_DESCRIPTIONS, LAYERS, Layer

# JSON Schema keys with a dollar sign or a hyphen: TypedDict's functional form.
#: One property's schema: a field (title, type, description, enum when coded) or the geometry (format).
PropertySchema = TypedDict(
    "PropertySchema",
    {"title": str, "type": str, "description": str, "enum": list[str], "format": str, "x-ogc-role": str},
    total=False,
)
CollectionSchema = TypedDict(
    "CollectionSchema",
    {
        "$schema": str,
        "$id": str,
        "title": str,
        "description": str,
        "type": str,
        "properties": dict[str, PropertySchema],
    },
)


def field_enum(layer: Layer, name: str) -> list[str] | None:
    """Allowed values of a coded field (CS or US leaves), None for free fields."""
    kind = layer.coded.get(name)
    if kind is None:
        return None
    return (nomenclature.couverture() if kind == "cs" else nomenclature.usage()).leaves()


def collection_schema(layer: Layer) -> CollectionSchema:
    """The JSON Schema of one feature's properties and geometry."""
    properties: dict[str, PropertySchema] = {
        "geometry": {"format": "geometry-multipolygon", "x-ogc-role": "primary-geometry"},
    }
    for name, kind in layer.fields.items():
        entry: PropertySchema = {"title": name, "type": kind, "description": FIELD_DESCRIPTIONS[name]}
        enum = field_enum(layer, name)
        if enum is not None:
            entry["enum"] = enum
        if name == layer.id_field and layer.unique_id:
            entry["x-ogc-role"] = "id"
        properties[name] = entry
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"{layer.collection_id}.json",
        "title": layer.title,
        "description": layer.description,
        "type": "object",
        "properties": properties,
    }


def write_schemas(folder: Path) -> list[Path]:
    """Write one ``<collection>.json`` per layer into ``folder``."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for layer in LAYERS.values():
        path = folder / f"{layer.collection_id}.json"
        path.write_text(json.dumps(collection_schema(layer), indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        paths.append(path)
    return paths
