"""Every command that README.md and docs/*.md show is run as written against a live server, so that the docs cannot
drift from what the server does.

The commands are read out of the Markdown (tests/docs_commands.py says what counts). Each runs with bash in a
folder laid out like a checkout (``data/`` is the test store's folder, ``../shared/data`` the shared data), its
``http://127.0.0.1:5000`` replaced by the test server's URL, and must exit 0 with a useful answer: every HTTP answer
curl gets is a 2xx (or the status the docs show after the command, with its exception code), JSON parses and is no
OGC exception, a feature query finds features, a filtered one not all of them, files written are readable and not
empty. A block the test cannot run carries a ``<!-- not run: REASON -->`` marker in the docs; the reasons are
listed by ``test_blocks_not_run_say_why`` (run pytest with ``-rP`` to see them); its ``ocsge`` commands are still
parsed by the real command line (subcommand, options, required options), which is what drifts when a command changes.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shlex
import shutil
import subprocess
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import click
import pyogrio
import pytest

from .conftest import BIN, ROOT, SHARED
from .docs_commands import DOC_BASE, DocCommand, doc_commands, documents, split_shell, stray_markers

COMMANDS = [command for path in documents(ROOT) for command in doc_commands(path, ROOT)]
RUN = [command for command in COMMANDS if command.not_run is None]
NOT_RUN = [command for command in COMMANDS if command.not_run is not None]
#: Seconds one command may take (the slowest, a synchronous segmentation, takes a few on 2 cores).
COMMAND_TIMEOUT_S = 180
CURL_STATUS = re.compile(rb"^docs-test curl status (\d{3})$", re.MULTILINE)
ITEMS_URL = re.compile(r"(http://127\.0\.0\.1:\d+/collections/[\w-]+)/items")
TIFF_MAGIC = (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+")


def _ids(commands: list[DocCommand]) -> list[str]:
    """``doc:line``, with ``#n`` added where one line holds several commands (two links, say)."""
    seen: Counter[str] = Counter()
    ids = []
    for command in commands:
        seen[command.id] += 1
        ids.append(command.id if seen[command.id] == 1 else f"{command.id}#{seen[command.id]}")
    return ids


def test_docs_commands_are_found_and_markers_mark_blocks() -> None:
    """The reader finds the examples (so a change to the parser cannot silently run nothing), and every marker
    stands right before a block."""
    kinds = Counter(command.kind for command in RUN)
    assert kinds["shell"] >= 15 and kinds["python"] >= 1 and kinds["url"] >= 3, kinds
    assert {command.doc for command in RUN} >= {"README.md", "docs/artificialisation.md", "docs/limits.md"}
    for path in documents(ROOT):
        assert stray_markers(path) == [], f"{path.name}: a 'not run' marker with no fenced block after it"


def test_blocks_not_run_say_why() -> None:
    """Each command left out has its reason in the docs; the list is printed so a run shows what was not run."""
    for command in NOT_RUN:
        assert command.not_run and len(command.not_run.split()) >= 4, f"{command.id}: give a reason"
    print(
        "\n".join(f"not run: {command.id}: {command.text.splitlines()[0]} ({command.not_run})" for command in NOT_RUN)
    )


def test_shell_blocks_split_into_commands_as_bash_would() -> None:
    body = [
        (1, "# a comment"),
        (2, "curl -X POST http://h/x -H 'A: b' \\"),
        (3, "     -d '{"),
        (4, '  "a": 1}\' > out.json'),
        (5, '# HTTP/1.1 414 {"code": "URITooLong", …'),
        (6, ""),
        (7, 'curl -s "http://h/$(python3 -c "print(1)")"   # trailing comment'),
    ]
    commands = split_shell(body)
    assert [(line, notes) for line, _, notes in commands] == [(2, ['HTTP/1.1 414 {"code": "URITooLong", …']), (7, [])]
    assert commands[0][1].endswith("> out.json")
    assert split_shell([(1, "$ ocsge ingest x"), (2, "Error: y"), (3, "$ ls")]) == [
        (1, "ocsge ingest x", []),
        (3, "ls", []),
    ]
    with pytest.raises(ValueError, match="never ends"):
        split_shell([(1, "curl -d '{")])


@dataclass(frozen=True)
class Checkout:
    """A folder laid out like the project's checkout, for commands written relative to it."""

    cwd: Path
    env: dict[str, str]


