"""Read an IGN OCS GE delivery as published and normalise it into batches of our layers.

A delivery is read and validated whole before its first batch is yielded, so that a bad file leaves the store
untouched; source layers that feed the same (layer, slice) come out as one batch.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Hashable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import SupportsInt

import geopandas as gpd
import numpy as np
import pandas as pd
import pyogrio
from pyogrio.errors import DataLayerError, DataSourceError
from pyproj import CRS

from ..errors import DeliveryError, UnknownCodeError
from ..layers import COMMUNES, INTEGER, STRING, Layer
from ..nomenclature import couverture, usage
from ..territory import departement_epsg, departement_of_commune, normalise_departement
from .columns import DTYPES, labels, read_columns, typed_column
from .geometries import polygonal, source_crs
from .names import departement_token, expected_names, route_layer, single_year, year_pair
from .placement import refuse_outside_area_of_use
from .sources import ARCHIVE_SUFFIX, SourceFile, list_archive, open_sources

log = logging.getLogger(__name__)


@dataclass
class Batch:
    """Rows of one published layer for one slice (département, millésimes), ready to replace that slice."""

    layer: Layer
    #: Territory CRS of the geometries (2154, 5490, 2972, 2975 or 4471).
    epsg: int
    #: Exactly ``layer.fields`` in order, typed (see ``columns.DTYPES``), then ``geometry`` (MultiPolygon).
    frame: gpd.GeoDataFrame
    #: Values of ``layer.slice_keys`` shared by every row.
    slice: dict[str, object]
    #: Where the rows come from, for messages: ``archive.7z!inner/path.gpkg:layer``.
    source: str

    @property
    def departement(self) -> str:
        """The slice's département: every layer is sliced by it, and placement checks are made per département."""
        return str(self.slice["departement"])


@dataclass(frozen=True)
class PlannedLayer:
    """One source layer of a delivery and the layer it will feed (None: skipped), listed without reading rows."""

    source: str
    layer: Layer | None
    #: Feature count, or None inside an archive (counting needs the extraction that reading does anyway).
    features: int | None


def read_delivery(path: Path, *, departement: str | None = None) -> Iterator[Batch]:
    """Batches of a 7z delivery, a folder, or a GPKG/SHP/GeoJSON file, after the whole delivery is validated.

    ``departement`` is the last resort for files whose name, fields and communes do not tell it.
    """
    fallback = normalise_departement(departement) if departement is not None else None
    yield from _read(Path(path), fallback)


def plan_delivery(path: Path) -> list[PlannedLayer]:
    """Cheap listing of what ``read_delivery`` will read, for progress reporting; inside archives, by file name."""
    path = Path(path)
    if path.is_file() and path.suffix.lower() == ARCHIVE_SUFFIX:
        return [
            PlannedLayer(f"{path.name}!{name}", route_layer((Path(name).stem, path.stem), ()), None)
            for name in list_archive(path)
        ]
    planned = []
    with open_sources(path) as files:
        for file in files:
            listed = _layers(file)
            for name, _ in listed:
                info = pyogrio.read_info(file.path, layer=name)
                layer = route_layer(_routing_names(file, name, single=len(listed) == 1), info["fields"])
                planned.append(PlannedLayer(f"{file.label}:{name}", layer, int(info["features"])))
    return planned


@dataclass
class _Raw:
    name: str
    layer: Layer
    frame: gpd.GeoDataFrame


def _read(path: Path, fallback: str | None) -> list[Batch]:
    parts: list[Batch] = []
    skipped: list[str] = []
    with open_sources(path) as files:
        for file in files:
            raws = _read_file(file, skipped)
            communes = _commune_departements(raws, file)
            for raw in raws:
                parts.extend(_normalise(raw, file, communes, fallback))
    if not parts:
        found = f"found {', '.join(skipped)}" if skipped else "found no vector layer"
        raise DeliveryError(
            f"{path.name}: no recognisable OCS GE layer ({found}); expected a layer whose name holds {expected_names()}"
        )
    return _merge(parts)


def _layers(file: SourceFile) -> list[tuple[str, str | None]]:
    try:
        return [(str(name), kind) for name, kind in pyogrio.list_layers(file.path)]
    except (DataSourceError, DataLayerError) as exc:
        raise DeliveryError(f"{file.label}: not a readable {file.path.suffix[1:].upper()} file: {exc}") from exc


def _routing_names(file: SourceFile, layer: str, *, single: bool) -> tuple[str, ...]:
    """A multi-layer file's name says nothing about each layer (SYBARVAL's ``enveloppe_urbaine_2018``)."""
    return (layer, *file.names) if single else (layer,)


