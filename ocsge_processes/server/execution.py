"""Checks of a process execution request before pygeoapi sees it, so that nothing a client sends can reach the
process (or create a job) without matching what the process description publishes.

In order, each cheap before the next: UTF-8 text; nesting bounded by a scan that does not recurse (deep nesting
makes any recursive reader, json's included, fail with a RecursionError); strict JSON (no NaN, no number that
overflows to infinity); the execution document's top level (``inputs``, ``outputs``, ``response``, ``subscriber``,
``mode``: shapes and types only; where subscriber URLs may point is the outbound URL policy's decision, in the
job manager); the inputs against the process's published schemas (``processes.check_inputs``). Every refusal is an
InvalidInputError naming the member.
"""

from __future__ import annotations

import json
import math
import re

from pygeoapi.plugin import load_plugin

from ..errors import InvalidInputError
from .processes import check_inputs
from .validation import first_problem

#: Nesting levels of arrays and objects in an execution request; a MultiPolygon territory needs 8.
MAX_DEPTH = 32
_EXECUTION = re.compile(r"^/processes/(?P<process>[^/]+)/execution/?$")
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
#: Drops every ASCII character but brackets (valid JSON has nothing else outside its strings).
_BRACKETS_ONLY = {code: None for code in range(128) if chr(code) not in "[]{}"}
_INNERMOST = re.compile(r"\[\]|\{\}")
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


def document_schema(outputs: list[str] | None) -> dict:
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

    def __init__(self, config: dict) -> None:
        self.definitions = {
            name: resource["processor"]
            for name, resource in config["resources"].items()
            if resource.get("type") == "process"
        }
        self.descriptions: dict[str, dict] = {}

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

    def metadata(self, process: str) -> dict | None:
        """The description of ``process`` as pygeoapi publishes it (None for a process it does not know)."""
        if process not in self.definitions:
            return None
        if process not in self.descriptions:
            self.descriptions[process] = load_plugin("process", self.definitions[process]).metadata
        return self.descriptions[process]


def parse(body: bytes) -> dict:
    """The execution request as a JSON object, refused unless it is UTF-8, shallow enough and strict JSON."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise InvalidInputError(
            f"the execution request is not UTF-8 text (byte {err.start}): send a JSON "
            "document with Content-Type: application/json"
        ) from None
    skeleton = _STRING.sub("", text)
    check_depth(skeleton)
    huge = _BIG_EXPONENT.search(skeleton) or "0" * 309 in skeleton.translate(_DIGITS_AS_ZERO)
    numbers = {"parse_float": _finite} if huge else {}  # json's own float is several times faster
    try:
        document = json.loads(text, parse_constant=_no_constant, **numbers)
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


def check_depth(skeleton: str) -> None:
    """Refuse JSON text (its ``skeleton``: strings removed) nested deeper than MAX_DEPTH, without recursing: all
    but brackets is dropped, then each pass removes the innermost ``[]``/``{}`` pairs, one level a pass."""
    brackets = skeleton.translate(_BRACKETS_ONLY)
    for _ in range(MAX_DEPTH):
        if not brackets:
            return
        inner = _INNERMOST.sub("", brackets)
        if inner == brackets:
            raise InvalidInputError("the execution request is not a JSON document: its brackets do not balance")
        brackets = inner
    if brackets:
        raise InvalidInputError(
            f"the execution request nests arrays and objects more than {MAX_DEPTH} levels "
            f"deep; the limit is {MAX_DEPTH}"
        )


def _no_constant(name: str) -> float:
    raise InvalidInputError(f"the execution request is not strict JSON: {name} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise InvalidInputError(
            f"the execution request holds the number {text}, beyond the range of 64-bit floating point"
        )
    return value
