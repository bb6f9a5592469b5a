"""JSON Schema validation whose refusals read as sentences: which value, where inside it, and what is allowed.

jsonschema's own messages repeat the whole offending value (a list of a million codes) and say nothing useful
for ``oneOf`` ("is not valid under any of the given schemas"). Only the first problem is reported: validation
stops there, so a huge list over its ``maxItems`` is refused without checking every item (schemas put their
cheap keywords first for that reason).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from jsonschema import Draft202012Validator, ValidationError

from ..errors import InvalidInputError

_TYPES = {
    "string": "a string",
    "integer": "an integer",
    "number": "a number",
    "boolean": "a boolean (true or false)",
    "object": "a JSON object",
    "array": "a list",
    "null": "null",
}
_SHOWN = 60


def check(schema: Mapping[str, object], instance: object, where: str) -> None:
    """Raise InvalidInputError describing the first place where ``instance`` (the value named ``where``) breaks
    ``schema``."""
    problem = first_problem(schema, instance)
    if problem is not None:
        path, sentence = problem
        raise InvalidInputError(f"{where}{'.' if path and not path.startswith('[') else ''}{path}: {sentence}")


def first_problem(schema: Mapping[str, object], instance: object) -> tuple[str, str] | None:
    """(the path inside ``instance``, e.g. ``bbox[2]``; what is wrong there) for the first place where it breaks
    ``schema`` (JSON Schema 2020-12, which the OGC process descriptions' schemas are written in), or None."""
    error = next(Draft202012Validator(schema).iter_errors(instance), None)
    if error is None:
        return None
    if error.validator in ("oneOf", "anyOf") and error.context:
        meant = _meant_alternatives(error)
        if len(meant) != 1:
            branches = [error.validator_value[index] for index in meant] or error.validator_value
            return _path(error.absolute_path), f"expected {'only ' if meant else ''}one of: {_names(branches)}"
        error = next(sub for sub in error.context if sub.relative_schema_path[0] == meant[0])
    if "propertyNames" in error.relative_schema_path:
        allowed = error.schema.get("enum") or [error.schema.get("const")]
        return _path(
            error.absolute_path
        ), f"{show(error.instance)} is not allowed here; allowed: {', '.join(map(str, allowed))}"
    return _path(error.absolute_path), _problem(error)


def show(value: object) -> str:
    """A short JSON rendering of a client's value (never the whole of a huge one)."""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}…"


def _path(parts: Iterable[str | int]) -> str:
    return "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in parts).removeprefix(".")


def _problem(error: ValidationError) -> str:
    # The keyword's value and the value it refused: JSON of any shape, which iter_errors always sets (the stubs'
    # Unset is for errors built by hand). The schema holding a keyword is an object (a bare true/false has none).
    keyword = error.validator
    expected: Any = error.validator_value
    value: Any = error.instance
    schema: Mapping[str, Any] = error.schema if isinstance(error.schema, Mapping) else {}
    if keyword == "type":
        kinds = [expected] if isinstance(expected, str) else expected
        return f"expected {' or '.join(_TYPES.get(kind, kind) for kind in kinds)}, got {show(value)}"
    if keyword in ("enum", "const"):
        choices = expected if keyword == "enum" else [expected]
        return f"{show(value)} is not allowed; expected {' or '.join(show(choice) for choice in choices)}"
    if keyword in ("maximum", "exclusiveMaximum"):
        return f"{show(value)} is above the {'maximum' if keyword == 'maximum' else 'limit (excluded)'} {expected}"
    if keyword in ("minimum", "exclusiveMinimum"):
        return f"{show(value)} is below the {'minimum' if keyword == 'minimum' else 'limit (excluded)'} {expected}"
    if keyword in ("minItems", "maxItems"):
        bound = "at least" if keyword == "minItems" else "at most"
        return f"expected {bound} {expected} item{'s' if expected != 1 else ''}, got {len(value)}"
    if keyword in ("minLength", "maxLength"):
        bound = "at least" if keyword == "minLength" else "at most"
        return f"expected {bound} {expected} characters, got {len(value)}"
    if keyword == "uniqueItems":
        return f"each item must appear once; {_first_repeat(value)} is repeated"
    if keyword == "pattern":
        return f"{show(value)} is not {schema.get('description') or f'of the form {expected}'}"
    if keyword == "required":
        missing = [name for name in expected if name not in value]
        return f"missing {', '.join(map(repr, missing))}"
    if keyword == "additionalProperties":
        unknown = sorted(set(value) - set(schema.get("properties", {})))
        return f"unknown {show(unknown[0])}; allowed: {', '.join(schema.get('properties', {}))}"
    if keyword in ("maxProperties", "minProperties"):
        bound = "at least" if keyword == "minProperties" else "at most"
        return f"expected {bound} {expected} member{'s' if expected != 1 else ''}, got {', '.join(map(str, value))}"
    return error.message[:200]


def _meant_alternatives(error: ValidationError) -> list[int]:
    """The alternatives the value was meant for: those whose required (discriminating) members it has."""
    missing = {sub.relative_schema_path[0] for sub in error.context if sub.validator == "required"}
    alternatives: Any = error.validator_value  # the oneOf / anyOf list of schemas, which iter_errors always sets
    return [index for index in range(len(alternatives)) if index not in missing]


def _names(branches: Iterable[Mapping[str, Any]]) -> str:  # JSON Schema branches: free-form JSON
    return ", ".join(" + ".join(branch.get("required", [])) for branch in branches)


def _first_repeat(items: Iterable[object]) -> str:
    seen: set[str] = set()
    for item in items:
        key = json.dumps(item, sort_keys=True, default=str)
        if key in seen:
            return show(item)
        seen.add(key)
    return "an item"
