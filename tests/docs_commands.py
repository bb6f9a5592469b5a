"""The commands that README.md and docs/*.md show, read out of the Markdown so that tests/test_docs_commands.py can
run each one as written against a live server.

What counts as a command:
- every command of a fenced block tagged ``sh``, ``bash``, ``shell`` or ``console``, or untagged with ``$ `` prompts
  or a ``127.0.0.1:5000`` URL (a ``\\`` at the end of a line and a quote left open continue it; comment lines are
  not commands, but a comment starting ``HTTP/1.1 NNN`` right after one says the status it answers);
- a fenced ``python`` block that names ``127.0.0.1:5000`` (run as one program);
- an inline code span that starts with a command word (``curl``, ``ogrinfo``, …) and names ``127.0.0.1:5000``, and
  every autolink ``<http://127.0.0.1:5000/…>`` (a page a reader is told to open).

A block that a test cannot run (it needs a GPU, runs for minutes, starts the server itself) carries the marker
``<!-- not run: REASON -->`` on the line before its opening fence, so nothing is left out without a reason shown in
the docs and in the test's listing.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path

#: The base URL every example uses; the test swaps in its own server's.
DOC_BASE = "http://127.0.0.1:5000"
SHELL_TAGS = frozenset({"sh", "bash", "shell", "console"})
#: First words of an inline code span that make it a command to run (with a ``127.0.0.1:5000`` URL in it).
COMMAND_WORDS = ("curl ", "ogrinfo ", "ogr2ogr ", "wget ", "http ")
MARKER = re.compile(r"<!--\s*not run:\s*(?P<reason>.*?)\s*-->", re.DOTALL)
FENCE = re.compile(r"^(?P<fence>```+|~~~+)\s*(?P<info>[^\s`]*)")
STATUS = re.compile(r"^HTTP/\d(?:\.\d)?\s+(?P<status>\d{3})\b")
EXCEPTION_CODE = re.compile(r'"code":\s*"(?P<code>\w+)"')
#: The start of the description shown, up to its first figure or quote (the figures vary with the data).
DESCRIPTION = re.compile(r'"description":\s*"(?P<start>[^"0-9…]*)')
INLINE_CODE = re.compile(r"(?<!`)`([^`\n]+)`(?!`)")
AUTOLINK = re.compile(r"<(" + re.escape(DOC_BASE) + r"[^>\s]*)>")


@dataclass(frozen=True)
class DocCommand:
    """One command of the docs, where it is written and what the docs say it answers."""

    doc: str
    line: int
    kind: str  # "shell", "python" or "url"
    text: str
    #: The reason given by a ``not run`` marker; None for a command the test runs.
    not_run: str | None = None
    #: The HTTP status the docs show right after the command (None: a 2xx is expected).
    status: int | None = None
    #: The OGC exception code shown with that status.
    code: str | None = None
    #: The start of the exception's description shown with it.
    description: str | None = None
    notes: tuple[str, ...] = field(default=())

    @property
    def id(self) -> str:
        """``doc:line``, the test id."""
        return f"{self.doc}:{self.line}"


@dataclass
class _Block:
    line: int  # line of the opening fence
    info: str
    body: list[tuple[int, str]]
    marker: str | None


def _marker_before(lines: list[str], index: int) -> str | None:
    """The reason of a ``not run`` marker ending on the last non-blank line before ``lines[index]``, if any."""
    end = index - 1
    while end >= 0 and not lines[end].strip():
        end -= 1
    if end < 0 or not lines[end].rstrip().endswith("-->"):
        return None
    start = end
    while start > 0 and "<!--" not in lines[start]:
        start -= 1
    found = MARKER.search("\n".join(lines[start : end + 1]))
    return found["reason"] if found else None


def _blocks(lines: list[str]) -> tuple[list[_Block], list[tuple[int, str]]]:
    """The fenced blocks and the lines outside them (numbered from 1)."""
    blocks: list[_Block] = []
    outside: list[tuple[int, str]] = []
    current: _Block | None = None
    fence = ""
    for index, line in enumerate(lines):
        opening = FENCE.match(line)
        if current is None and opening:
            fence = opening["fence"]
            current = _Block(index + 1, opening["info"].lower(), [], _marker_before(lines, index))
        elif current is not None and line.strip().startswith(fence) and not line.strip()[len(fence) :].strip():
            blocks.append(current)
            current = None
        elif current is not None:
            current.body.append((index + 1, line))
        else:
            outside.append((index + 1, line))
    if current is not None:
        raise ValueError(f"line {current.line}: fenced block never closed")
    return blocks, outside


def _quotes_closed(text: str) -> bool:
    """Whether the shell would end the command here (no quote left open)."""
    try:
        shlex.split(text, comments=True)
    except ValueError:
        return False
    return True


def split_shell(body: list[tuple[int, str]]) -> list[tuple[int, str, list[str]]]:
    """``(first line, command, comment lines after it)`` for each command of a shell block; a block with ``$ ``
    prompts is a transcript, whose commands are the prompted lines."""
    if any(line.startswith("$ ") for _, line in body):
        return [(no, line[2:], []) for no, line in body if line.startswith("$ ")]
    commands: list[tuple[int, str, list[str]]] = []
    pending: list[str] = []
    start = 0
    for no, line in body:
        if not pending:
            stripped = line.strip()
            if not stripped:
                continue
            if stripped.startswith("#"):
                if commands:
                    commands[-1][2].append(stripped.lstrip("#").strip())
                continue
            start = no
        pending.append(line)
        text = "\n".join(pending)
        if text.endswith("\\") or not _quotes_closed(text):
            continue
        commands.append((start, text, []))
        pending = []
    if pending:
        raise ValueError(f"line {start}: command never ends (open quote or trailing backslash)")
    return commands


def _expected(notes: list[str]) -> tuple[int | None, str | None, str | None]:
    """The first ``HTTP/1.1 NNN`` the comments after a command show, with the exception code and the start of the
    description on that line."""
    for note in notes:
        status = STATUS.match(note)
        if status:
            code = EXCEPTION_CODE.search(note)
            description = DESCRIPTION.search(note)
            return (
                int(status["status"]),
                code["code"] if code else None,
                description["start"].strip() or None if description else None,
            )
    return None, None, None


def _is_shell(block: _Block) -> bool:
    if block.info in SHELL_TAGS:
        return True
    text = "\n".join(line for _, line in block.body)
    return not block.info and (DOC_BASE in text or any(line.startswith("$ ") for _, line in block.body))


def doc_commands(path: Path, root: Path) -> list[DocCommand]:
    """Every command of one Markdown file, in the order written."""
    lines = path.read_text(encoding="utf-8").splitlines()
    doc = path.relative_to(root).as_posix()
    blocks, outside = _blocks(lines)
    found: list[DocCommand] = []
    for block in blocks:
        if _is_shell(block):
            for no, text, notes in split_shell(block.body):
                status, code, description = _expected(notes)
                found.append(DocCommand(doc, no, "shell", text, block.marker, status, code, description, tuple(notes)))
        elif block.info == "python" and any(DOC_BASE in line for _, line in block.body):
            text = "\n".join(line for _, line in block.body)
            found.append(DocCommand(doc, block.body[0][0], "python", text, block.marker))
    for no, line in outside:
        spans = INLINE_CODE.findall(line)
        found.extend(
            DocCommand(doc, no, "shell", span) for span in spans if span.startswith(COMMAND_WORDS) and DOC_BASE in span
        )
        found.extend(DocCommand(doc, no, "url", url) for url in AUTOLINK.findall(line))
    return sorted(found, key=lambda command: command.line)


def stray_markers(path: Path) -> list[int]:
    """Lines of ``not run`` markers that no fenced block follows (a marker that marks nothing)."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    strays = []
    for marker in MARKER.finditer(text):
        following = text.count("\n", 0, marker.end()) + 1
        while following < len(lines) and not lines[following].strip():
            following += 1
        if following >= len(lines) or not FENCE.match(lines[following]):
            strays.append(text.count("\n", 0, marker.start()) + 1)
    return strays


def documents(root: Path) -> list[Path]:
    """README.md and docs/*.md."""
    return [root / "README.md", *sorted((root / "docs").glob("*.md"))]
