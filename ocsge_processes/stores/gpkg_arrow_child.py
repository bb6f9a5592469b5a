"""The reader process of ``gpkg_arrow_reader``: GDAL's Arrow stream of one GeoPackage table, sent as Arrow IPC.

It runs alone in its own process because GDAL links its own SQLite: in a process that also writes the file through
Python's sqlite3, closing one library's file descriptor drops the other's POSIX locks, which once corrupted the
store. Here GDAL is the only SQLite, so its locks (and WAL read marks) hold as in any other reader process. GDAL
opens the file read-only (``SQLITE_OPEN_READONLY``: no journal, no checkpoint, the WAL is never deleted on close);
never ``IMMUTABLE=YES``, which would read without locks and ignore the WAL, that is miss or tear a commit.

Request: one JSON argument ``{"path", "table", "columns", "where"}``. Output on stdout: an Arrow IPC stream of the
columns, then the WKB (``wkb``), then the fid (``fid``), batch by batch as GDAL yields them. Imports only pyogrio and
pyarrow, so that it starts quickly.
"""

from __future__ import annotations

import json
import sys

import pyarrow as pa
import pyogrio

#: Rows an Arrow batch holds: large enough that the per-batch cost vanishes, small enough to stream.
BATCH_ROWS = 65_536


def main() -> None:
    """Stream the request's rows to stdout."""
    request = json.loads(sys.argv[1])
    columns: list[str] = request["columns"]
    with pyogrio.open_arrow(
        request["path"],
        layer=request["table"],
        columns=columns,
        where=request["where"],
        return_fids=True,
        batch_size=BATCH_ROWS,
        use_pyarrow=True,
    ) as (meta, reader):
        source = reader.schema
        geometry = meta["geometry_name"] or "wkb_geometry"
        picked = [source.get_field_index(name) for name in [*columns, geometry, meta["fid_column"] or "OGC_FID"]]
        schema = (
            pa.schema([source.field(i) for i in picked[:-2]])
            .append(pa.field("wkb", pa.binary()))
            .append(pa.field("fid", pa.int64()))
        )
        with pa.ipc.new_stream(sys.stdout.buffer, schema) as out:
            for batch in reader:
                arrays = [batch.column(i) for i in picked]
                arrays[-2] = arrays[-2].cast(pa.binary())
                arrays[-1] = arrays[-1].cast(pa.int64())
                out.write_batch(pa.RecordBatch.from_arrays(arrays, schema=schema))


if __name__ == "__main__":
    main()
