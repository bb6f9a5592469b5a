"""Checks of a process execution request before pygeoapi sees it, so that nothing a client sends can reach the
process (or create a job) without matching what the process description publishes.

In order, each cheap before the next: UTF-8 text; nesting measured by a linear scan that does not recurse
(:mod:`ocsge_processes.jsondepth`: deep nesting makes any recursive reader, json's included, fail with a
RecursionError); strict JSON (no NaN, no number that
overflows to infinity); the execution document's top level (``inputs``, ``outputs``, ``response``, ``subscriber``,
``mode``: shapes and types only; where subscriber URLs may point is the outbound URL policy's decision, in the
job manager); the inputs against the process's published schemas (``processes.check_inputs``). Every refusal is an
InvalidInputError naming the member.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from pygeoapi.plugin import load_plugin

from ..errors import InvalidInputError
from ..jsondepth import skeleton_depth, without_strings
from .processes import check_inputs
from .validation import first_problem

#: Nesting levels of arrays and objects in an execution request; a MultiPolygon territory needs 8.
MAX_DEPTH = 32
_EXECUTION = re.compile(r"^/processes/(?P<process>[^/]+)/execution/?$")
#: A number that may overflow a 64-bit float has an exponent of 3 digits or 309 digits in a row.
_BIG_EXPONENT = re.compile(r"[eE]\+?[0-9]{3}")
_DIGITS_AS_ZERO = str.maketrans("123456789", "0" * 9)
URI = {
    "type": "string",
    "maxLength": 2048,
    "pattern": r"^[Hh][Tt][Tt][Pp][Ss]?://[^\s]+$",
    "description": "an absolute http(s) URI",
}
SUBSCRIBER = {
    "type": ["object", "null"],
    "required": ["successUri"],
    "additionalProperties": False,
    "properties": {"successUri": URI, "inProgressUri": URI, "failedUri": URI},
}


def document_schema(outputs: list[str] | None) -> dict[str, object]:
    """The execution request's top level (OGC API - Processes 1.0 ``execute.yaml``); ``outputs``: the names the
    process offers (None: not known)."""
    output = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"format": {"type": "object"}, "transmissionMode": {"enum": ["value", "reference"]}},
    }
    return {
        "type": "object",
        "additionalProperties": False,
        "properties": {
            "inputs": {"type": "object"},
            "outputs": {
                "type": ["object", "null"],
                "additionalProperties": output,
                **({"propertyNames": {"enum": outputs}} if outputs is not None else {}),
            },
            "response": {"enum": ["raw", "document"]},
            "subscriber": SUBSCRIBER,
            "mode": {"enum": ["sync", "async", "auto"]},
        },
    }


class ExecutionCheck:
    """Checks execution requests for the processes of a pygeoapi configuration."""

    def __init__(self, config: dict[str, Any]) -> None:  # the pygeoapi configuration: free-form YAML
        self.definitions = {
            name: resource["processor"]
            for name, resource in config["resources"].items()
            if resource.get("type") == "process"
        }
        self.descriptions: dict[str, dict[str, Any]] = {}

    def check(self, path: str, body: bytes) -> None:
        """Raise InvalidInputError for the first problem of the request ``body`` posted to ``path``."""
        match = _EXECUTION.match(path)
        metadata = self.metadata(match["process"]) if match else None
        document = parse(body)
        problem = first_problem(document_schema(list(metadata["outputs"]) if metadata else None), document)
        if problem:
            where, sentence = problem
            raise InvalidInputError(f"{f'{where!r} of ' if where else ''}the execution request: {sentence}")
        if metadata is not None:
            check_inputs(document.get("inputs", {}), metadata)

    # Any: a process description is free-form JSON (OGC API - Processes), as each process declares it
    def metadata(self, process: str) -> dict[str, Any] | None:
        """The description of ``process`` as pygeoapi publishes it (None for a process it does not know)."""
        if process not in self.definitions:
            return None
        if process not in self.descriptions:
            self.descriptions[process] = load_plugin("process", self.definitions[process]).metadata
        return self.descriptions[process]


# Any: the client's execution request, free-form JSON until its schemas are checked
def parse(body: bytes) -> dict[str, Any]:
    """The execution request as a JSON object, refused unless it is UTF-8, shallow enough and strict JSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidInputError(
            f"the execution request is not UTF-8 text (byte {err.start}): send a JSON "
            "document with Content-Type: application/json"
        ) from None
    skeleton = without_strings(text)
    depth = skeleton_depth(skeleton)
    if depth > MAX_DEPTH:
        raise InvalidInputError(
            f"the execution request nests arrays and objects {depth} levels deep; the limit is {MAX_DEPTH}"
        )
    huge = _BIG_EXPONENT.search(skeleton) or "0" * 309 in skeleton.translate(_DIGITS_AS_ZERO)
    try:  # parse_float None: json's own float, several times faster than a Python function
        document = json.loads(text, parse_constant=_no_constant, parse_float=_finite if huge else None)
    except InvalidInputError:
        raise
    except ValueError as err:
        raise InvalidInputError(f"the execution request is not a JSON document: {err}") from None
    if not isinstance(document, dict):
        raise InvalidInputError(
            f"the execution request must be a JSON object with an 'inputs' object, not "
            f"{type(document).__name__} {text[:40]!r}"
        )
    return document


def _no_constant(name: str) -> float:
    raise InvalidInputError(f"the execution request is not strict JSON: {name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidInputError(
            f"the execution request holds the number {text}, beyond the range of 64-bit floating point"
        )
    return value
