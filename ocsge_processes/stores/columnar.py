"""Whole layers read as columns: a département's polygons without a Python step per row.

``read_frame`` feeds the artificialisation workflow millions of polygons. Reading them row by row (one tuple per
row from sqlite3 or psycopg, one header slice per geometry) cost about 15 µs a polygon; here the rows arrive as
arrays (GDAL's Arrow stream for a GeoPackage, one array per column and chunk for PostGIS), the WKB of a whole array
is parsed by ``shapely.from_wkb`` on all cores, and a text column that repeats few values (codes, département)
builds each distinct string once. The frames equal those the row-by-row reader built: same columns, dtypes
(``base.PANDAS_TYPES``), row order (by store key), nulls, geometries and CRS.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyogrio
import shapely

from ..errors import InvalidInputError
from ..layers import Layer
from ..parallel import threaded
from .base import PANDAS_TYPES
from .timeout import QueryTimeoutError, query_timeout

#: Rows per Arrow batch: the time limit is checked between batches, so one batch must take well under a second.
BATCH_ROWS = 65_536
#: A text column with fewer distinct values than this share of its rows converts each distinct value once.
_REPEATED_SHARE = 0.5
#: Arrow type of each kind of layer field.
_ARROW_TYPES = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}


def gpkg_frame(path: Path, table: str, layer: Layer, epsg: int, where: str, deadline: float | None) -> gpd.GeoDataFrame:
    """The rows of ``table`` meeting the SQLite condition ``where``, through GDAL's Arrow stream, by fid.

    ``deadline`` (``time.monotonic``, None: no limit) is checked between batches, so the store's time limit holds.
    """
    names = list(layer.fields)
    with pyogrio.raw.open_arrow(
        path, layer=table, columns=names, where=where, batch_size=BATCH_ROWS, return_fids=True, use_pyarrow=True
    ) as (meta, reader):
        batches = []
        for batch in reader:
            if deadline is not None and time.monotonic() > deadline:
                raise QueryTimeoutError(query_timeout() or 0)
            batches.append(batch)
        rows = pa.Table.from_batches(batches, schema=reader.schema)
    fids = rows.column(meta["fid_column"] or "OGC_FID").to_numpy()
    if len(fids) > 1 and not bool(np.all(fids[1:] > fids[:-1])):
        rows = rows.take(np.argsort(fids, kind="stable"))
    columns = {name: rows.column(name) for name in names}
    return frame(layer, epsg, columns, rows.column(meta["geometry_name"]))


def sqlite_inline(sql: str, params: Sequence[object]) -> str:
    """``sql`` with each ``?`` replaced by its parameter as an SQLite literal (GDAL's filter takes no parameters).

    A float becomes an exact quotient of integers, not a decimal SQLite would round again, so a box edge compares
    exactly as the bound parameter did.
    """
    pieces = sql.split("?")
    if len(pieces) != len(params) + 1:
        raise ValueError(f"{len(pieces) - 1} placeholders for {len(params)} parameters in {sql!r}")
    out = [pieces[0]]
    for value, piece in zip(params, pieces[1:], strict=True):
        out.extend([_literal(value), piece])
    return "".join(out)


def _literal(value: object) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool | int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        numerator, denominator = float(value).as_integer_ratio()
        if denominator == 1 or denominator > 2**62:
            return repr(float(value)) if denominator > 2**62 else f"{numerator}.0"
        return f"({numerator}.0 / {denominator})"
    if isinstance(value, str):
        if "\x00" in value:  # GDAL takes the filter as a C string: a NUL would cut it short
            raise InvalidInputError(f"a text value with a NUL character cannot be looked up: {value!r}")
        return "'" + value.replace("'", "''") + "'"
    if isinstance(value, bytes):
        return f"X'{value.hex()}'"
    raise TypeError(f"no SQLite literal for {type(value).__name__} {value!r}")


def frame_from_rows(layer: Layer, epsg: int, rows: Sequence[Sequence[object]]) -> gpd.GeoDataFrame:
    """The frame of rows holding every field of ``layer`` then the WKB, turned into columns by C loops alone."""
    names = list(layer.fields)
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in range(len(names) + 1)]
    arrow = {name: pa.array(columns[i], type=_ARROW_TYPES[kind]) for i, (name, kind) in enumerate(layer.fields.items())}
    return frame(layer, epsg, arrow, pa.array(columns[-1], type=pa.binary()))


def frame(
    layer: Layer, epsg: int, columns: Mapping[str, pa.ChunkedArray | pa.Array], wkb: pa.ChunkedArray | pa.Array
) -> gpd.GeoDataFrame:
    """A GeoDataFrame typed as ``base.PANDAS_TYPES`` says, from Arrow columns and a column of WKB."""
    data = {name: _pandas(columns[name], kind) for name, kind in layer.fields.items()}
    result = gpd.GeoDataFrame(data, geometry=geometries(wkb.to_numpy(zero_copy_only=False)), crs=f"EPSG:{epsg}")
    return result.astype({name: PANDAS_TYPES[kind] for name, kind in layer.fields.items()})  # already so: a check


def geometries(wkbs: Sequence[bytes | None] | np.ndarray) -> np.ndarray:
    """Shapely geometries of a whole array of WKB (None stays None), parsed on every core."""
    array = np.asarray(wkbs, dtype=object)
    if len(array) == 0:
        return np.empty(0, dtype=object)
    parsed: np.ndarray = threaded(shapely.from_wkb, array)
    return parsed


def _pandas(column: pa.ChunkedArray | pa.Array, kind: str) -> np.ndarray | pd.api.extensions.ExtensionArray | pd.Series:
    """One column as ``base.PANDAS_TYPES`` types it: object strings, Int64, float64 or boolean, NA where null."""
    if kind in ("integer", "boolean"):
        nullable = pd.Int64Dtype() if kind == "integer" else pd.BooleanDtype()
        target = pa.int64() if kind == "integer" else pa.bool_()
        series: pd.Series = column.cast(target).to_pandas(types_mapper=lambda _: nullable)
        return series
    if kind == "number":
        values: np.ndarray = column.cast(pa.float64()).to_numpy(zero_copy_only=False)
        return values
    return _strings(column.cast(pa.string()))


def _strings(column: pa.ChunkedArray | pa.Array) -> pd.Series:
    """Python strings, an object column; a value repeated over many rows is one shared object, built once.

    Nulls are NaN, or None in a column with no value at all, as pandas' own ``astype(object)`` leaves them.
    """
    array = column.combine_chunks() if isinstance(column, pa.ChunkedArray) else column
    missing = np.nan if array.null_count < len(array) else None
    encoded = array.dictionary_encode()
    if len(encoded.dictionary) > _REPEATED_SHARE * len(array):
        strings = array.to_numpy(zero_copy_only=False)
        if array.null_count and missing is not None:
            strings[array.is_null().to_numpy(zero_copy_only=False)] = missing
        return pd.Series(strings, dtype=object, copy=False)
    values = np.empty(len(encoded.dictionary) + 1, dtype=object)
    values[:-1], values[-1] = encoded.dictionary.to_numpy(zero_copy_only=False), missing
    indices = encoded.indices.fill_null(len(encoded.dictionary)).to_numpy()
    return pd.Series(values[indices], dtype=object, copy=False)
