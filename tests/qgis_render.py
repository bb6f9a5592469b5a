"""Run by Debian's QGIS Python (not the venv's: ``qgis.core`` is built for the system Python), offscreen, from
``tests/qgis_client.py``: load a vector tiles layer as a QGIS user would (an XYZ URL and the style URL a collection
links), render a map of a box and print what was drawn as one JSON line.

Argument: a JSON object with ``tiles`` (the XYZ template), ``style`` (a MapLibre style URL or null), ``bbox``
(lon/lat), ``size`` (pixels), ``png`` (where to save the image). Output: ``colours`` (pixel count per ``#rrggbb``),
``filters`` (the QGIS filter expression of each converted style layer) and ``warnings`` (QGIS's own messages).
"""

from __future__ import annotations

import json
import sys
from collections import Counter

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsDataSourceUri,
    QgsMapRendererSequentialJob,
    QgsMapSettings,
    QgsProject,
    QgsRectangle,
    QgsVectorTileLayer,
)
from qgis.PyQt.QtCore import QSize
from qgis.PyQt.QtGui import QColor, QImage


def main(request: dict) -> dict:
    uri = QgsDataSourceUri()
    uri.setParam("type", "xyz")
    uri.setParam("url", request["tiles"])
    uri.setParam("zmin", "0")
    uri.setParam("zmax", "16")
    if request.get("style"):
        uri.setParam("styleUrl", request["style"])
    layer = QgsVectorTileLayer(bytes(uri.encodedUri()).decode(), "ocsge")
    if not layer.isValid():
        raise SystemExit(f"QGIS refused the vector tiles layer {request['tiles']}")
    warnings: list[str] = []
    if request.get("style"):
        # What QGIS does when a user adds the layer: fetch styleUrl and convert it with QgsMapBoxGlStyleConverter.
        message, ok = layer.loadDefaultStyle()
        if not ok:
            raise SystemExit(f"QGIS could not load the style {request['style']}: {message}")
        warnings.append(message)
    renderer = layer.renderer()
    filters = [style.filterExpression() for style in renderer.styles()]

    web_mercator = QgsCoordinateReferenceSystem("EPSG:3857")
    to_map = QgsCoordinateTransform(QgsCoordinateReferenceSystem("EPSG:4326"), web_mercator, QgsProject.instance())
    settings = QgsMapSettings()
    settings.setLayers([layer])
    settings.setDestinationCrs(web_mercator)
    settings.setExtent(to_map.transformBoundingBox(QgsRectangle(*request["bbox"])))
    settings.setOutputSize(QSize(*request["size"]))
    settings.setBackgroundColor(QColor("#ffffff"))
    job = QgsMapRendererSequentialJob(settings)
    job.start()
    job.waitForFinished()
    warnings += [f"{error.layerID}: {error.message}" for error in job.errors()]
    image = job.renderedImage().convertToFormat(QImage.Format_RGB32)
    if request.get("png"):
        image.save(request["png"], "PNG")
    # RGB32 pixels are 0xffRRGGBB words, little-endian in memory: B, G, R, 0xff
    data = bytes(image.constBits().asarray(image.sizeInBytes()))
    counts = Counter(data[i : i + 3] for i in range(0, len(data), 4))
    colours = {f"#{bgr[2]:02x}{bgr[1]:02x}{bgr[0]:02x}": n for bgr, n in counts.items()}
    return {"colours": colours, "filters": filters, "warnings": warnings}


if __name__ == "__main__":
    app = QgsApplication([], False)
    app.initQgis()
    result = main(json.loads(sys.argv[1]))
    print(json.dumps(result))
    app.exitQgis()
