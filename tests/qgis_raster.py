"""Run by Debian's QGIS Python (not the venv's: ``qgis.core`` is built for the system Python), offscreen, from
``tests/qgis_client.py``: open a raster as a QGIS user adds a COG by URL (GDAL provider, ``/vsicurl/``), read its
first band whole through QGIS's provider, and print what QGIS saw as one JSON line.

Argument: a JSON object with ``url``. Output: ``valid``, ``width``, ``height``, ``crs`` (WKT), ``extent``
(xmin, ymin, xmax, ymax) and ``counts`` (pixel value -> pixels, nodata left out).
"""

from __future__ import annotations

import json
import sys
from collections import Counter

from qgis.core import QgsApplication, QgsRasterLayer


def main(request: dict) -> dict:
    layer = QgsRasterLayer(f"/vsicurl/{request['url']}", "classes", "gdal")
    if not layer.isValid():
        return {"valid": False}
    provider, extent = layer.dataProvider(), layer.extent()
    block = provider.block(1, extent, layer.width(), layer.height())
    counts: Counter[int] = Counter()
    for row in range(block.height()):
        for column in range(block.width()):
            if not block.isNoData(row, column):
                counts[int(block.value(row, column))] += 1
    return {
        "valid": True,
        "width": layer.width(),
        "height": layer.height(),
        "crs": layer.crs().toWkt(),
        "extent": [extent.xMinimum(), extent.yMinimum(), extent.xMaximum(), extent.yMaximum()],
        "counts": {str(value): n for value, n in sorted(counts.items())},
    }


if __name__ == "__main__":
    application = QgsApplication([], False)
    application.initQgis()
    try:
        print(json.dumps(main(json.loads(sys.argv[1]))))
    finally:
        application.exitQgis()
