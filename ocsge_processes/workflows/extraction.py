"""Extraction of collections into files, shaped like the Géoplateforme's vector extraction service.

Inputs as ``data.geopf.fr/extraction`` takes them (IGNF/cartes.gouv.fr-documentation, ``extraction.md``):
``relations`` {table: {attributes: [...], filters: "..."}}, ``format``, ``srs``, ``append``, ``compression``,
``lifetime`` (hours). Tables are our collection ids, or the IGN layer names our layers are stored under
(``OCCUPATION_SOL``); filters are CQL2 text over the collection's queryables, geometries in CRS84 (the
Géoplateforme runs a PostGIS ``WHERE``; this server runs no client SQL, so such a filter is refused unless it also
reads as CQL2). Every input is checked by :func:`plan` before a job exists; :func:`extract` then writes the files
into a folder of the caller's (the process stores them in the result store).

Files are written with pyogrio (GDAL) as NEW files in that folder, never into a store GeoPackage: GDAL's bundled
SQLite does not see the locks Python's sqlite3 takes on the store, which reads through sqlite3.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import orjson
import pandas as pd
import pyproj
import shapely
from pygeofilter import ast

from ..crsnames import ogc_uri
from ..errors import InvalidInputError
from ..filters import TEXT, parse_filter
from ..layers import LAYERS, Layer
from ..stores import FeatureQuery, FeatureStore, table_name
from ..stores.base import PANDAS_TYPES
from ..stores.cql2 import GEOMETRY_NAMES
from ..territory import METROPOLE_EPSG, WEB_MERCATOR_EPSG, WGS84_EPSG, territories

#: Output formats: the Géoplateforme's name -> (GDAL driver or "parquet", file suffix). ``SHP`` is our short name
#: for ``ESRI SHAPEFILE``; GML and PGDUMP are not offered here.
FORMATS: dict[str, tuple[str, str]] = {
    "GPKG": ("GPKG", ".gpkg"),
    "GEOJSON": ("GeoJSON", ".geojson"),
    "PARQUET": ("parquet", ".parquet"),
    "ESRI SHAPEFILE": ("ESRI Shapefile", ".shp"),
    "SHP": ("ESRI Shapefile", ".shp"),
}
COMPRESSIONS = ("7zip", "zip")
#: Hours a result is kept: the Géoplateforme's bounds (7 h to 14 days) and default upper bound.
MIN_LIFETIME_H, MAX_LIFETIME_H, DEFAULT_LIFETIME_H = 1, 336, 24
#: Features read from the store per query: bounded memory per page, few round trips.
PAGE = 5_000
#: What a PostGIS WHERE has and CQL2 text has not: casts, SRID calls, ST_ functions CQL2 names otherwise.
_POSTGIS_SQL = re.compile(r"::|\bst_(setsrid|transform|geomfromtext|makeenvelope|dwithin|buffer)\b", re.IGNORECASE)
#: Report of progress: percent, message.
Report = Callable[[int, str], None]


@dataclass(frozen=True)
class Relation:
    """One table to extract: its layer and CRS in the store, the attributes asked and the parsed filter."""

    name: str
    layer: Layer
    epsg: int
    attributes: tuple[str, ...]
    geometry: bool
    filter_text: str | None
    where: ast.Node | None


@dataclass(frozen=True)
class Plan:
    """A checked extraction request."""

    relations: tuple[Relation, ...]
    format: str
    srs: int | None
    append: bool
    compression: str | None
    lifetime_h: int


@dataclass
class Extraction:
    """The files written and the summary of an extraction."""

    files: list[Path]
    # Any: the summary is a JSON document
    summary: dict[str, Any]
    logs: list[str] = field(default_factory=list)


def tables_of(store: FeatureStore) -> dict[str, tuple[Layer, int]]:
    """The names a request may give a table (collection id, stored table name, upper-case IGN layer name)."""
    held = set(store.tables())
    names: dict[str, tuple[Layer, int]] = {}
    for layer in LAYERS.values():
        for territory in territories():
            table = table_name(layer, territory.epsg)
            if table not in held:
                continue
            collection = (
                layer.collection_id if territory.epsg == METROPOLE_EPSG else f"{layer.collection_id}-{territory.name}"
            )
            for name in (collection, table, table.upper()):
                names[name] = (layer, territory.epsg)
    return names


def plan(store: FeatureStore, inputs: Mapping[str, object], max_lifetime_h: int = MAX_LIFETIME_H) -> Plan:
    """The checked request; InvalidInputError naming the first table, attribute, filter, format, srs or lifetime
    that is wrong."""
    fmt = str(inputs.get("format", "GPKG")).upper()
    if fmt not in FORMATS:
        raise InvalidInputError(f"format {inputs.get('format')!r} is not offered; expected one of {', '.join(FORMATS)}")
    lifetime_h = inputs.get("lifetime", DEFAULT_LIFETIME_H)
    if not isinstance(lifetime_h, int) or isinstance(lifetime_h, bool):
        raise InvalidInputError(f"lifetime {lifetime_h!r} is not a whole number of hours")
    if not MIN_LIFETIME_H <= lifetime_h <= max_lifetime_h:
        raise InvalidInputError(
            f"lifetime {lifetime_h} h is out of range: results are kept {MIN_LIFETIME_H} to {max_lifetime_h} hours"
        )
    compression = inputs.get("compression")
    if compression is not None and compression not in COMPRESSIONS:
        raise InvalidInputError(
            f"compression {compression!r} is not offered; expected one of {', '.join(COMPRESSIONS)}"
        )
    known = tables_of(store)
    relations_in = inputs.get("relations") or {}
    if not isinstance(relations_in, Mapping) or not relations_in:
        raise InvalidInputError("relations names no table; expected some of " + ", ".join(sorted(known)))
    relations = tuple(_relation(name, spec, known) for name, spec in relations_in.items())
    srs = _srs(inputs.get("srs"), relations)
    return Plan(relations, fmt, srs, bool(inputs.get("append", False)), str(compression or "") or None, lifetime_h)


def _relation(name: str, spec: object, known: Mapping[str, tuple[Layer, int]]) -> Relation:
    if name not in known:
        raise InvalidInputError(
            f"relations: unknown table {name!r}; expected one of {', '.join(sorted(n for n in known if n.islower()))}"
        )
    layer, epsg = known[name]
    listed = spec.get("attributes") if isinstance(spec, Mapping) else None
    attributes = list(dict.fromkeys(str(a) for a in listed)) if isinstance(listed, list) else []
    if not attributes:
        raise InvalidInputError(f"relations.{name}.attributes is empty: name every attribute to extract")
    unknown = [a for a in attributes if a not in layer.fields and a not in GEOMETRY_NAMES]
    if unknown:
        raise InvalidInputError(
            f"relations.{name}.attributes: unknown attribute {unknown[0]!r} of {layer.collection_id}; expected some "
            f"of {', '.join([*layer.fields, GEOMETRY_NAMES[0]])}"
        )
    text = spec.get("filters") if isinstance(spec, Mapping) else None
    where = _filter(name, str(text)) if text else None
    strangers = sorted(_attributes_of(where) - {*layer.fields, *GEOMETRY_NAMES})
    if strangers:
        raise InvalidInputError(
            f"relations.{name}.filters: unknown attribute {strangers[0]!r} of {layer.collection_id}; expected some "
            f"of {', '.join([*layer.fields, GEOMETRY_NAMES[0]])}"
        )
    kept = tuple(a for a in attributes if a not in GEOMETRY_NAMES)
    return Relation(name, layer, epsg, kept, len(kept) < len(attributes), str(text) if text else None, where)


def _filter(name: str, text: str) -> ast.Node:
    try:
        return parse_filter(text, TEXT)
    except InvalidInputError as err:
        if _POSTGIS_SQL.search(text):
            raise InvalidInputError(
                f"relations.{name}.filters is PostGIS SQL, which this server does not run: write it in CQL2 text "
                "(e.g. S_INTERSECTS(geometry, POLYGON((...))) AND code_cs = 'CS1.1.1.1', coordinates in CRS84 "
                f"longitude, latitude); the CQL2 parser said: {err}"
            ) from err
        raise InvalidInputError(f"relations.{name}.filters is not CQL2 text: {err}") from err


def _attributes_of(node: object) -> set[str]:
    """The attribute names a parsed filter reads (walked without recursion)."""
    names: set[str] = set()
    stack = [node]
    while stack:
        item = stack.pop()
        if isinstance(item, ast.Attribute):
            names.add(item.name)
        elif isinstance(item, list | tuple):
            stack.extend(item)
        elif is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, f.name) for f in fields(item))
    return names


def _srs(value: object, relations: tuple[Relation, ...]) -> int | None:
    """The EPSG code asked (``EPSG:3857``, an OGC URI), if every table offers it: its own CRS, WGS 84 or Web
    Mercator (a Lambert-93 table is not offered in a CRS of the overseas territories, nor the reverse)."""
    if value in (None, ""):
        return None
    try:
        crs = pyproj.CRS.from_user_input(ogc_uri(str(value)))  # IGNF:LAMB93 too, as crs= and territoire take it
    except (pyproj.exceptions.CRSError, ValueError) as err:
        raise InvalidInputError(f"srs {value!r} is not a CRS: {err}") from err
    epsg = WGS84_EPSG if crs.equals(pyproj.CRS("OGC:CRS84")) else crs.to_epsg()
    for relation in relations:
        offered = (relation.epsg, WGS84_EPSG, WEB_MERCATOR_EPSG)
        if epsg not in offered:
            raise InvalidInputError(
                f"srs {value!r} is not offered for table {relation.name!r}; expected one of "
                + ", ".join(f"EPSG:{code}" for code in offered)
            )
    return epsg


def extract(
    store: FeatureStore,
    request: Plan,
    folder: Path,
    prepare: Callable[[ast.Node, int], ast.Node],
    report: Report,
) -> Extraction:
    """Write the extraction into ``folder``; ``prepare(where, epsg)`` moves a filter's geometries from CRS84 to
    the table's CRS (the server's reprojection of filters), ``report`` gets progress."""
    started = datetime.now(UTC)
    suffix = FORMATS[request.format][1]
    written: list[Path] = []
    tables: list[dict[str, object]] = []
    logs = [f"{started:%Y-%m-%dT%H:%M:%SZ} extraction of {len(request.relations)} table(s) to {request.format}"]
    for index, relation in enumerate(request.relations):
        report(int(80 * index / len(request.relations)), f"extracting {relation.name}")
        frame = _read(store, relation, request.srs, prepare)
        stem = "extraction" if request.append and request.format == "GPKG" else relation.name
        path = folder / f"{stem}{suffix}"
        _write(frame, path, request.format, relation.name)
        if path not in written:
            written.append(path)
        tables.append(
            {
                "table": relation.name,
                "collection": relation.layer.collection_id,
                "attributes": [*relation.attributes, *(["geometry"] if relation.geometry else [])],
                "filters": relation.filter_text,
                "features": len(frame),
            }
        )
        logs.append(f"{datetime.now(UTC):%Y-%m-%dT%H:%M:%SZ} {relation.name}: {len(frame)} features")
    report(85, "packing the files")
    files = _pack(written, folder, request)
    finished = datetime.now(UTC)
    logs.append(f"{finished:%Y-%m-%dT%H:%M:%SZ} done: {', '.join(path.name for path in files)}")
    summary = {
        "started": started.isoformat(),
        "finished": finished.isoformat(),
        "format": request.format,
        "srs": f"EPSG:{request.srs}" if request.srs else None,
        "append": request.append,
        "compression": request.compression,
        "lifetime": request.lifetime_h,
        "tables": tables,
        "files": [{"name": path.name, "size": path.stat().st_size} for path in files],
    }
    return Extraction(files, summary, logs)


def _read(
    store: FeatureStore, relation: Relation, srs: int | None, prepare: Callable[[ast.Node, int], ast.Node]
) -> pd.DataFrame:
    """The relation's features, its attributes in the order asked, typed as the layer declares them."""
    epsg = srs or relation.epsg
    # EPSG:4326 is read as CRS84 (longitude first, as files store it) and labelled EPSG:4326.
    out_crs = pyproj.CRS("OGC:CRS84") if epsg == WGS84_EPSG else pyproj.CRS.from_epsg(epsg)
    where = prepare(relation.where, relation.epsg) if relation.where is not None else None
    query = FeatureQuery(
        where=where,
        properties=relation.attributes,
        skip_geometry=not relation.geometry,
        limit=PAGE,
        out_crs=out_crs,
        count_cap=0,
    )
    values: dict[str, list[object]] = {name: [] for name in relation.attributes}
    geometries: list[np.ndarray[Any, np.dtype[np.object_]]] = []
    while True:
        page = store.query(relation.layer, relation.epsg, query)
        for name, column in values.items():
            column.extend(feature["properties"].get(name) for feature in page.features)
        if relation.geometry:
            geometries.append(_geometries(page.features))
        if len(page.features) < PAGE or page.last_key is None:
            break
        query = replace(query, after=page.last_key)
    kinds = relation.layer.fields
    frame = pd.DataFrame({name: pd.Series(column, dtype=PANDAS_TYPES[kinds[name]]) for name, column in values.items()})
    if not relation.geometry:
        return frame
    return gpd.GeoDataFrame(frame, geometry=gpd.GeoSeries(np.concatenate(geometries), crs=f"EPSG:{epsg}").values)