def _read_file(file: SourceFile, skipped: list[str]) -> list[_Raw]:
    listed = _layers(file)
    raws = []
    for name, kind in listed:
        source = f"{file.label}:{name}"
        try:
            info = pyogrio.read_info(file.path, layer=name)
        except (DataSourceError, DataLayerError) as exc:
            raise DeliveryError(f"{source}: cannot read the layer: {exc}") from exc
        layer = route_layer(_routing_names(file, name, single=len(listed) == 1), info["fields"])
        if layer is None:
            log.warning("%s: not an OCS GE layer, skipped", source)
            skipped.append(source)
            continue
        if kind is None:
            raise DeliveryError(f"{source}: no geometry column; {layer.collection_id} needs polygons")
        if "Point" in kind or "LineString" in kind:
            raise DeliveryError(f"{source}: {kind} geometries; {layer.collection_id} needs polygons")
        try:
            frame = pyogrio.read_dataframe(file.path, layer=name, fid_as_index=True)
        except (DataSourceError, DataLayerError) as exc:
            raise DeliveryError(f"{source}: cannot read the layer: {exc}") from exc
        log.info("%s: %d rows -> %s", source, len(frame), layer.collection_id)
        raws.append(_Raw(name, layer, frame))
    return raws


def _commune_departements(raws: list[_Raw], file: SourceFile) -> set[str]:
    """Départements of the commune layers in a file: they place OCS GE layers that carry no département."""
    found: set[str] = set()
    for raw in raws:
        if raw.layer is COMMUNES:
            codes = read_columns(raw.frame, COMMUNES, f"{file.label}:{raw.name}").values["code_insee"]
            found |= set(_departements_of_communes(codes, f"{file.label}:{raw.name}").dropna())
    return found


def _normalise(raw: _Raw, file: SourceFile, communes: set[str], fallback: str | None) -> list[Batch]:
    layer, source = raw.layer, f"{file.label}:{raw.name}"
    names = (raw.name, *file.names)
    crs = source_crs(raw.frame.crs, names, source)
    columns = read_columns(raw.frame, layer, source)
    values = columns.values
    geometries, repaired = polygonal(raw.frame.geometry.to_numpy(), crs, source)
    refuse_outside_area_of_use(geometries[pd.notna(geometries)], crs, source)
    keep = pd.notna(geometries)
    if repaired:
        log.info("%s: %d invalid geometries repaired with make_valid", source, repaired)
    if not keep.all():
        log.info("%s: %d empty or non-polygonal geometries dropped", source, int((~keep).sum()))
    values, geometries = values[keep], geometries[keep]
    values["departement"] = _departement(values, layer, names, communes, fallback, source)
    _millesimes(values, layer, columns.years, names, source)
    if layer.id_field == "id":
        values["id"] = _ids(values, layer, raw.name)
    for kind, nomenclature in (("cs", couverture()), ("us", usage())):
        if f"libelle_{kind}" in layer.fields:
            values[f"libelle_{kind}"] = labels(values[f"code_{kind}"], nomenclature)
    frame = pd.DataFrame(
        {name: typed_column(kind, values.get(name), values.index) for name, kind in layer.fields.items()}
    )
    full = gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(geometries, index=values.index, crs=crs))
    return [
        _batch(layer, dict(zip(layer.slice_keys, key, strict=True)), gpd.GeoDataFrame(group), crs, source)
        for key, group in full.groupby(list(layer.slice_keys), sort=True, dropna=False)
    ]


def _batch(layer: Layer, key: dict[str, Hashable], group: gpd.GeoDataFrame, crs: CRS, source: str) -> Batch:
    """``group`` (the rows of one slice, in the source's ``crs``) in the CRS of its département."""
    slice_values: dict[str, object] = {k: _slice_value(v, layer.fields[k]) for k, v in key.items()}
    departement = str(slice_values["departement"])
    epsg = departement_epsg(departement)
    declared = crs.name
    if crs.to_epsg() != epsg:
        group = group.to_crs(epsg=epsg)
    # also when nothing was reprojected: a .prj without EPSG code has no area of use of its own to check against
    refuse_outside_area_of_use(
        np.asarray(group.geometry.array, dtype=object),
        CRS.from_epsg(epsg),
        f"{source} (declared CRS {declared})",
        f"the CRS of département {departement},",
    )
    return Batch(layer, epsg, group.reset_index(drop=True), slice_values, source)


def _slice_value(value: Hashable, kind: str) -> int | str:
    """A slice key as the stores compare it: ``int`` for integer fields (numpy integers from ``groupby``), else text."""
    if kind != INTEGER:
        return str(value)
    if not isinstance(value, SupportsInt):  # nulls were refused before (no millésime)
        raise TypeError(f"integer slice value expected, got {value!r}")
    return int(value)


