"""Run by Debian's QGIS Python (not the venv's: ``qgis.core`` is built for the system Python), offscreen, from
``tests/qgis_client.py``: load collections with QGIS's OGC API – Features provider (``oapif``), as a user adds them
from the data source manager, and print what QGIS made of them as one JSON line.

Argument: a JSON object with ``server`` (base URL), ``collections`` (ids) and ``bbox`` (CRS84). Output, per
collection: ``valid``, ``fields`` (name -> QGIS type name), ``count`` (QGIS's feature count), ``in_bbox`` (ids of the
features QGIS fetches for a map view of the box) and ``crs``; and ``requests``: every URL QGIS asked for.
"""

from __future__ import annotations

import json
import sys

from qgis.core import (
    QgsApplication,
    QgsCoordinateReferenceSystem,
    QgsCoordinateTransform,
    QgsFeatureRequest,
    QgsNetworkAccessManager,
    QgsProject,
    QgsRectangle,
    QgsVectorLayer,
)


def main(request: dict) -> dict:
    requested: list[str] = []
    QgsNetworkAccessManager.instance().requestAboutToBeCreated.connect(
        lambda req: requested.append(req.request().url().toString())
    )
    west, south, east, north = request["bbox"]
    layers = {}
    for collection in request["collections"]:
        uri = f"url='{request['server']}' typename='{collection}' restrictToRequestBBOX='1'"
        layer = QgsVectorLayer(uri, collection, "oapif")
        if not layer.isValid():
            layers[collection] = {"valid": False}
            continue
        to_layer = QgsCoordinateTransform(
            QgsCoordinateReferenceSystem("OGC:CRS84"), layer.crs(), QgsProject.instance().transformContext()
        )
        view = to_layer.transformBoundingBox(QgsRectangle(west, south, east, north))
        id_field = layer.fields().indexOf("id")
        in_bbox = sorted(
            str(feature.attribute(id_field)) if id_field >= 0 else str(feature.id())
            for feature in layer.getFeatures(QgsFeatureRequest().setFilterRect(view))
        )
        layers[collection] = {
            "valid": True,
            "fields": {field.name(): field.typeName() for field in layer.fields()},
            "count": layer.featureCount(),
            "in_bbox": in_bbox,
            "crs": layer.crs().authid(),
        }
    return {"layers": layers, "requests": requested}


if __name__ == "__main__":
    application = QgsApplication([], False)
    application.initQgis()
    try:
        print(json.dumps(main(json.loads(sys.argv[1]))))
    finally:
        application.exitQgis()
