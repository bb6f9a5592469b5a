"""The results of an execution asked with ``"response": "document"``: one member per output, keyed by its id.

OGC API – Processes 1.0 (``results.yaml``) answers a document request with a map from output id to the output's
value qualified by its media type, and OWSLib and the standard's generated clients read outputs by id; pygeoapi 0.24
wraps the result in a list instead. Most of our processes make one output per execution: the one the request names,
or the first their description lists (their default). A process that makes several at once (``extraction``) returns
them already keyed by output id and says so with a class attribute ``outputs_by_id = True``.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping

#: What a document carries: JSON values, keyed by output id.
type Document = dict[str, object]


def document(
    described: Mapping[str, object],
    requested: Mapping[str, object] | None,
    mimetype: str | None,
    value: object,
    by_id: bool = False,
) -> Document:
    """The document of an execution whose process gave ``value``: as it is when the process keys its outputs by id
    (``by_id``), else the one output it made (:func:`output_id`) qualified by its media type."""
    if by_id and isinstance(value, Mapping):
        return {str(name): output for name, output in value.items()}
    return results_document(output_id(described, requested), mimetype, value)


def output_id(described: Mapping[str, object], requested: Mapping[str, object] | None) -> str:
    """Id of the output an execution made: the one ``requested`` names, else the first ``described`` (the process
    description's ``outputs``)."""
    for name in requested or described:
        return str(name)
    raise ValueError("the process describes no output")


def results_document(name: str, mimetype: str | None, value: object) -> Document:
    """The document of output ``name``: its value (base64 when it is bytes that are not text) and media type."""
    entry: dict[str, object] = {"mediaType": mimetype or "application/json"}
    if isinstance(value, bytes):
        try:
            entry["value"] = value.decode("utf-8")
        except UnicodeDecodeError:
            entry["value"], entry["encoding"] = base64.b64encode(value).decode("ascii"), "base64"
    else:
        entry["value"] = value
    return {name: entry}