@pytest.fixture(scope="module")
def checkout(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Checkout:
    """``data/`` is the folder of the server's store (so ``--store data/ocsge.gpkg`` is the store it serves),
    ``../shared/data`` the shared data, and ``curl`` a wrapper that reports each HTTP status on stderr."""
    top = tmp_path_factory.mktemp("docs")
    cwd, shared, bin_dir = top / "checkout", top / "shared", top / "bin"
    for folder in (cwd, shared, bin_dir):
        folder.mkdir()
    (cwd / "data").symlink_to(Path(store_url).parent, target_is_directory=True)
    (shared / "data").symlink_to(SHARED, target_is_directory=True)
    real_curl = shutil.which("curl")
    assert real_curl, "curl is not installed"
    wrapper = bin_dir / "curl"
    wrapper.write_text(
        f"#!/bin/sh\nexec {real_curl} --write-out '%{{stderr}}docs-test curl status %{{http_code}}\\n' \"$@\"\n"
    )
    wrapper.chmod(0o755)
    env = {**os.environ, "PATH": f"{bin_dir}:{BIN}:{os.environ['PATH']}"}
    return Checkout(cwd, env)


def _body(raw: bytes) -> bytes:
    """The body of ``curl -i`` output (each header block dropped), or the output itself."""
    while raw.startswith(b"HTTP/") and b"\r\n\r\n" in raw:
        raw = raw.split(b"\r\n\r\n", 1)[1]
    return raw


def _check_json(document: object, what: str) -> None:
    """A JSON answer that is no OGC exception, and has features if it is a feature collection."""
    if isinstance(document, dict):
        assert not ({"code", "description"} <= document.keys()), f"{what}: an exception: {document}"
        if "features" in document:
            assert document["features"], f"{what}: no feature"


#: The header of a CSV answer (field names, commas, no spaces), told apart from a sentence that holds a comma.
_CSV_HEADER = re.compile(r'"?\w+"?(,"?\w+"?)+')


def _check_answer(body: bytes, what: str) -> None:
    assert body.strip(), f"{what}: empty answer"
    try:
        document = json.loads(body)
    except ValueError:
        text = body.decode("utf-8", errors="replace")
        if what.endswith(".csv") or (_CSV_HEADER.fullmatch(text.splitlines()[0]) and "\ufffd" not in text):
            assert len(text.strip().splitlines()) >= 2, f"{what}: a table with no row: {text[:300]}"
        return
    _check_json(document, what)


def _check_file(path: Path) -> None:
    """A file a command wrote: not empty, and readable as what its name says."""
    data = path.read_bytes()
    assert data, f"{path.name} is empty"
    if path.suffix in {".json", ".geojson"}:
        _check_json(json.loads(data), path.name)
        assert json.loads(data).get("features"), f"{path.name}: no feature"
    elif path.suffix in {".tif", ".tiff"}:
        assert data[:4] in TIFF_MAGIC, f"{path.name} is not a TIFF: {data[:200]!r}"
    elif path.suffix == ".pmtiles":  # Debian's ogrinfo (GDAL 3.6) has no PMTiles driver; pyogrio's GDAL has
        assert pyogrio.read_info(path)["features"] > 0, f"{path.name}: no feature"
    elif path.suffix == ".gpkg":
        info = subprocess.run(["ogrinfo", "-so", "-al", str(path)], capture_output=True, text=True, check=True)
        counts = [int(n) for n in re.findall(r"Feature Count: (\d+)", info.stdout)]
        assert counts and sum(counts) > 0, f"{path.name}: no feature\n{info.stdout}"
    else:
        _check_answer(data, path.name)


def _not_all(text: str, body: bytes) -> None:
    """A filtered feature query matches fewer features than the collection holds (a filter ignored would not)."""
    found = ITEMS_URL.search(text)
    if not found or not re.search(r"filter|cql", text):
        return
    document = json.loads(body)
    if not isinstance(document, dict) or "numberMatched" not in document:
        return
    with urllib.request.urlopen(f"{found[1]}/items?f=json&limit=1") as answer:
        total = json.load(answer)["numberMatched"]
    assert 0 < document["numberMatched"] < total, f"the filter matched {document['numberMatched']} of {total}"


def _run_shell(command: DocCommand, server: str, checkout: Checkout) -> None:
    text = command.text.replace(DOC_BASE, server)
    before = set(checkout.cwd.iterdir())
    done = subprocess.run(
        ["bash", "-o", "pipefail", "-c", text],
        cwd=checkout.cwd,
        env=checkout.env,
        capture_output=True,
        timeout=COMMAND_TIMEOUT_S,
    )
    stderr = done.stderr.decode("utf-8", errors="replace")
    assert done.returncode == 0, f"exit status {done.returncode}:\n{stderr[-3000:]}"
    statuses = [int(status) for status in CURL_STATUS.findall(done.stderr)]
    if re.search(r"\bcurl\b", text):
        assert statuses, f"no HTTP answer seen:\n{stderr[-3000:]}"
    if command.status is not None:
        assert statuses == [command.status] * len(statuses), (
            f"the docs show {command.status}, got {statuses}: {done.stdout[-2000:]!r}"
        )
    else:
        assert all(200 <= status < 300 for status in statuses), f"HTTP {statuses}: {done.stdout[-2000:]!r}"
    written = sorted(set(checkout.cwd.iterdir()) - before)
    body = _body(done.stdout)
    assert body.strip() or written, "no answer: nothing printed, no file written"
    if command.code is not None:
        refusal = json.loads(body)
        assert refusal["code"] == command.code, body[:2000]
        assert refusal["description"].startswith(command.description or ""), (command.description, refusal)
        return
    if body.strip():
        _check_answer(body, "the answer")
        if text.startswith("ogrinfo"):
            assert re.search(rb"^\d+: \S+", body, re.MULTILINE), f"no layer listed: {body[:2000]!r}"
        if body.lstrip().startswith(b"{"):
            _not_all(text, body)
    for path in written:
        _check_file(path)


def _run_python(command: DocCommand, server: str) -> None:
    """The block statement by statement, as a reader would type it: each bare expression must give a useful
    value (not empty, no exception document, features where it lists features)."""
    namespace: dict[str, object] = {}
    for node in ast.parse(command.text.replace(DOC_BASE, server)).body:
        if isinstance(node, ast.Expr):
            value = eval(compile(ast.Expression(node.value), command.id, "eval"), namespace)
            assert value, f"{ast.unparse(node)}: empty"
            _check_json(value, ast.unparse(node))
        else:
            exec(compile(ast.Module([node], type_ignores=[]), command.id, "exec"), namespace)


def _open_url(command: DocCommand, server: str) -> None:
    """A page the reader is told to open answers 200 with content."""
    with urllib.request.urlopen(command.text.replace(DOC_BASE, server), timeout=COMMAND_TIMEOUT_S) as answer:
        assert answer.status == 200
        body = answer.read()
    if answer.headers.get_content_type() == "text/html":
        assert b"<html" in body.lower(), body[:500]
    else:
        _check_answer(body, command.text)


@pytest.mark.slow
@pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
@pytest.mark.parametrize("command", RUN, ids=_ids(RUN))
def test_doc_command_works_as_written(command: DocCommand, server: str, checkout: Checkout) -> None:
    if command.kind == "shell":
        _run_shell(command, server, checkout)
    elif command.kind == "python":
        _run_python(command, server)
    else:
        _open_url(command, server)


def _ocsge_arguments(command: DocCommand) -> list[str] | None:
    """The arguments after ``ocsge`` of a command not run (a synopsis's ``[optional]`` parts dropped), or None when
    it runs something else."""
    text = command.text.replace("\\\n", " ")
    while re.search(r"\[[^\[\]]*\]", text):
        text = re.sub(r"\[[^\[\]]*\]", " ", text)
    words = shlex.split(text, comments=True)
    while words and re.fullmatch(r"[A-Z_]+=\S*", words[0]):
        words = words[1:]
    return words[1:] if words and words[0] == "ocsge" else None


@pytest.mark.parametrize(
    "command",
    [command for command in NOT_RUN if _ocsge_arguments(command) is not None],
    ids=_ids([command for command in NOT_RUN if _ocsge_arguments(command) is not None]),
)
def test_ocsge_command_not_run_still_parses(command: DocCommand) -> None:
    """An ``ocsge`` command the test cannot run still names a subcommand that exists, options it has and every
    option it requires (what drifts when the command changes)."""
    from ocsge_processes.cli import main

    arguments = _ocsge_arguments(command)
    assert arguments, command.text
    with click.Context(main) as context:
        subcommand = main.get_command(context, arguments[0])
        assert subcommand is not None, f"ocsge has no subcommand {arguments[0]}"
        sub_context = click.Context(subcommand, parent=context, info_name=arguments[0], **subcommand.context_settings)
        parser = subcommand.make_parser(sub_context)
        options, _, _ = parser.parse_args(arguments[1:])
    missing = [param.opts[0] for param in subcommand.params if param.required and param.name not in options]
    assert not missing, f"{command.id}: ocsge {arguments[0]} requires {missing}"
