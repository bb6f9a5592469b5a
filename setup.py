"""Setuptools hook: the wheel carries the /map web pages, bundled from web/ (npm + esbuild) at build time.

Everything else about the package is in pyproject.toml. Editable installs skip the bundle (``make web`` builds it
in place); a build from an sdist without web/ keeps the bundle the sdist already holds.
"""

import shutil
import subprocess
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

WEB = Path(__file__).resolve().parent / "web"


class BuildPyWithWeb(build_py):
    """Runs web/build.mjs before the package files are copied, so the bundle can never be stale or hand-edited."""

    def run(self) -> None:
        if (WEB / "package.json").is_file() and not getattr(self, "editable_mode", False):
            npm, node = shutil.which("npm"), shutil.which("node")
            if not npm or not node:
                raise RuntimeError("building the wheel bundles the /map pages from web/ and needs Node.js and npm")
            subprocess.run([npm, "ci", "--no-audit", "--no-fund"], cwd=WEB, check=True)
            subprocess.run([node, "build.mjs"], cwd=WEB, check=True)
        super().run()


setup(cmdclass={"build_py": BuildPyWithWeb})
