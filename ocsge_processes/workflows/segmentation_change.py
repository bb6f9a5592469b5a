"""The change between two published segmentation runs, published as the pair's slice of
``ocsge-segmentation-changement``, with the sealing flows between them.

The runs' class COGs are read back from the result store, where ``publish_run`` put them
(``/results/{run}/classes.tif``); the change is ``segmentation.change``'s. The slice is keyed by both runs and written
in one transaction (``replace_slice``): comparing the pair again replaces it, a failure leaves it as it was. A run
over dalles publishes its top class probability beside its classes (``confiance.tif``, × 255); when both runs have
one, the changes carry a ``confiance``, else none (a run published without it).
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pyproj
import rasterio
from rasterio.crs import CRS

from ..errors import InvalidInputError
from ..ingest.geometries import polygonal
from ..layers import SEGMENTATION_CHANGE
from ..results import ResultGone, ResultNotFound, ResultStore
from ..segmentation.change import NOTICE, SealingFlows, change, top_probability
from ..segmentation.crs import same_crs
from ..segmentation.vectorise import ClassRaster, MinimumUnits, read_class_raster
from ..stores import FeatureStore
from ..territory import departement_epsg, normalise_departement
from .segmentation_publish import CLASSES_NAME, CONFIDENCE_NAME


@dataclass(frozen=True)
class ChangePublication:
    """Where a pair's change was published, and what it says."""

    collection: str
    epsg: int
    features: int
    flows: SealingFlows
    #: Whether ``confiance`` was computed (both runs' probabilities given).
    confidence: bool
    notice: str = NOTICE

    def summary(self) -> dict[str, object]:
        """The JSON a caller prints or returns: the flows in m², and the AI-couverture notice."""
        return {
            "collection": self.collection,
            "features": self.features,
            "impermeabilisation_m2": self.flows.impermeabilisation_m2,
            "desimpermeabilisation_m2": self.flows.desimpermeabilisation_m2,
            "impermeabilisation_nette_m2": self.flows.net_m2,
            "confiance": "mean of the lower of the two runs' top probabilities"
            if self.confidence
            else "not available: the runs kept no class probabilities",
            "avertissement": self.notice,
        }


def compare_runs(
    store: FeatureStore,
    results: ResultStore,
    run_avant: str,
    run_apres: str,
    departement: str,
    *,
    units: MinimumUnits | None = None,
) -> ChangePublication:
    """Publish the change from run ``run_avant`` to ``run_apres``, both read from ``results``."""
    if run_avant == run_apres:
        raise InvalidInputError(f"compare two different runs; both are {run_avant!r}")
    with tempfile.TemporaryDirectory(prefix="ocsge-change-") as folder:
        before = _class_raster(results, run_avant, Path(folder))
        after = _class_raster(results, run_apres, Path(folder))
        sure_before = _confidence(results, run_avant, Path(folder))
        sure_after = _confidence(results, run_apres, Path(folder))
        both = None if sure_before is None or sure_after is None else (sure_before, sure_after)
        return publish_change(store, before, after, run_avant, run_apres, departement, units=units, confidence=both)


def publish_change(
    store: FeatureStore,
    before: ClassRaster,
    after: ClassRaster,
    run_avant: str,
    run_apres: str,
    departement: str,
    *,
    units: MinimumUnits | None = None,
    confidence: tuple[np.ndarray, np.ndarray] | None = None,
) -> ChangePublication:
    """Publish the change from ``before`` (run ``run_avant``) to ``after`` as the pair's slice; ``confidence`` is
    each run's top class probability per pixel, when kept."""
    departement = normalise_departement(departement)
    epsg = departement_epsg(departement)
    sure = confidence or (None, None)
    result = change(before, after, units=units, confidence_before=sure[0], confidence_after=sure[1])
    frame = _slice(result.polygons, run_avant, run_apres, departement, epsg)
    written = store.replace_slice(SEGMENTATION_CHANGE, epsg, frame, {"run_avant": run_avant, "run_apres": run_apres})
    return ChangePublication(SEGMENTATION_CHANGE.collection_id, epsg, written, result.flows, confidence is not None)


def _slice(polygons: gpd.GeoDataFrame, run_avant: str, run_apres: str, departement: str, epsg: int) -> gpd.GeoDataFrame:
    """Every field of the layer, in EPSG:``epsg``."""
    # The real patch's unnamed Lambert-93 is EPSG:2154 by definition: relabelled, not reprojected.
    same = polygons.crs is not None and same_crs(CRS.from_wkt(polygons.crs.to_wkt()), CRS.from_epsg(epsg))
    moved = polygons.set_crs(epsg, allow_override=True) if same else polygons.to_crs(epsg)
    # Stores hold MultiPolygons (PostGIS's column type); the vectoriser's polygons are valid, none is dropped.
    geometries, _ = polygonal(np.asarray(moved.geometry.values, dtype=object), pyproj.CRS.from_epsg(epsg), "change")
    columns = {
        "id": [f"{run_avant}-{run_apres}-{n}" for n in range(1, len(moved) + 1)],
        "code_cs_avant": moved["code_cs_avant"].to_list(),
        "code_cs_apres": moved["code_cs_apres"].to_list(),
        "run_avant": run_avant,
        "run_apres": run_apres,
        "confiance": moved["confiance"].to_list(),
        "surface_m2": moved["surface_m2"].to_list(),
        "departement": departement,
    }
    return gpd.GeoDataFrame(columns, geometry=list(geometries), crs=f"EPSG:{epsg}")


def _class_raster(results: ResultStore, run: str, folder: Path) -> ClassRaster:
    """The class COG of a published run, copied out of the result store."""
    return read_class_raster(_copied(results, run, CLASSES_NAME, folder / f"{run}.tif"))


def _confidence(results: ResultStore, run: str, folder: Path) -> np.ndarray | None:
    """The run's top class probability per pixel (0 to 1), None when it published none with its current classes."""
    try:
        file = results.info(run, CONFIDENCE_NAME)
    except (ResultNotFound, ResultGone):
        return None
    if file.created < results.info(run, CLASSES_NAME).created:
        return None  # left by an earlier publication of the run: the classes were published again without one
    path = _copied(results, run, CONFIDENCE_NAME, folder / f"{run}.confiance.tif")
    with rasterio.open(path) as dataset:
        return top_probability(dataset.read())


def _copied(results: ResultStore, run: str, name: str, path: Path) -> Path:
    file = results.info(run, name)
    with path.open("wb") as handle:
        for chunk in results.read(file):
            handle.write(chunk)
    return path
