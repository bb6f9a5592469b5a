"""GDAL's OGC API Features driver as the real client: a collection copied to GeoJSON and read back."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path


def oapif_features(collection_url: str, out: Path, *options: str) -> list[dict]:
    """The features ``ogr2ogr`` fetches from ``collection_url`` (following the server's next links), written to
    ``out`` as GeoJSON; ``options`` go to ogr2ogr as they are (``-where``, ``-oo PAGE_SIZE=…``)."""
    done = subprocess.run(
        ["ogr2ogr", "-f", "GeoJSON", str(out), f"OAPIF:{collection_url}", *options],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    features: list[dict] = json.loads(out.read_text())["features"]
    return features
