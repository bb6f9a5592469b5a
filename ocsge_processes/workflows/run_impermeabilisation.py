"""Imperméabilisation from a segmentation run instead of OCS GE: the sealed area per commune (or territory) counted
in the run's class raster (``artificialisation.run_sealing``), with the notice that AI couverture is not OCS GE and
the model's own caveat.

Two callers: the end of a run over dalles (the run folder's COG, the communes of the run's area) and the
``artificialisation`` process with ``source: {"run": id}`` (the published COG, fetched from the result store, and the
territory the user names).
"""

from __future__ import annotations

import json
import math
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict

import pyproj
import rasterio
import shapely
import shapely.ops
from rasterio.crs import CRS
from rasterio.windows import Window
from shapely.geometry.base import BaseGeometry

from ..artificialisation import Territory
from ..artificialisation.run_sealing import ZoneSealing, zone_sealing
from ..errors import InvalidInputError, UnknownCodeError
from ..layers import AI_COUVERTURE_NOTICE, COMMUNES
from ..results import ResultGone, ResultNotFound, ResultStore
from ..segmentation.crs import same_crs
from ..segmentation.mosaic import Mosaic
from ..segmentation.registry import get_model
from ..stores import FeatureStore, table_name
from ..territory import departement_epsg
from .segmentation_publish import CLASSES_NAME
from .territories import resolve

#: What is counted, in the words of the official tool.
DEFINITION = "couverture CS1.1.1.1 (zones bâties) + CS1.1.1.2 (zones non bâties imperméables), as MTES-MCT/sparte"
#: Raster rows read at a time for one zone (at 0.2 m, 1024 rows of a 10 km wide commune are 50 Mpx).
STRIP_ROWS = 1024


@dataclass(frozen=True)
class Zone:
    """A commune or territory to measure: its geometry in the projected CRS ``epsg``."""

    code: str
    nom: str
    geometry: BaseGeometry
    epsg: int


class ZoneFigures(TypedDict):
    code: str
    nom: str
    surface_m2: float
    #: The zone's area the run classified or left nodata (its pixels × pixel area); less than surface_m2 where the
    #: run does not cover the whole zone.
    surface_couverte_m2: float
    surface_impermeable_m2: float
    #: Sealed share of the classified pixels (None when the run classified none of the zone).
    taux_impermeabilisation: float | None
    pixels_non_classes: int


class Impermeabilisation(TypedDict):
    run: str
    modele: str
    avertissement: str
    #: The model's own bias (``sealing_caveat`` in config/models.yml), None when it has none.
    avertissement_modele: str | None
    definition: str
    pixel_m2: float
    zones: list[ZoneFigures]


def impermeabilisation(classes: Path, run: str, zones: Sequence[Zone]) -> Impermeabilisation:
    """The sealed area of each of ``zones`` in the class raster ``classes`` of the run ``run``."""
    with rasterio.open(classes) as dataset:
        tags = dataset.tags()
        if tags.get("OCSGE_OUTPUT") != "cs" or "OCSGE_VALUES" not in tags:
            raise InvalidInputError(f"run {run}: its raster carries no CS legend (OCSGE_VALUES tag of a 'cs' raster)")
        values = {int(value): str(code) for value, code in json.loads(tags["OCSGE_VALUES"]).items()}
        model = tags.get("OCSGE_MODEL", "")
        crs = dataset.crs
        nodata = None if dataset.nodata is None else int(dataset.nodata)
        pixel_m2 = abs(dataset.transform.a * dataset.transform.e)
        figures = [_measure(dataset, zone, crs, values, nodata) for zone in zones]
    try:
        caveat = get_model(model).sealing_caveat
    except UnknownCodeError:  # a model removed from the registry since the run: no caveat known
        caveat = None
    return Impermeabilisation(
        run=run,
        modele=model,
        avertissement=AI_COUVERTURE_NOTICE,
        avertissement_modele=caveat,
        definition=DEFINITION,
        pixel_m2=pixel_m2,
        zones=figures,
    )


def of_run(store: FeatureStore, classes: Path, mosaic: Mosaic, run: str) -> Impermeabilisation | str:
    """The block of a finished run over dalles: per commune of its area (the territory, or the dalles), from its
    class COG ``classes``; or why there is none (a string)."""
    departements = {pair.rvb.name.departement for pair in mosaic.pairs if pair.rvb.name is not None}
    if len(departements) != 1:
        return f"the dalles name {len(departements)} départements: the communes are looked up in one"
    zones = run_communes(store, mosaic.area, departement_epsg(departements.pop()))
    if not zones:
        return "the store holds no commune of the run's area"
    return impermeabilisation(classes, run, zones)


def run_communes(store: FeatureStore, area: BaseGeometry, epsg: int) -> list[Zone]:
    """The communes held in the store (EPSG:``epsg`` table) that ``area`` touches, each cut to ``area``."""
    if table_name(COMMUNES, epsg) not in store.tables():
        return []
    minx, miny, maxx, maxy = (float(value) for value in area.bounds)
    frame = store.read_frame(COMMUNES, epsg, bbox=(minx, miny, maxx, maxy))
    shapely.prepare(area)
    zones = []
    for code, nom, geometry in zip(frame["code_insee"], frame["nom"], frame.geometry, strict=True):
        if not area.intersects(geometry):
            continue
        part = shapely.intersection(geometry, area)
        if part.area > 0:
            zones.append(Zone(str(code), str(nom), part, epsg))
    return sorted(zones, key=lambda zone: zone.code)


