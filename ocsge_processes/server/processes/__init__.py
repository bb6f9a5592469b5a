"""pygeoapi processes: thin adapters over ``ocsge_processes.workflows``.

Each process validates its inputs against the schemas it publishes in its description, with ``check_inputs``:
the request guard calls it before any job exists (``server/execution.py``) and the process again where it runs,
so the description and the checks cannot disagree.
"""

from __future__ import annotations

from collections.abc import Iterable

from pygeoapi.process.base import ProcessorExecuteError

from ...errors import InvalidInputError
from ..validation import check


def check_inputs(data: dict, metadata: dict) -> None:
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


def requested_output(outputs: dict | None, known: Iterable[str], default: str) -> str:
    """The one output a request asks for (``default`` when it names none): pygeoapi returns a single document."""
    known = list(known)
    names = list(outputs or {}) or [default]
    unknown = [name for name in names if name not in known]
    if unknown:
        raise ProcessorExecuteError(user_msg=f"unknown output {unknown[0]!r}; expected one of {', '.join(known)}")
    if len(names) > 1:
        raise ProcessorExecuteError(user_msg=f"ask for one output at a time, among {', '.join(known)}")
    return names[0]
