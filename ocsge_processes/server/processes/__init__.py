"""pygeoapi processes: thin adapters over ``ocsge_processes.workflows``."""

from __future__ import annotations

from collections.abc import Iterable

from pygeoapi.process.base import ProcessorExecuteError


def check_inputs(data: dict, metadata: dict) -> None:
    """Unknown or missing (``minOccurs`` ≥ 1) inputs are the client's error, named in the 400."""
    unknown = sorted(set(data) - set(metadata["inputs"]))
    if unknown:
        raise ProcessorExecuteError(user_msg=f"unknown input {unknown[0]!r}; expected: "
                                             f"{', '.join(metadata['inputs'])}")
    missing = [name for name, spec in metadata["inputs"].items() if spec.get("minOccurs", 0) and name not in data]
    if missing:
        raise ProcessorExecuteError(user_msg=f"missing input {missing[0]!r}")


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
