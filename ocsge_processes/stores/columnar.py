"""Whole layers turned into frames without a Python step per row.

``read_frame`` feeds the artificialisation workflow millions of polygons. The rows still come from the database
driver (sqlite3, psycopg in binary), whose C code builds them; from there everything runs on whole columns: each
column becomes an Arrow array in one call, the WKB of a whole column is parsed by ``shapely.from_wkb`` on all cores,
and a text column that repeats few values (codes, département) builds each distinct string once. (A large
GeoPackage read comes instead as GDAL's Arrow columns from a reader process, ``gpkg_arrow_reader``: GDAL brings its
own SQLite, and two SQLite libraries in one process do not see each other's locks.) The frames equal those the
row-by-row reader built: same columns, dtypes (``base.PANDAS_TYPES``), row order (by store key), nulls,
geometries and CRS.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import shapely

from ..layers import Layer
from ..parallel import threaded
from .base import PANDAS_TYPES

#: A text column with fewer distinct values than this share of its rows converts each distinct value once.
_REPEATED_SHARE = 0.5
#: Arrow type of each kind of layer field.
_ARROW_TYPES = {"string": pa.string(), "integer": pa.int64(), "number": pa.float64(), "boolean": pa.bool_()}


def frame_from_rows(layer: Layer, epsg: int, rows: Sequence[Sequence[object]]) -> gpd.GeoDataFrame:
    """The frame of rows holding every field of ``layer`` then the WKB, turned into columns by C loops alone."""
    names = list(layer.fields)
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in range(len(names) + 1)]
    arrow = {name: _arrow(columns[i], kind) for i, (name, kind) in enumerate(layer.fields.items())}
    return frame(layer, epsg, arrow, geometries(columns[-1]))


def _arrow(values: Sequence[object], kind: str) -> pa.Array:
    """One column as an Arrow array; SQLite gives a GeoPackage BOOLEAN back as the integers 0 and 1."""
    try:
        return pa.array(values, type=_ARROW_TYPES[kind])
    except pa.ArrowInvalid:
        if kind != "boolean":
            raise
        return pa.array(values, type=pa.int64()).cast(pa.bool_())


def frame(
    layer: Layer, epsg: int, columns: Mapping[str, pa.ChunkedArray | pa.Array], shapes: np.ndarray
) -> gpd.GeoDataFrame:
    """A GeoDataFrame typed as ``base.PANDAS_TYPES`` says, from Arrow columns and their rows' geometries."""
    data = {name: _pandas(columns[name], kind) for name, kind in layer.fields.items()}
    result = gpd.GeoDataFrame(data, geometry=shapes, crs=f"EPSG:{epsg}")
    return result.astype({name: PANDAS_TYPES[kind] for name, kind in layer.fields.items()})  # already so: a check


def geometries(wkbs: Sequence[bytes | None] | np.ndarray) -> np.ndarray:
    """Shapely geometries of a whole array of WKB (None stays None), parsed on every core."""
    array = np.asarray(wkbs, dtype=object)
    if len(array) == 0:
        return np.empty(0, dtype=object)
    parsed: np.ndarray = threaded(shapely.from_wkb, array)
    return parsed


def streamed(
    batches: pa.RecordBatchReader, wkb: str, keep: Callable[[np.ndarray], np.ndarray] | None = None
) -> tuple[pa.Table, np.ndarray]:
    """The table ``batches`` streams and the geometries of its column ``wkb``; with ``keep``, only the rows whose
    geometries it says to keep (a boolean per geometry).

    Each batch is parsed (and kept) in a thread as soon as it arrives, while the reader (a GDAL process,
    PostgreSQL) produces the next: that work then costs no wall time of its own as long as it keeps up.
    """
    with ThreadPoolExecutor(1, thread_name_prefix="ocsge-wkb") as parser:
        parts = [parser.submit(_parse, batch, wkb, keep) for batch in batches]
        parsed = [part.result() for part in parts]
    table = pa.Table.from_batches([batch for batch, _ in parsed], schema=batches.schema)
    shapes = np.concatenate([shapes for _, shapes in parsed]) if parsed else np.empty(0, dtype=object)
    return table, shapes


def _parse(
    batch: pa.RecordBatch, wkb: str, keep: Callable[[np.ndarray], np.ndarray] | None
) -> tuple[pa.RecordBatch, np.ndarray]:
    """One batch's geometries, and the batch, on one thread: the reader holds the other core meanwhile."""
    shapes: np.ndarray = shapely.from_wkb(batch.column(wkb).to_numpy(zero_copy_only=False))
    if keep is None:
        return batch, shapes
    kept = keep(shapes)
    return (batch, shapes) if kept.all() else (batch.filter(pa.array(kept)), shapes[kept])


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
