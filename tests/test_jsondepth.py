"""The one JSON nesting measure (``ocsge_processes.jsondepth``): exact on documents and on malformed text, brackets
inside strings and escapes never counted, and linear where the old string pattern was quadratic."""

from __future__ import annotations

import json
import random
import time

import pytest

from ocsge_processes.jsondepth import json_depth, skeleton_depth, without_strings


def _decoded_depth(document: object) -> int:
    """The oracle for documents: nesting of what json decoded."""
    if isinstance(document, dict):
        return 1 + max((_decoded_depth(value) for value in document.values()), default=0)
    if isinstance(document, list):
        return 1 + max((_decoded_depth(item) for item in document), default=0)
    return 0


def _walked_depth(text: str) -> tuple[int, bool]:
    """The oracle for any text: a character walk that reads strings as a JSON reader does, up to the first backslash
    outside a string (no reader gets past one); and whether it stopped there."""
    deepest = depth = 0
    in_string = escaped = False
    for char in text:
        if in_string:
            if escaped:
                escaped = False
            elif char == "\\":
                escaped = True
            elif char == '"':
                in_string = False
        elif char == "\\":
            return deepest, True
        elif char == '"':
            in_string = True
        elif char in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif char in "]}":
            depth -= 1
    return deepest, False


def _random_document(generator: random.Random, depth: int) -> object:
    """Nested lists and objects whose strings hold brackets, quotes, backslashes and non-ASCII text."""
    pieces = ["[", "]", "{", "}", '"', "\\", "\\\\", '\\"', "é", "ab", ":", ","]
    if depth == 0 or generator.random() < 0.2:
        return "".join(generator.choice(pieces) for _ in range(generator.randint(0, 8)))
    children = [_random_document(generator, depth - 1) for _ in range(generator.randint(0, 3))]
    if generator.random() < 0.5:
        return children
    return {"".join(generator.choice(pieces) for _ in range(3)) + str(i): child for i, child in enumerate(children)}


def test_documents_measure_as_decoded() -> None:
    generator = random.Random(5)
    depths = set()
    for _ in range(3000):
        document = _random_document(generator, generator.randint(0, 12))
        text = json.dumps(document, ensure_ascii=generator.random() < 0.5)
        assert json_depth(text) == _decoded_depth(document), text
        depths.add(_decoded_depth(document))
    assert len(depths) > 8, "the documents cover many depths"


def test_malformed_text_measures_as_a_reader_reads_it() -> None:
    """Unclosed strings run to the end; unbalanced brackets count as they come; before a stray backslash the
    measure is exact, after it never below what came before."""
    generator = random.Random(7)
    alphabet = '[]{}"\\a,:'
    stops = 0
    for _ in range(50_000):
        text = "".join(generator.choice(alphabet) for _ in range(generator.randint(0, 24)))
        walked, stopped = _walked_depth(text)
        stops += stopped
        if stopped:
            assert json_depth(text) >= walked, text
        else:
            assert json_depth(text) == walked, text
    assert 10_000 < stops < 40_000, "both kinds of text are tried"


@pytest.mark.parametrize(
    ("text", "depth"),
    [
        ('{"a": "[[[[", "b": [1, {"c": "]]"}]}', 3),
        ('["\\"[", ["\\\\"], "\\\\\\"["]', 2),
        ('{"unclosed": "[[[[', 1),
        ("[" * 100_000, 100_000),
        ("[]" * 1000, 1),
        ("", 0),
    ],
    ids=["brackets-in-strings", "escapes", "unclosed-string", "deep", "flat", "empty"],
)
def test_known_depths(text: str, depth: int) -> None:
    assert json_depth(text) == depth


def test_chunks_carry_the_running_depth() -> None:
    """Past the 4 Mi brackets summed at once, the count goes on from where the previous chunk left it."""
    half = 3 * 1024 * 1024
    assert skeleton_depth("[" * half + "]" * half) == half
    assert skeleton_depth("[]" * half + "[[[") == 3


def test_an_unclosed_string_of_escaped_quotes_is_read_once() -> None:
    """The former pattern had to find a closing quote, so it started again at every escaped quote: 80 KB took
    32 s, quadratic. Every attempt now succeeds, and the whole string goes in one match."""
    text = '{"a":"' + '\\"' * 500_000
    assert without_strings(text) == "{:"
    started = time.perf_counter()
    assert json_depth(text) == 1
    # A linear scan of 1 MB takes milliseconds; the quadratic one took hours. 5 s only absorbs a loaded machine.
    assert time.perf_counter() - started < 5
