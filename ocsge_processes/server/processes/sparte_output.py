"""The `export_sparte` output of the `artificialisation` process: the territory's figures in the files of the official
tool's open data (``workflows.sparte_export``), stored in the result store and answered as links, as the extraction
process answers its files (``/results/{jobID}/{name}``)."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from ...results import open_results
from ...stores import FeatureStore
from ...workflows.extraction import DEFAULT_LIFETIME_H
from ...workflows.sparte_columns import FORMATS, INDICATORS, SPARTE_COMMIT, Level
from ...workflows.sparte_export import export_frame, land_names, territory_communes, write_export
from ..results import results_url

MEDIA_TYPES = {"csv": "text/csv", "gpkg": "application/geopackage+sqlite3"}


def sparte_links(
    store: FeatureStore,
    territoire: object,
    millesimes: object,
    methode: str | None,
    results: str,
    base_url: str,
    job_id: str | None,
) -> dict[str, object]:
    """Write the exports of the territory's level (an EPCI's ``artif_epci``...; for a list, each level of its
    territories, one row per listed territory) and of its communes, artif and imper, CSV and GeoPackage, to the
    result store for ``DEFAULT_LIFETIME_H`` hours: their links (``fichiers``) and the sparte commit whose names they
    follow."""
    scopes, communes = territory_communes(store, territoire, millesimes, methode)
    levels: list[Level] = [*scopes, "commune"]
    result_id = job_id or uuid.uuid4().hex
    stored = open_results(results)
    links: list[dict[str, object]] = []
    with tempfile.TemporaryDirectory(prefix="ocsge-sparte-") as folder:
        for each in levels:
            names = land_names(store, each)
            for indicator in INDICATORS:
                frame = export_frame(communes, each, indicator, names, scopes.get(each))
                for fmt in FORMATS:
                    path = write_export(frame, Path(folder), each, indicator, fmt)
                    media_type = MEDIA_TYPES[fmt]
                    file = stored.put(result_id, path.name, path, media_type, DEFAULT_LIFETIME_H * 3600.0, job_id)
                    links.append(
                        {
                            "href": results_url(base_url, result_id, path.name),
                            "rel": "enclosure",
                            "type": media_type,
                            "title": path.name,
                            "length": file.size,
                        }
                    )
    return {"fichiers": links, "format_sparte": f"MTES-MCT/sparte@{SPARTE_COMMIT}"}