# Any: GeoJSON features as the store gives them
def _geometries(features: list[dict[str, Any]]) -> np.ndarray[Any, np.dtype[np.object_]]:
    """The features' geometries, read by GEOS in one vectorised call, page by page so that the GeoJSON dictionaries
    of one page only are alive at a time (``shapely.geometry.shape`` per feature took 60 % of an extraction's
    time)."""
    texts = np.array([orjson.dumps(f["geometry"]) if f["geometry"] else None for f in features], dtype=object)
    return shapely.from_geojson(texts) if len(texts) else np.array([], dtype=object)


def _write(frame: pd.DataFrame, path: Path, fmt: str, layer: str) -> None:
    driver = FORMATS[fmt][0]
    if driver == "parquet":
        frame.to_parquet(path, index=False)  # GeoParquet metadata when it has a geometry (geopandas)
        return
    import pyogrio

    options = {"ENCODING": "UTF-8"} if driver == "ESRI Shapefile" else {}
    pyogrio.write_dataframe(frame, path, layer=layer, driver=driver, layer_options=options or None)


def _pack(files: list[Path], folder: Path, request: Plan) -> list[Path]:
    """The files served: a shapefile's parts zipped together; every file in one archive when compressed."""
    parts = [part for path in files for part in _parts(path)]
    if request.compression == "7zip":
        import py7zr

        archive = folder / "extraction.7z"
        with py7zr.SevenZipFile(archive, "w") as seven:
            for part in parts:
                seven.write(part, part.name)
        return [archive]
    if request.compression == "zip" or FORMATS[request.format][0] == "ESRI Shapefile":
        archive = folder / ("extraction.shp.zip" if request.compression is None else "extraction.zip")
        with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as package:
            for part in parts:
                package.write(part, part.name)
        return [archive]
    return parts


def _parts(path: Path) -> list[Path]:
    """A file and, for a shapefile, its sidecars (.shx, .dbf, .prj, .cpg)."""
    if path.suffix != ".shp":
        return [path]
    return sorted(p for p in path.parent.glob(f"{path.stem}.*") if p.suffix in (".shp", ".shx", ".dbf", ".prj", ".cpg"))
