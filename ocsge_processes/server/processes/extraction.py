"""OGC API process `extraction`: collections to GPKG, GeoJSON, GeoParquet or zipped shapefiles, shaped like the
Géoplateforme's vector extraction (``workflows.extraction``); the files go to the result store and the outputs link
them (``/results/{jobID}/{name}``), kept for ``lifetime`` hours.

Configured in ``pygeoapi-config.yml`` with ``processor: {name: ...ExtractionProcessor, store: ..., results: ...,
url: ...}``: ``results`` is the job database (where every replica reads the files), ``url`` the server's base URL.
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path
from typing import Any

from pygeoapi.process.base import BaseProcessor
from pygeofilter import ast

from ...errors import InvalidInputError
from ...jobs.runner import JobDismissed
from ...results import open_results
from ...stores import open_store
from ...territory import CRS84, epsg_uri
from ...workflows.extraction import (
    COMPRESSIONS,
    DEFAULT_LIFETIME_H,
    FORMATS,
    MAX_LIFETIME_H,
    MIN_LIFETIME_H,
    extract,
    plan,
)
from ..results import results_url
from ..speedups import modify_pygeofilter
from . import check_inputs
from .progress import job_progress

#: Media types of the files an extraction serves, by suffix.
MEDIA_TYPES = {
    ".gpkg": "application/geopackage+sqlite3",
    ".geojson": "application/geo+json",
    ".parquet": "application/vnd.apache.parquet",
    ".zip": "application/zip",
    ".7z": "application/x-7z-compressed",
}
OUTPUTS = ("logs", "summary", "extractedData")

PROCESS_METADATA: dict[str, Any] = {
    "version": "1.0.0",
    "id": "extraction",
    "title": {"fr": "Extraction vecteur", "en": "Vector extraction"},
    "description": {
        "fr": "Extrait des collections (attributs choisis, filtre CQL2) en GeoPackage, GeoJSON, GeoParquet ou "
        "Shapefile zippé, comme le service d'extraction de la Géoplateforme ; les fichiers sont téléchargeables "
        "par référence pendant `lifetime` heures.",
        "en": "Extracts collections (chosen attributes, CQL2 filter) to GeoPackage, GeoJSON, GeoParquet or zipped "
        "Shapefile, like the Géoplateforme's extraction service; the files are downloadable by reference for "
        "`lifetime` hours.",
    },
    # Asynchronous only, as the Géoplateforme's: its clients post without `Prefer` and expect a job (201).
    "jobControlOptions": ["async-execute"],
    "outputTransmission": ["reference", "value"],
    "keywords": ["extraction", "OCS GE", "Géoplateforme"],
    "links": [
        {
            "type": "text/html",
            "rel": "about",
            "title": "Service d'extraction de la Géoplateforme (documentation)",
            "href": "https://cartes.gouv.fr/aide/fr/guides-utilisateur/utiliser-les-services-de-la-geoplateforme/"
            "extraction/",
            "hreflang": "fr-FR",
        }
    ],
    "inputs": {
        "relations": {
            "title": "Relations",
            "description": "{table: {attributes: [names], filters: CQL2 text}}: the tables (collection ids, or "
            "the IGN layer names such as OCCUPATION_SOL), the attributes to keep (name the geometry, `geometry`, to "
            "get it) and an optional CQL2 text filter (geometries in CRS84). PostGIS SQL is not run.",
            "schema": {
                "type": "object",
                "minProperties": 1,
                "maxProperties": 20,
                "additionalProperties": {
                    "type": "object",
                    "required": ["attributes"],
                    "additionalProperties": False,
                    "properties": {
                        "attributes": {
                            "type": "array",
                            "minItems": 1,
                            "maxItems": 100,
                            "items": {"type": "string", "maxLength": 100},
                        },
                        "filters": {"type": "string", "maxLength": 100_000},
                    },
                },
            },
            "minOccurs": 1,
            "maxOccurs": 1,
        },
        "format": {
            "title": "Format",
            "description": "GPKG, GEOJSON, PARQUET (GeoParquet) or ESRI SHAPEFILE (alias SHP; zipped).",
            "schema": {"type": "string", "enum": list(FORMATS)},
            "minOccurs": 1,
            "maxOccurs": 1,
        },
        "srs": {
            "title": "SRS",
            "description": "Output CRS (EPSG:code or an OGC URI): each table's own CRS, EPSG:4326 or EPSG:3857; "
            "the table's own CRS by default.",
            "schema": {"type": "string", "maxLength": 200},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "append": {
            "title": "Append",
            "description": "GPKG: every table as a layer of one file (otherwise one file per table).",
            "schema": {"type": "boolean", "default": False},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "compression": {
            "title": "Compression",
            "description": "7zip or zip: every file in one archive.",
            "schema": {"type": "string", "enum": list(COMPRESSIONS)},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "lifetime": {
            "title": "Lifetime",
            "description": f"Hours the files are kept ({MIN_LIFETIME_H} to the server's maximum, {MAX_LIFETIME_H} "
            f"by default; {DEFAULT_LIFETIME_H} when not given).",
            "schema": {"type": "integer", "minimum": MIN_LIFETIME_H},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
    },
    "outputs": {
        "logs": {
            "title": "Logs",
            "description": "The steps of the extraction, one line each.",
            "schema": {"type": "array", "items": {"type": "string"}},
        },
        "summary": {
            "title": "Summary",
            "description": "Format, srs, lifetime, and per table its attributes, filter and number of features.",
            "schema": {"type": "object", "contentMediaType": "application/json"},
        },
        "extractedData": {
            "title": "Extracted data",
            "description": "Links to the files (GET with Range; 410 once the lifetime has passed).",
            "schema": {"type": "array", "items": {"type": "object"}},
        },
    },
    "example": {
        "inputs": {
            "relations": {
                "ocsge-occupation-sol": {
                    "attributes": ["code_cs", "code_us", "millesime", "geometry"],
                    "filters": "millesime = 2024 AND code_cs LIKE 'CS1.1%'",
                }
            },
            "format": "GPKG",
            "srs": "EPSG:2154",
            "lifetime": 24,
        }
    },
}


class ExtractionProcessor(BaseProcessor):
    """Runs the extraction workflow on the configured store; files go to the result store."""

    #: Its result holds several outputs keyed by id (``jobs.document``: a document response keeps them so).
    outputs_by_id = True

    #: Its outputs come keyed by output id: a ``response=document`` answer keeps them so (``jobs/document.py``).
    outputs_by_id = True

    # Any: the processor's block of the pygeoapi configuration, free-form
    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, PROCESS_METADATA)
        self.store_url = str(processor_def["store"])
        self.results = str(processor_def.get("results") or "build/jobs.sqlite")
        self.base_url = str(processor_def.get("url") or "http://127.0.0.1:5000")
        self.max_lifetime_h = int(processor_def.get("max_lifetime_h") or MAX_LIFETIME_H)
        self.supports_outputs = True
        self.job_id: str | None = None

    def set_job_id(self, job_id: str) -> None:
        self.job_id = job_id

    def check_request(self, data: dict[str, object]) -> None:
        """Every check of the inputs, before a job exists (the manager calls it): bad input is a 400 at once."""
        check_inputs(data, PROCESS_METADATA)
        plan(open_store(self.store_url), data, self.max_lifetime_h)

    def execute(self, data: dict[str, object], outputs: dict[str, object] | None = None) -> tuple[str, object]:
        """Extract, store the files for ``lifetime`` hours, answer the outputs asked (all three by default)."""
        check_inputs(data, PROCESS_METADATA)
        unknown = [name for name in outputs or {} if name not in OUTPUTS]
        if unknown:
            raise InvalidInputError(f"unknown output {unknown[0]!r}; expected some of {', '.join(OUTPUTS)}")
        store = open_store(self.store_url)
        request = plan(store, data, self.max_lifetime_h)
        report = job_progress(self.job_id)
        result_id = self.job_id or uuid.uuid4().hex
        results = open_results(self.results)
        results.sweep()  # expired files go even when nobody downloads any more
        with tempfile.TemporaryDirectory(prefix="ocsge-extraction-") as folder:
            extraction = extract(store, request, Path(folder), _to_storage, report)
            links = []
            for path in extraction.files:
                media_type = MEDIA_TYPES.get(path.suffix, "application/octet-stream")
                stored = results.put(result_id, path.name, path, media_type, request.lifetime_h * 3600.0, self.job_id)
                links.append(
                    {
                        "href": results_url(self.base_url, result_id, path.name),
                        "rel": "enclosure",
                        "type": media_type,
                        "title": path.name,
                        "length": stored.size,
                    }
                )
        try:
            report(100, "extracted data stored")  # a job dismissed meanwhile stops here: its files go with it
        except JobDismissed:
            results.remove_job(result_id)
            raise
        document = {"logs": extraction.logs, "summary": extraction.summary, "extractedData": links}
        return "application/json", {name: document[name] for name in (outputs or OUTPUTS)}

    def __repr__(self) -> str:
        return f"<ExtractionProcessor> {self.store_url}"


def _to_storage(where: ast.Node, epsg: int) -> ast.Node:
    """A filter's geometry literals from CRS84 to the table's CRS (the server's reprojection of CQL2 filters)."""
    return modify_pygeofilter(where, filter_crs_uri=CRS84, storage_crs_uri=epsg_uri(epsg))
