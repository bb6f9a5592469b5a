"""QGIS as a client of the live server, for tests: Debian's QGIS (``qgis`` and ``python3-qgis``, from `make
system-deps`) driven offscreen by the system Python, since ``qgis.core`` is built for Debian's Python 3.11 and cannot
be imported in the venv. Each call runs ``tests/qgis_render.py`` in a subprocess and reads back its JSON."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

#: Debian's Python, the one ``python3-qgis`` installs ``qgis.core`` for.
QGIS_PYTHON = Path("/usr/bin/python3")
SCRIPT = Path(__file__).with_name("qgis_render.py")
OAPIF_SCRIPT = Path(__file__).with_name("qgis_oapif.py")
RASTER_SCRIPT = Path(__file__).with_name("qgis_raster.py")
#: Seconds a render may take: QGIS starts (about 2 s), fetches the style and some tiles over loopback, draws.
TIMEOUT_S = 120


@dataclass(frozen=True)
class Rendering:
    """What QGIS drew: pixels per ``#rrggbb`` colour, the filter expression of each style layer it converted and its
    warnings."""

    colours: dict[str, int]
    filters: list[str]
    warnings: list[str]

    def painted(self, palette: dict[str, str], at_least: int = 1) -> dict[str, int]:
        """Pixels painted exactly in each colour of ``palette`` (code -> ``#rrggbb``), for codes with ``at_least``."""
        found = {code: self.colours.get(colour.lower(), 0) for code, colour in palette.items()}
        return {code: n for code, n in found.items() if n >= at_least}


def require_qgis() -> None:
    """Fail (not skip: the tests are meant to run) when Debian's QGIS Python bindings are missing."""
    probe = subprocess.run(
        [str(QGIS_PYTHON), "-c", "import qgis.core"], capture_output=True, text=True, env=_environment()
    )
    if probe.returncode != 0:
        pytest.fail(f"QGIS's Python bindings are missing (apt-get install qgis python3-qgis): {probe.stderr[-500:]}")


def render(
    tiles: str,
    style: str | None,
    bbox: tuple[float, float, float, float],
    size: tuple[int, int] = (512, 512),
    png: Path | None = None,
) -> Rendering:
    """Render the vector tiles ``tiles`` (an XYZ template with ``{z}/{x}/{y}``) styled by the MapLibre style at URL
    ``style`` (QGIS's own default style if None) over ``bbox`` (lon/lat) at ``size`` pixels, as QGIS draws it;
    the image is kept at ``png`` if given."""
    request = {"tiles": tiles, "style": style, "bbox": list(bbox), "size": list(size), "png": str(png) if png else None}
    done = subprocess.run(
        [str(QGIS_PYTHON), str(SCRIPT), json.dumps(request)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=_environment(),
    )
    assert done.returncode == 0, f"QGIS failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    result = json.loads(done.stdout.strip().splitlines()[-1])
    return Rendering(result["colours"], result["filters"], result["warnings"])


def load_oapif(server: str, collections: list[str], bbox: tuple[float, float, float, float]) -> dict:
    """Add ``collections`` of ``server`` with QGIS's OGC API – Features provider and fetch the features of a map
    view of ``bbox`` (CRS84), as ``tests/qgis_oapif.py`` reports them."""
    request = {"server": server, "collections": collections, "bbox": list(bbox)}
    done = subprocess.run(
        [str(QGIS_PYTHON), str(OAPIF_SCRIPT), json.dumps(request)],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S * max(1, len(collections)),
        env=_environment(),
    )
    assert done.returncode == 0, f"QGIS failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def load_raster(url: str) -> dict:
    """Open the raster at ``url`` in QGIS through GDAL's ``/vsicurl/`` and read its first band, as
    ``tests/qgis_raster.py`` reports it."""
    done = subprocess.run(
        [str(QGIS_PYTHON), str(RASTER_SCRIPT), json.dumps({"url": url})],
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        env=_environment(),
    )
    assert done.returncode == 0, f"QGIS failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    result: dict = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _environment() -> dict[str, str]:
    """No display (offscreen Qt), no proxy between QGIS and the loopback server, none of the venv's Python paths."""
    env = {k: v for k, v in os.environ.items() if k.lower() not in {"http_proxy", "https_proxy", "all_proxy"}}
    env.pop("PYTHONPATH", None)
    env.pop("VIRTUAL_ENV", None)
    return {**env, "QT_QPA_PLATFORM": "offscreen", "XDG_RUNTIME_DIR": _runtime_dir(), "NO_PROXY": "*"}


def _runtime_dir() -> str:
    """A private runtime folder for Qt (it warns without one)."""
    path = Path(os.environ.get("TMPDIR", "/tmp")) / f"qgis-runtime-{os.getuid()}"
    path.mkdir(mode=0o700, exist_ok=True)
    return str(path)
