"""What keeps mypy --strict honest: every `type: ignore` names its error code and says why, every `Any` in a public
signature says why, their totals stay under the counts justified here, and the mypy configuration silences nothing.

mypy itself, ruff and the import contracts run in `make check` (before the suite in `make test`); this test checks
what they cannot: that 0 errors was reached by typing the code, not by hiding it.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import tokenize
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "ocsge_processes"

#: Targeted ignores in the package (2026-12-05: 20), each with its reason on its line, all where a library's types
#: are not ours to fix: pygeoapi's unannotated base classes and wrong annotations (8: four values declared, five
#: returned; the body's string where it says an enum), pygeofilter's node hints narrower than what it accepts (5),
#: stubs behind their library (6: shapely 2.2's coverage_clean, rasterio's vectorised rowcol and affine, a Celery
#: attribute, torch.cuda.Event, a documented overload) and Flask's documented way to add WSGI middleware (1).
MAX_TYPE_IGNORES = 20
#: Public functions and methods with `Any` in their signature (2026-12-05: 45), each with a `# Any:` reason: all
#: take or give free-form JSON whose shape is not ours: pygeoapi's configuration (YAML) and job documents, execution
#: requests and process descriptions, GeoJSON.
MAX_PUBLIC_ANY = 45

_IGNORE = re.compile(r"#\s*type:\s*ignore\b(?P<codes>\[[^\]]*\])?(?P<rest>.*)")
_REASON = re.compile(r"\s*#\s*\S")
#: Ways to switch mypy off for a whole file or function without a `type: ignore`.
_FILE_SWITCHES = re.compile(r"#\s*mypy:\s*(ignore-errors|disable-error-code)|@(typing\.)?no_type_check\b")


@dataclass(frozen=True)
class Finding:
    """One place the rules below look at: where it is, and what is wrong with it (None when nothing is)."""

    where: str
    problem: str | None


def type_ignores(source: str, name: str) -> list[Finding]:
    """Every `type: ignore` comment of ``source``: blanket ones and those without a reason are problems."""
    found = []
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type != tokenize.COMMENT or not (match := _IGNORE.search(token.string)):
            continue
        where = f"{name}:{token.start[0]}"
        if not match["codes"] or match["codes"] == "[]":
            found.append(Finding(where, "a blanket `type: ignore` (name the error code)"))
        elif not _REASON.match(match["rest"]):
            found.append(Finding(where, "a `type: ignore[...]` without `  # its reason` after it"))
        else:
            found.append(Finding(where, None))
    return found


def public_any(source: str, name: str) -> list[Finding]:
    """Every public function or method of ``source`` with `Any` in its signature; one without a `# Any: reason`
    comment on its def line or just above it (or above its decorators) is a problem."""
    lines = source.splitlines()
    found = []
    for function in _public_functions(ast.parse(source).body):
        if not _mentions_any(function):
            continue
        first = min([function.lineno, *(d.lineno for d in function.decorator_list)])
        candidates = {function.lineno, function.lineno - 1, first - 1}
        reasoned = any(re.search(r"#\s*Any:\s*\S", lines[n - 1]) for n in candidates if n >= 1)
        problem = None if reasoned else f"`Any` in the signature of {function.name} without a `# Any: reason`"
        found.append(Finding(f"{name}:{function.lineno}", problem))
    return found


def _public_functions(body: list[ast.stmt]) -> Iterator[ast.FunctionDef | ast.AsyncFunctionDef]:
    """Functions and methods a caller outside the module may use: public names, in public classes, not nested in a
    function (statements such as `if TYPE_CHECKING:` are looked into)."""
    for node in body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            if not node.name.startswith("_"):
                yield node
        elif isinstance(node, ast.ClassDef):
            if not node.name.startswith("_"):
                yield from _public_functions(node.body)
        else:
            for field in ("body", "orelse", "finalbody"):
                yield from _public_functions(getattr(node, field, []))
            for handler in getattr(node, "handlers", []):
                yield from _public_functions(handler.body)


def _mentions_any(function: ast.FunctionDef | ast.AsyncFunctionDef) -> bool:
    arguments = function.args
    every = [*arguments.posonlyargs, *arguments.args, *arguments.kwonlyargs, arguments.vararg, arguments.kwarg]
    annotations = [a.annotation for a in every if a is not None and a.annotation is not None]
    return any(_is_any(a) for a in [*annotations, function.returns] if a is not None)


def _is_any(annotation: ast.expr) -> bool:
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name) and node.id == "Any":
            return True
        if isinstance(node, ast.Attribute) and node.attr == "Any":
            return True
        if isinstance(node, ast.Constant) and isinstance(node.value, str):  # a quoted annotation
            try:
                if _is_any(ast.parse(node.value, mode="eval").body):
                    return True
            except SyntaxError:
                continue
    return False


def _package_sources() -> Iterator[tuple[str, str]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        yield str(path.relative_to(ROOT)), path.read_text(encoding="utf-8")


def _problems(findings: list[Finding]) -> list[str]:
    return [f"{f.where}: {f.problem}" for f in findings if f.problem]


def test_every_type_ignore_names_its_code_and_says_why() -> None:
    findings = [f for name, source in _package_sources() for f in type_ignores(source, name)]
    assert not _problems(findings), "\n".join(_problems(findings))
    assert len(findings) <= MAX_TYPE_IGNORES, (
        f"{len(findings)} `type: ignore` in the package, more than the {MAX_TYPE_IGNORES} justified in this test: "
        "type the code, or justify the new ones here"
    )


def test_every_any_in_a_public_signature_says_why() -> None:
    findings = [f for name, source in _package_sources() for f in public_any(source, name)]
    assert not _problems(findings), "\n".join(_problems(findings))
    assert len(findings) <= MAX_PUBLIC_ANY, (
        f"{len(findings)} public signatures with `Any`, more than the {MAX_PUBLIC_ANY} justified in this test: "
        "write the real type (a TypedDict, a dataclass), or justify the new ones here"
    )


def test_nothing_switches_mypy_off_for_a_file_or_a_function() -> None:
    switches = [
        f"{name}:{number}: {line.strip()}"
        for name, source in _package_sources()
        for number, line in enumerate(source.splitlines(), 1)
        if _FILE_SWITCHES.search(line)
    ]
    assert not switches, "\n".join(switches)


def test_mypy_configuration_is_strict_and_silences_no_error() -> None:
    mypy = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["mypy"]
    assert mypy["strict"] is True and mypy["warn_unreachable"] is True
    assert mypy["files"] == ["ocsge_processes"]
    for section in [mypy, *mypy.get("overrides", [])]:
        silencing = {"ignore_errors", "disable_error_code", "ignore_missing_imports"} & set(section)
        assert not silencing, f"{sorted(silencing)} in [tool.mypy]: fix the types instead"
        assert section.get("strict", True) is not False


def _make_dry_run(target: str) -> list[str]:
    """The commands ``make target`` would run, in order (``make -n`` runs nothing)."""
    done = subprocess.run(["make", "-n", target], cwd=ROOT, capture_output=True, text=True, check=True, timeout=60)
    return done.stdout.splitlines()


def test_make_test_runs_every_guard_rail_before_the_suite() -> None:
    commands = _make_dry_run("test")
    rails = ["ruff check .", "ruff format --check .", "/mypy", "lint-imports"]
    where = [next((n for n, c in enumerate(commands) if c.rstrip().endswith(rail)), None) for rail in rails]
    suite = next(n for n, c in enumerate(commands) if "-m pytest" in c)
    assert None not in where, f"make test does not run all of {rails}: {commands}"
    assert all(n < suite for n in where if n is not None), f"guard rails must run before the suite: {commands}"
    assert "not slow" not in commands[suite], "CI (make test) runs the slow tests too"


def test_make_test_fast_leaves_the_slow_tests_out() -> None:
    (suite,) = [c for c in _make_dry_run("test-fast") if "-m pytest" in c]
    assert '-m "not slow"' in suite


# The checkers above, on code written to break each rule: each rule can fail.


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("x = f()  # type: ignore", "blanket"),
        ("x = f()  # type: ignore[]", "blanket"),
        ("x = f()  #type:ignore  # because", "blanket"),
        ("x = f()  # type: ignore[attr-defined]", "without"),
        ("x = f()  # type: ignore[attr-defined]  #", "without"),
        ("x = f()  # type: ignore[attr-defined]  # pygeoapi sets it at runtime", None),
        ("x = f()  # type: ignore[misc, override]  # five values where four are declared", None),
    ],
)
def test_type_ignore_rules(line: str, problem: str | None) -> None:
    (finding,) = type_ignores(line + "\n", "m.py")
    assert (finding.problem is None) if problem is None else (problem in (finding.problem or ""))


def test_a_type_ignore_inside_a_string_is_no_comment() -> None:
    assert type_ignores('text = "# type: ignore"\n', "m.py") == []


@pytest.mark.parametrize(
    ("source", "problems"),
    [
        ("def f(x: Any) -> None: ...\n", 1),
        ("def f(x: int) -> typing.Any: ...\n", 1),
        ("def f(x: dict[str, Any]) -> None: ...\n", 1),
        ("def f(*args: Any, **kw: 'Any') -> None: ...\n", 1),
        ("def f(x: Any) -> None:  # Any: GeoJSON of the client\n    ...\n", 0),
        ("# Any: GeoJSON of the client\ndef f(x: Any) -> None: ...\n", 0),
        ("# Any: GeoJSON\n@decorator\ndef f(x: Any) -> None: ...\n", 0),
        ("# Any:\ndef f(x: Any) -> None: ...\n", 1),
        ("def _f(x: Any) -> None: ...\n", 0),
        ("class _C:\n    def f(self, x: Any) -> None: ...\n", 0),
        ("class C:\n    def f(self, x: Any) -> None: ...\n", 1),
        ("def f() -> None:\n    def g(x: Any) -> None: ...\n", 0),
        ("if TYPE_CHECKING:\n    def f(x: Any) -> None: ...\n", 1),
        ("def f(x: int) -> None:\n    y: Any = x\n", 0),
    ],
)
def test_public_any_rules(source: str, problems: int) -> None:
    assert len(_problems(public_any(source, "m.py"))) == problems


def test_switches_are_found() -> None:
    for line in (
        "# mypy: ignore-errors",
        "# mypy: disable-error-code=attr-defined",
        "@no_type_check",
        "@typing.no_type_check",
    ):
        assert _FILE_SWITCHES.search(line), line