def _departement(
    values: pd.DataFrame, layer: Layer, names: Sequence[str], communes: set[str], fallback: str | None, source: str
) -> pd.Series:
    """Name token, else ``departement`` field, else the communes' INSEE codes, else the caller's argument."""
    if layer is COMMUNES:
        if values["code_insee"].isna().any():
            raise DeliveryError(f"{source}: {int(values['code_insee'].isna().sum())} commune(s) without code_insee")
        return _departements_of_communes(values["code_insee"], source)
    result = pd.Series(departement_token(names), index=values.index, dtype=object)
    if "departement" in values:
        result = result.fillna(_departement_field(values["departement"], source))
    if "code_insee" in values:
        result = result.fillna(_departements_of_communes(values["code_insee"], source))
    if len(communes) == 1:
        result = result.fillna(next(iter(communes)))
    result = result.fillna(fallback) if fallback is not None else result
    if result.isna().any():
        raise DeliveryError(
            f"{source}: cannot tell the département of {int(result.isna().sum())} row(s): no D0xx token in the "
            "name, no departement/code_dep field, no commune INSEE codes in the file"
            + (f" (they span {', '.join(sorted(communes))})" if communes else "")
            + "; pass --departement"
        )
    return result


def _departement_field(values: pd.Series, source: str) -> pd.Series:
    return _map_distinct(values, normalise_departement, f"{source}: field departement")


def _departements_of_communes(codes: pd.Series, source: str) -> pd.Series:
    return _map_distinct(codes, departement_of_commune, f"{source}: commune code").astype(object)


def _map_distinct(values: pd.Series, convert: Callable[[str], str], context: str) -> pd.Series:
    """``convert`` applied once per distinct value; an unknown code becomes a DeliveryError naming the file."""
    try:
        mapping = {value: convert(value) for value in values.dropna().unique()}
    except UnknownCodeError as exc:
        raise DeliveryError(f"{context}: {exc}") from exc
    return values.map(mapping)


def _millesimes(
    values: pd.DataFrame, layer: Layer, years: tuple[int, int] | None, names: Sequence[str], source: str
) -> None:
    """Fields first, then the years in the names; a delivery without millésime cannot be sliced."""
    if "millesime_avant" in layer.fields:
        pair = years or year_pair(names)
        for which, column in enumerate(("millesime_avant", "millesime_apres")):
            current = values.get(column, pd.Series(pd.NA, index=values.index, dtype="Int64"))
            values[column] = current.fillna(pair[which]) if pair else current
        if values[["millesime_avant", "millesime_apres"]].isna().any().any():
            raise DeliveryError(
                f"{source}: no millésimes: no cs_{{year}} fields and no two years in the name "
                "(expected e.g. DIFF-2018-2021 or zan_evol_2018_2021)"
            )
    elif "millesime" in layer.fields:
        year = single_year(names)
        current = values.get("millesime", pd.Series(pd.NA, index=values.index, dtype="Int64"))
        values["millesime"] = current.fillna(year) if year is not None else current
        if values["millesime"].isna().any():
            raise DeliveryError(
                f"{source}: no millésime for {int(values['millesime'].isna().sum())} row(s): no millesime field "
                "value and no year in the name (expected e.g. ..._D033_2021-01-01)"
            )


def _ids(values: pd.DataFrame, layer: Layer, name: str) -> pd.Series:
    """IGN ids where present; otherwise ``{departement}-{layer}-{millesimes}-{fid}``, stable across re-ingests."""
    current = values["id"] if "id" in values else pd.Series(pd.NA, index=values.index, dtype=DTYPES[STRING])
    missing = values[current.isna().to_numpy()]
    if missing.empty:
        return current
    built = missing["departement"].astype(str) + f"-{name}"
    for column in ("millesime", "millesime_avant", "millesime_apres"):
        if column in layer.fields:
            built = built + "-" + missing[column].astype(str)
    built = built + "-" + pd.Series(missing.index.astype(str), index=missing.index)
    return current.fillna(built)


def _merge(parts: list[Batch]) -> list[Batch]:
    """One batch per (layer, slice): SYBARVAL splits its DIFF into artificialisation and désartificialisation."""
    groups: dict[tuple[str, tuple[tuple[str, object], ...]], list[Batch]] = {}
    for part in parts:
        groups.setdefault((part.layer.collection_id, tuple(part.slice.items())), []).append(part)
    merged = []
    for members in groups.values():
        first = members[0]
        frame = pd.concat([m.frame for m in members], ignore_index=True) if len(members) > 1 else first.frame
        source = ", ".join(dict.fromkeys(m.source for m in members))
        duplicated = frame[first.layer.id_field].dropna()
        duplicated = duplicated[duplicated.duplicated()]
        if not duplicated.empty:
            raise DeliveryError(
                f"{source}: {len(duplicated)} duplicate {first.layer.id_field} value(s) in one "
                f"{first.layer.collection_id} slice, e.g. {', '.join(map(repr, duplicated.unique()[:5]))}"
            )
        merged.append(Batch(first.layer, first.epsg, gpd.GeoDataFrame(frame, geometry="geometry"), first.slice, source))
    return merged
