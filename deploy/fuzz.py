"""Fuzz a running server with schemathesis, from its own OpenAPI document: no request may get a 5xx.

    python -m deploy.fuzz                       # starts a server on data/ocsge.gpkg (make demo-data), fuzzes it
    python -m deploy.fuzz --url http://host:5000 --max-examples 200
    python -m deploy.fuzz --hostile             # what the document does not describe: deploy/hostile.py

pygeoapi's OpenAPI document refers to OGC schemas on schemas.opengis.net, which cannot be reached here, so the
document is bundled first: every external ``$ref`` is replaced by the content of the local stub it names
(``deploy/ogc-schemas``, see its README) and the OGC API – Records ``sortby`` parameter by a plain string
parameter. The stubs' execute request has no ``subscriber``: the fuzzer never makes the server call back.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import urllib.request
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urldefrag, urljoin

import yaml

from deploy import hostile
from deploy.services import ROOT, web_server

SCHEMAS = ROOT / "deploy" / "ogc-schemas"
OGC_SCHEMAS = "https://schemas.opengis.net/"
#: Records' sortby parameter, which pygeoapi references on GitHub: the same parameter, locally.
SORTBY = {
    "name": "sortby",
    "in": "query",
    "required": False,
    "style": "form",
    "explode": False,
    "schema": {"type": "array", "minItems": 1, "items": {"type": "string"}},
}
SORTBY_URL = "https://raw.githubusercontent.com/opengeospatial/ogcapi-records/"


@dataclass
class FuzzResult:
    """What schemathesis ran and what failed (one line per failed operation)."""

    operations: int
    cases: int
    failures: list[str] = field(default_factory=list)
    exit_code: int = 0
    details: str = ""

    def summary(self) -> str:
        return (
            f"FUZZ_RESULT operations={self.operations} cases={self.cases} failures={len(self.failures)} "
            f"exit={self.exit_code}"
        )


def bundled_openapi(server: str) -> dict:
    """The server's OpenAPI document with every external reference inlined from the local stubs."""
    with urllib.request.urlopen(f"{server}/openapi?f=json", timeout=60) as response:
        document = json.load(response)
    local_prefixes = (OGC_SCHEMAS, f"{server}/schemas/")
    return _inline(document, None, document, local_prefixes)


def _inline(node: object, base: str | None, root: object, prefixes: tuple[str, ...]) -> object:
    """``node`` with external refs replaced; ``base`` is the stub file ``node`` comes from (None: the document)."""
    if isinstance(node, list):
        return [_inline(item, base, root, prefixes) for item in node]
    if not isinstance(node, dict):
        return node
    ref = node.get("$ref")
    if isinstance(ref, str):
        if ref.startswith(SORTBY_URL):
            return dict(SORTBY)
        target = urljoin(base, ref) if base else ref
        if target.startswith("#"):
            return node if base is None else _inline(_pointer(root, target[1:]), base, root, prefixes)
        url, fragment = urldefrag(target)
        path = _local_path(url, prefixes)
        stub = yaml.safe_load(path.read_text(encoding="utf-8"))
        return _inline(_pointer(stub, fragment), path.as_uri(), stub, prefixes)
    return {key: _inline(value, base, root, prefixes) for key, value in node.items()}


def _local_path(url: str, prefixes: tuple[str, ...]) -> Path:
    if url.startswith("file://"):
        return Path(url[len("file://") :])
    for prefix in prefixes:
        if url.startswith(prefix):
            path = SCHEMAS / url[len(prefix) :]
            if path.is_file():
                return path
    raise FileNotFoundError(f"no local stub for {url}: add it under {SCHEMAS} (see its README)")


def _pointer(document: object, pointer: str) -> object:
    for part in filter(None, pointer.split("/")):
        document = document[part.replace("~1", "/").replace("~0", "~")]
    return document


def fuzz(
    server: str,
    report_dir: Path,
    max_examples: int = 50,
    max_time_s: int | None = None,
    seed: int = 1,
    workers: int = 2,
) -> FuzzResult:
    """Run schemathesis' ``not_a_server_error`` check over every operation of ``server``."""
    report_dir.mkdir(parents=True, exist_ok=True)
    schema = report_dir / "openapi-bundled.json"
    schema.write_text(json.dumps(bundled_openapi(server)), encoding="utf-8")
    junit = report_dir / "junit.xml"
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        str(schema),
        "--url",
        server,
        "--checks",
        "not_a_server_error",
        "--max-examples",
        str(max_examples),
        "--seed",
        str(seed),
        "--workers",
        str(workers),
        "--request-timeout",
        "120",
        "--suppress-health-check",
        "all",
        "--report",
        "junit",
        "--report-junit-path",
        str(junit),
        "--no-shrink",
    ]
    if max_time_s:
        command += ["--max-time", str(max_time_s)]
    run = subprocess.run(command, capture_output=True, text=True)
    (report_dir / "schemathesis.log").write_text(run.stdout + run.stderr, encoding="utf-8")
    if not junit.is_file():
        raise RuntimeError(f"schemathesis wrote no report:\n{(run.stdout + run.stderr)[-3000:]}")
    return _read_junit(junit, run.returncode, run.stdout)


def _read_junit(path: Path, exit_code: int, output: str) -> FuzzResult:
    cases = ElementTree.parse(path).getroot().iter("testcase")
    operations, failures = 0, []
    for case in cases:
        operations += 1
        failures.extend(
            f"{case.get('name')}: {(problem.get('message') or problem.text or '').strip()[:500]}"
            for problem in [*case.iter("failure"), *case.iter("error")]
        )
    generated = re.search(r"(\d+) generated", output)  # schemathesis' summary line
    # the FAILURES section: each failure with its response and the curl command that reproduces it
    details = output.split(" FAILURES ", 1)[-1].split(" SUMMARY ", 1)[0] if failures else ""
    return FuzzResult(operations, int(generated[1]) if generated else 0, failures, exit_code, details)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m deploy.fuzz", description=__doc__.split("\n\n")[0])
    parser.add_argument("--url", help="fuzz this running server instead of starting one")
    parser.add_argument("--store", default=str(ROOT / "data" / "ocsge.gpkg"))
    parser.add_argument("--max-examples", type=int, default=50)
    parser.add_argument("--max-time", type=int, default=None, help="seconds for the whole run")
    parser.add_argument("--report", type=Path, default=ROOT / "build" / "fuzz")
    parser.add_argument("--hostile", action="store_true", help="send the hostile cases of deploy/hostile.py instead")
    parser.add_argument("--seed", type=int, default=1, help="seed of the hostile run's mutations")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="ocsge-fuzz-") as folder:
        if args.url:
            ok, summary = _run(args, args.url.rstrip("/"))
        else:
            with web_server(args.store, Path(folder), Path(sys.executable).parent, OCSGE_SCHEMAS=str(SCHEMAS)) as url:
                ok, summary = _run(args, url)
    print(summary)
    sys.exit(0 if ok else 1)


def _run(args: argparse.Namespace, url: str) -> tuple[bool, str]:
    """(passed, report) of the run ``args`` asks for against ``url``."""
    if args.hostile:
        attacked = hostile.run(url, args.seed)
        return attacked.ok, "\n".join([*attacked.problems, *attacked.listener_hits, attacked.summary()])
    result = fuzz(url, args.report, args.max_examples, args.max_time)
    return not (result.failures or result.exit_code), "\n".join([result.details or "", result.summary()])


if __name__ == "__main__":
    main()
