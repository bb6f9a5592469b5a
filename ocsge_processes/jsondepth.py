"""How deeply a JSON text nests arrays and objects, measured before anything parses it.

Every recursive reader of JSON (json's own, and every walk of what it returns) fails with a RecursionError when the
nesting is deep enough, so the request checks measure the raw text first, and the measure must stay fast on the
largest body the server accepts (32 MiB for a process execution) whatever its shape. Escaped backslashes and
quotes are deleted first, so every quote left opens or closes a string; strings are then removed by one regular
expression whose every attempt succeeds (an unclosed string runs to the end of the text, as a JSON reader reads it),
so the scan stays linear on malformed text too. The rest is reduced to its brackets, and the depth is the highest
running count of opened minus closed brackets, summed by numpy a chunk at a time: exact however deep the text goes,
so a refusal can say how deep it was.
"""

from __future__ import annotations

import re

import numpy as np

#: A JSON string once its escapes are gone, or an unclosed one up to the end of the text. Each attempt starting at a
#: quote succeeds, so the search never starts again from a quote inside a string (the usual pattern, which has to
#: find a closing quote, does: quadratic time on an unclosed string full of escaped quotes).
_STRING = re.compile(r'"[^"]*(?:"|\Z)')
#: Every byte but the four brackets, deleted from the skeleton before counting.
_NOT_BRACKETS = bytes(code for code in range(256) if code not in b"[]{}")
#: Opening brackets to 1 and closing ones to -1 (255 read as a signed byte): the steps of the running depth.
_STEPS = bytes.maketrans(b"[{]}", b"\x01\x01\xff\xff")
#: Brackets summed at once: bounds the working memory (a 32-bit running count a bracket, 16 MiB a chunk) on a body
#: that is all brackets.
_CHUNK = 1 << 22


def without_strings(text: str) -> str:
    """``text`` with its JSON strings (quotes and escapes included) removed: its structure, numbers and literals."""
    if "\\" in text:
        # In a run of backslashes, each pair is one escaped backslash and an odd one out escapes the next character;
        # str.replace pairs them from the left, so what remains is exactly the escaping backslashes.
        text = text.replace("\\\\", "").replace('\\"', "")
    return _STRING.sub("", text)


def skeleton_depth(skeleton: str) -> int:
    """Most arrays and objects open at once in ``skeleton``, a JSON text without its strings
    (:func:`without_strings`). Closing brackets are not matched to their kind: that is the parser's check."""
    steps = skeleton.encode("ascii", "ignore").translate(_STEPS, _NOT_BRACKETS)
    level = deepest = 0
    for start in range(0, len(steps), _CHUNK):
        chunk = np.frombuffer(steps, dtype=np.int8, count=min(_CHUNK, len(steps) - start), offset=start)
        running = np.cumsum(chunk, dtype=np.int32)
        running += level
        deepest = max(deepest, int(running.max()))
        level = int(running[-1])
    return deepest


def json_depth(text: str) -> int:
    """Most arrays and objects open at once in the JSON ``text``, brackets inside strings not counted."""
    return skeleton_depth(without_strings(text))
