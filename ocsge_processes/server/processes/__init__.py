"""pygeoapi processes: thin adapters over ``ocsge_processes.workflows``.

Each process validates its inputs against the schemas it publishes in its description, with ``check_inputs``:
the request guard calls it before any job exists (``server/execution.py``) and the process again where it runs,
so the description and the checks cannot disagree. Its outputs are one table of :class:`Output` (media type,
description, the function that makes it), from which the published ``outputs`` are derived and an execution's
answer is made. Errors are left to the job runner, which answers them through the one error table.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ...errors import InvalidInputError
from ..validation import check


@dataclass(frozen=True)
class Output[Source]:
    """One output of a process: how it is published and the function that makes it from ``Source`` (the
    execution's request, or the result of its run)."""

    title: str
    media_type: str
    description: str
    produce: Callable[[Source], object]

    # Any: a JSON Schema document, free-form JSON
    def describe(self) -> dict[str, Any]:
        """The output as the process description publishes it."""
        kind = "object" if "json" in self.media_type else "string"
        return {
            "title": self.title,
            "description": self.description,
            "schema": {"type": kind, "contentMediaType": self.media_type},
        }


# Any: the process description's outputs are free-form JSON
def describe_outputs[Source](outputs: Mapping[str, Output[Source]]) -> dict[str, Any]:
    """The ``outputs`` member of a process description."""
    return {name: output.describe() for name, output in outputs.items()}


# Any: the process description (``PROCESS_METADATA``) and the request's inputs are free-form JSON
def check_inputs(data: dict[str, Any], metadata: dict[str, Any]) -> None:
    """Raise InvalidInputError for an unknown input, a missing one (``minOccurs`` ≥ 1), or the first value that
    breaks its published schema, naming the input and the place inside it."""
    unknown = sorted(set(data) - set(metadata["inputs"]))
    if unknown:
        raise InvalidInputError(f"unknown input {unknown[0]!r}; expected: {', '.join(metadata['inputs'])}")
    missing = [name for name, spec in metadata["inputs"].items() if spec.get("minOccurs", 0) and name not in data]
    if missing:
        raise InvalidInputError(f"missing input {missing[0]!r}")
    for name, value in data.items():
        check(metadata["inputs"][name]["schema"], value, name)


# Any: the request's ``outputs`` member is free-form JSON (only its names are read)
def requested_output[Source](
    outputs: dict[str, Any] | None, known: Mapping[str, Output[Source]], default: str
) -> Output[Source]:
    """The one output a request asks for (``default`` when it names none): pygeoapi returns a single document."""
    names = list(outputs or {}) or [default]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise InvalidInputError(f"unknown output {unknown[0]!r}; expected one of {', '.join(known)}")
    if len(names) > 1:
        raise InvalidInputError(f"ask for one output at a time, among {', '.join(known)}")
    return known[names[0]]
