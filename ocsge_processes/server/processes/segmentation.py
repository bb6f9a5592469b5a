"""OGC API process `segmentation`: a thin adapter over ``workflows.segmentation.run``.

Configured in ``pygeoapi-config.yml`` with ``processor: {name: ...SegmentationProcessor, data_dir: ...,
trusted_hosts: [...], max_pixels: ..., ortho_wms: URL}``. The published example's WMS is ``ortho_wms`` (the
``OCSGE_ORTHO_WMS`` setting), so a test or fuzzing server that replays examples calls its own stand-in.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from pygeoapi.process.base import BaseProcessor

from ...errors import InvalidInputError
from ...layers import AI_COUVERTURE_NOTICE
from ...segmentation.mosaic import Mosaic
from ...segmentation.registry import models
from ...workflows.cost import Cost, segmentation_cost
from ...workflows.images import ImagePolicy
from ...workflows.segmentation import DEFAULT_MODEL, DEVICES, Segmented, polygons_geojson, run
from ...workflows.segmentation_assembly import publisher
from ...workflows.segmentation_run import (
    Dispatch,
    RunOptions,
    RunProgress,
    RunSummary,
    dalles_cost,
    run_dalles,
)
from . import Output, check_inputs, describe_outputs, requested_output
from .progress import job_progress
from .segmentation_fanout import TAKE_WAIT_S, fan_out_blocks

_TEXT = {"type": "string", "maxLength": 2048}
#: One of four ways of giving an image (its location is checked by the image policy, not here).
_IMAGE_SCHEMA = {
    "type": "object",
    "properties": {
        "href": {**_TEXT, "format": "uri"},
        "path": _TEXT,
        "value": {"type": "string", "contentEncoding": "base64"},
        "wms": {
            "type": "object",
            "required": ["url", "bbox"],
            "additionalProperties": False,
            "properties": {
                "url": _TEXT,
                "layers": _TEXT,
                "irc_layers": _TEXT,
                "bbox": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}},
                "crs": {"type": "string", "maxLength": 200},
                "resolution": {"type": "number", "exclusiveMinimum": 0},
                "format": {"type": "string", "maxLength": 100},
            },
        },
    },
    "additionalProperties": False,
    "oneOf": [{"required": [name], "propertyNames": {"enum": [name]}} for name in ("href", "path", "value", "wms")],
}

OUTPUTS: dict[str, Output[Segmented]] = {
    "surfaces": Output(
        "Surfaces",
        "application/json",
        "Model, device, grid of the result, area (m²) of each couverture code and without data; over dalles: "
        "blocks (computed, reused, failed with reasons), km², Mpx/s, the dalles missing and, once assembled, the "
        "imperméabilisation per commune of the run's area; avertissement: AI couverture is not OCS GE.",
        lambda result: {**result.summary, "avertissement": AI_COUVERTURE_NOTICE},
    ),
    "classification": Output(
        "Classification",
        "image/tiff; application=geotiff; profile=cloud-optimized",
        "The classification as a Cloud Optimised GeoTIFF on the input's exact grid: one OCS GE couverture value "
        "per pixel, colour table and legend (tag OCSGE_VALUES) included.",
        lambda result: result.classification.read_bytes(),
    ),
    "polygones": Output(
        "Polygones",
        "application/geo+json",
        "OCS GE polygons (code_cs, minimum mapping units, no gaps or overlaps), CRS84.",
        lambda result: {**polygons_geojson(result.classification), "avertissement": AI_COUVERTURE_NOTICE},
    ),
}

PROCESS_METADATA: dict[str, Any] = {
    "version": "0.1.0",
    "id": "segmentation",
    "title": {
        "fr": "Segmentation d'orthophotos en couverture OCS GE",
        "en": "Orthophoto segmentation into OCS GE land cover",
    },
    "description": {
        "fr": "Classe chaque pixel d'une orthophoto (BD ORTHO RVB + IRC) en couverture OCS GE avec un modèle de "
        "segmentation (FLAIR-INC d'IGN ou le petit modèle du projet), puis en polygones.",
        "en": "Classifies every pixel of an orthophoto (BD ORTHO RGB + IRC) into OCS GE couverture with a "
        "segmentation model (IGN's FLAIR-INC or the project's small model), then into polygons.",
    },
    "jobControlOptions": ["sync-execute", "async-execute"],
    "keywords": ["OCS GE", "segmentation", "FLAIR", "BD ORTHO", "deep learning"],
    "links": [],
    "inputs": {
        "image": {
            "title": "Image",
            "description": "The orthophoto: href (http(s) GeoTIFF/COG), path (under the "
            "server's data directory), value (base64 GeoTIFF) or wms (Géoplateforme-style GetMap: url, "
            "layers (default ORTHOIMAGERY.ORTHOPHOTOS), bbox, crs, resolution in m).",
            "schema": _IMAGE_SCHEMA,
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "irc": {
            "title": "Image IRC",
            "description": "The infrared image (NIR, R, G) on the same grid, given like "
            "image; with a wms image it is fetched from the IRC layer when the model reads NIR.",
            "schema": _IMAGE_SCHEMA,
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "dalles": {
            "title": "Dalles BD ORTHO",
            "description": "Instead of image: BD ORTHO dalles as IGN delivers them, a path under the server's data "
            "directory to a folder (RVB and IRC product folders), a .txt list, a .7z archive, a VRT or a COG mosaic; "
            "or wms, the URL of a WMS 1.3.0 (the Géoplateforme's, https://data.geopf.fr/wms-r/wms) read at 0.2 m in "
            "cells over the territoire (needed then), layers and irc_layers defaulting to ORTHOIMAGERY.ORTHOPHOTOS "
            "and ORTHOIMAGERY.ORTHOPHOTOS.IRC; fetched cells are cached. Segmented block by block; the same request "
            "executed again resumes an interrupted run. Output: surfaces.",
            "schema": {
                "type": "object",
                "additionalProperties": False,
                "properties": {"path": _TEXT, "wms": {**_TEXT, "format": "uri"}, "layers": _TEXT, "irc_layers": _TEXT},
                "oneOf": [{"required": ["path"]}, {"required": ["wms"]}],
            },
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "territoire": {
            "title": "Territoire",
            "description": "With dalles: the territory to segment, one of communes (INSEE codes), epci, "
            "departement, geometry (GeoJSON) or bbox, with an optional crs (Lambert-93 by default).",
            "schema": {"type": "object", "minProperties": 1, "maxProperties": 2},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "tiling": {
            "title": "Fenêtres et blocs",
            "description": "With dalles, to tune a run: window and margin (px, as ocsge segment --window/--margin) "
            "and block_side (px, a multiple of window - 2 × margin). Defaults: segmentation.windows and .blocks.",
            "schema": {
                "type": "object",
                "additionalProperties": False,
                "properties": {
                    name: {"type": "integer", "minimum": minimum, "maximum": 100_000}
                    for name, minimum in (("window", 32), ("margin", 0), ("block_side", 32))
                },
            },
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "model": {
            "title": "Modèle",
            "description": "A model of config/models.yml with weights on the server.",
            "schema": {"type": "string", "enum": sorted(models()), "default": DEFAULT_MODEL},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "device": {
            "title": "Processeur",
            "description": "auto (GPU when present), cuda or cpu.",
            "schema": {"type": "string", "enum": list(DEVICES), "default": "auto"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
    },
    "outputs": describe_outputs(OUTPUTS),
}


# Any: an execution example is free-form JSON
def _example(ortho_wms: str | None) -> dict[str, Any]:
    """The execution example: a small Montpellier extent from the configured ortho WMS (none without one)."""
    if not ortho_wms:
        return {}
    return {
        "example": {
            "inputs": {
                "image": {"wms": {"url": ortho_wms, "bbox": [770550, 6277550, 770600, 6277600], "resolution": 0.2}}
            }
        }
    }


class SegmentationProcessor(BaseProcessor):
    """Runs the segmentation workflow under the server's image policy."""

    # Any: the processor's block of the pygeoapi configuration, free-form
    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, {**PROCESS_METADATA, **_example(processor_def.get("ortho_wms"))})
        self.supports_outputs = True
        data_dir = processor_def.get("data_dir")
        self.policy = ImagePolicy(
            data_dir=Path(data_dir) if data_dir else None,
            max_pixels=int(processor_def.get("max_pixels", ImagePolicy.max_pixels)),
            max_inline_bytes=int(processor_def.get("max_inline_bytes", ImagePolicy.max_inline_bytes)),
            trusted_hosts=frozenset(_names(processor_def.get("trusted_hosts"))),
        )
        self.job_id: str | None = None
        #: Run folders of dalles runs, kept between executions so that one can resume.
        self.runs_dir = Path(processor_def.get("runs_dir") or Path(tempfile.gettempdir()) / "ocsge-segmentation-runs")
        #: The store whose communes name territories (none: bbox and geometry only).
        self.store_url: str | None = processor_def.get("store") or None
        #: Where a finished run is published: the job database (its COG) and the server's URL.
        self.results = str(processor_def.get("results") or "build/jobs.sqlite")
        self.base_url = str(processor_def.get("url") or "http://127.0.0.1:5000")
        #: Jobs on Celery: a run over dalles sends its blocks to the gpu queue's workers (``segmentation_fanout``).
        self.broker = str(processor_def.get("broker") or "") if processor_def.get("executor") == "celery" else ""
        self.block_wait_s = float(processor_def.get("block_wait_s") or TAKE_WAIT_S)

    def set_job_id(self, job_id: str) -> None:
        self.job_id = job_id

    def _report(self) -> Callable[[int, str], None]:
        """The job's progress report (raises when the job is dismissed: the run stops after its block)."""
        return job_progress(self.job_id)

    # Any: the request's inputs and outputs are free-form JSON
    def execute(self, data: dict[str, Any], outputs: dict[str, Any] | None = None) -> tuple[str, object]:
        """Run and return the one output asked for (``surfaces`` by default)."""
        check_inputs(data, PROCESS_METADATA)
        output = requested_output(outputs, OUTPUTS, "surfaces")
        if "dalles" in data:
            if output is not OUTPUTS["surfaces"]:
                raise InvalidInputError(
                    "a run over dalles gives the surfaces output (its blocks stay in its run folder)"
                )
            publish = publisher(self.store_url, self.results, self.base_url, self.job_id) if self.store_url else None
            summary = run_dalles(
                data,
                self.policy,
                self.runs_dir,
                self.store_url,
                self._report(),
                publish,
                run_id=self.job_id,
                dispatch=self._dispatch(),
            )
            return "application/json", {**summary, "avertissement": AI_COUVERTURE_NOTICE}
        if "territoire" in data:
            raise InvalidInputError("territoire limits a run over dalles; give dalles, or crop the image")
        workdir = Path(tempfile.mkdtemp(prefix="ocsge-segmentation-"))
        try:
            return output.media_type, output.produce(run(data, self.policy, workdir, self._report()))
        finally:
            shutil.rmtree(workdir, ignore_errors=True)

    def _dispatch(self) -> Dispatch | None:
        """The blocks fanned out when this server's jobs run on Celery and a store carries the fan-out's notes;
        None: computed one after the other in the job's own process."""
        store_url, broker, job_id, wait_s = self.store_url, self.broker, self.job_id, self.block_wait_s
        if not (store_url and broker and job_id):
            return None

        def dispatch(
            mosaic: Mosaic, run_dir: Path, options: RunOptions, progress: RunProgress, stop: Callable[[], bool]
        ) -> RunSummary:
            return fan_out_blocks(mosaic, run_dir, options, store_url, broker, progress, stop, job_id, wait_s)

        return dispatch

    # Any: the request's inputs are free-form JSON
    def sync_cost(self, data: dict[str, Any]) -> Cost | None:
        """A lower bound on the run time, known before running (the manager refuses a sync one over budget)."""
        if "dalles" in data:
            with tempfile.TemporaryDirectory(prefix="ocsge-segmentation-cost-") as workdir:
                return dalles_cost(data, self.policy, Path(workdir))
        return segmentation_cost(data, self.policy)

    def __repr__(self) -> str:
        return "<SegmentationProcessor>"


def _names(value: object) -> list[str]:
    """A list from YAML, or from a comma-separated environment variable substituted into the configuration."""
    if isinstance(value, str):
        return [name.strip() for name in value.split(",") if name.strip()]
    if value is None:
        return []
    if isinstance(value, Iterable):
        return [str(name) for name in value]
    raise TypeError(f"expected a list of host names or a comma-separated string, got {value!r}")