def territory_zones(territory: Territory) -> list[Zone]:
    """A territory as one zone per CRS it is measured in (the union of its parts there)."""
    return [
        Zone(
            territory.code, territory.nom, shapely.union_all([part.geometry for part in territory.parts_in(epsg)]), epsg
        )
        for epsg in territory.epsgs
    ]


@contextmanager
def published_classes(results: ResultStore, run: str) -> Iterator[Path]:
    """The class COG of the published run ``run``, copied out of the result store into a temporary file; a 400
    naming the run when none is published (or it expired)."""
    try:
        file = results.info(run, CLASSES_NAME)
    except ResultNotFound:
        raise InvalidInputError(
            f"source.run {run!r}: no segmentation run of that id is published (a run over dalles publishes its "
            "classes when it ends)"
        ) from None
    except ResultGone as err:
        raise InvalidInputError(f"source.run {run!r}: {err}") from None
    with tempfile.TemporaryDirectory(prefix="ocsge-run-") as folder:
        path = Path(folder) / CLASSES_NAME
        with path.open("wb") as handle:
            for chunk in results.read(file):
                handle.write(chunk)
        yield path


def _measure(
    dataset: rasterio.DatasetReader, zone: Zone, crs: CRS, values: dict[int, str], nodata: int | None
) -> ZoneFigures:
    """One zone's figures, reading the window of the raster its bounds cover strip by strip (a city at 0.2 m is
    over a gigapixel: counts add up across strips, memory stays that of one strip)."""
    geometry = _in_crs(zone.geometry, zone.epsg, crs)
    window = None if geometry.is_empty else _window(dataset, geometry)
    pixels = sealed = unclassified = 0
    if window is not None:
        for row in range(int(window.row_off), int(window.row_off + window.height), STRIP_ROWS):
            rows = min(STRIP_ROWS, int(window.row_off + window.height) - row)
            strip = Window(window.col_off, row, window.width, rows)
            classes = dataset.read(1, window=strip)
            (part,) = zone_sealing(classes, dataset.window_transform(strip), values, [(zone.code, geometry)], nodata)
            pixels, sealed, unclassified = (
                pixels + part.pixels,
                sealed + part.sealed_pixels,
                unclassified + part.nodata_pixels,
            )
    sealing = ZoneSealing(zone.code, pixels, sealed, unclassified, abs(dataset.transform.a * dataset.transform.e))
    return ZoneFigures(
        code=zone.code,
        nom=zone.nom,
        surface_m2=round(float(zone.geometry.area), 2),
        surface_couverte_m2=round(sealing.surface_m2, 2),
        surface_impermeable_m2=round(sealing.sealed_m2, 2),
        taux_impermeabilisation=None if sealing.rate is None else round(sealing.rate, 6),
        pixels_non_classes=sealing.nodata_pixels,
    )


def _window(dataset: rasterio.DatasetReader, geometry: BaseGeometry) -> Window | None:
    """The whole pixels of the raster (north up) that ``geometry``'s bounds meet, None when they meet none."""
    transform = dataset.transform
    minx, miny, maxx, maxy = geometry.bounds
    col0 = max(math.floor((minx - transform.c) / transform.a), 0)
    col1 = min(math.ceil((maxx - transform.c) / transform.a), dataset.width)
    row0 = max(math.floor((maxy - transform.f) / transform.e), 0)
    row1 = min(math.ceil((miny - transform.f) / transform.e), dataset.height)
    if col1 <= col0 or row1 <= row0:
        return None
    return Window(col0, row0, col1 - col0, row1 - row0)


def _in_crs(geometry: BaseGeometry, epsg: int, crs: CRS) -> BaseGeometry:
    """``geometry`` (EPSG:``epsg``) in the raster's CRS: as it is when they define the same coordinates."""
    if same_crs(CRS.from_epsg(epsg), crs):
        return geometry
    transformer = pyproj.Transformer.from_crs(
        pyproj.CRS.from_epsg(epsg), pyproj.CRS.from_wkt(crs.to_wkt()), always_xy=True
    )
    return shapely.ops.transform(transformer.transform, geometry)


def _union(territory: Territory, epsg: int) -> BaseGeometry:
    return shapely.union_all([part.geometry for part in territory.parts_in(epsg)])


def from_run(
    store: FeatureStore, results: ResultStore, run: object, territoire: object, detail_communes: bool
) -> Impermeabilisation:
    """The ``artificialisation`` process with a run as its source: the territory (and each of its communes when
    asked) measured in the published run ``run``. Only imperméabilisation: artificialisation needs the usage (US) that
    a run does not give."""
    if not isinstance(run, str) or not run:
        raise InvalidInputError("source.run must be the id of a segmentation run (its job id)")
    resolved = resolve(store, territoire)
    zones = territory_zones(resolved.territory)
    if detail_communes:
        zones += [zone for commune in resolved.communes for zone in territory_zones(commune)]
    with published_classes(results, run) as path:
        return impermeabilisation(path, run, zones)
