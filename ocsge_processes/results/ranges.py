"""The ``Range`` header of a download (RFC 9110 §14): one byte range, or the whole file.

GDAL's ``/vsicurl/`` and resumed downloads send one range at a time; a request for several ranges is answered
with the whole file, which the RFC allows (a server may ignore Range), rather than with a multipart body no client
of ours reads.
"""

from __future__ import annotations

import re

_ONE_RANGE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class UnsatisfiableRange(ValueError):
    """The range lies wholly beyond the file: answered 416 with the file's size."""


def byte_range(header: str | None, size: int) -> tuple[int, int] | None:
    """The inclusive (first, last) bytes ``header`` asks of a ``size``-byte file; None for the whole file (no
    header, several ranges, or a header that is not a byte range, which the RFC says to ignore)."""
    match = _ONE_RANGE.match(header or "")
    if not match or match.group(1) == match.group(2) == "":
        return None
    first_text, last_text = match.groups()
    if first_text == "":  # a suffix: the last N bytes
        length = int(last_text)
        if length == 0 or size == 0:
            raise UnsatisfiableRange(header)
        return max(size - length, 0), size - 1
    first = int(first_text)
    if last_text and int(last_text) < first:
        return None  # invalid: ignored, as the RFC says
    if first >= size:
        raise UnsatisfiableRange(header)
    return first, min(int(last_text), size - 1) if last_text else size - 1
