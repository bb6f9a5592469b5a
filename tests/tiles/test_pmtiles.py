"""`ocsge tiles export --format pmtiles`: archives read back with GDAL's PMTiles driver (pyogrio's bundled GDAL;
Debian's GDAL 3.6 has none) hold, tile by tile, the features and attributes the server's tiles hold; MapLibre in
Chromium draws them in the couverture palette through the pmtiles protocol, with range requests to a static
server; the header and directories follow the PMTiles v3 spec (leaf directories included); refusals say what is
wrong."""

from __future__ import annotations

import contextlib
import gzip
import itertools
import json
import random
import shutil
import string
import struct
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyogrio
import pyproj
import pytest
import shapely
from playwright.sync_api import sync_playwright
from werkzeug.serving import make_server
from werkzeug.utils import send_from_directory
from werkzeug.wrappers import Request, Response

from ocsge_processes import styles
from ocsge_processes.layers import OCCUPATION_SOL
from ocsge_processes.stores import open_store
from ocsge_processes.tiles import tile_bounds
from ocsge_processes.tiles.decode import decode
from ocsge_processes.tiles.mvt import encode_layer
from ocsge_processes.tiles.pmtiles import ArchiveWriter, tile_id, tiles_covering
from ocsge_processes.tiles.pyramid import served_tile

from ..conftest import ROOT, ocsge
from ..web.conftest import CHROMIUM, CHROMIUM_ARGS, palette_pixels, screenshot

ZOOMS = range(11, 14)
MILLESIME = 2024
#: The header as the spec lays it out (127 bytes, little-endian).
HEADER = struct.Struct("<7sB8Q3Q6B4iB2i")


@pytest.fixture(scope="module")
def archive(store_url: str, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("pmtiles") / "occupation.pmtiles"
    zooms = f"{ZOOMS.start}-{ZOOMS.stop - 1}"
    result = ocsge(
        "tiles", "export", "--store", store_url, "--collection", OCCUPATION_SOL.collection_id,
        "--millesime", str(MILLESIME), "--zooms", zooms, "--format", "pmtiles", str(out),
    )  # fmt: skip
    assert f"{out}:" in result.stdout, result.stdout
    return out


def header(path: Path) -> dict[str, object]:
    names = [
        "magic", "version", "root_offset", "root_length", "metadata_offset", "metadata_length", "leaf_offset",
        "leaf_length", "data_offset", "data_length", "addressed", "entries", "contents", "clustered",
        "internal_compression", "tile_compression", "tile_type", "min_zoom", "max_zoom", "west", "south", "east",
        "north", "center_zoom", "center_lon", "center_lat",
    ]  # fmt: skip
    return dict(zip(names, HEADER.unpack(path.read_bytes()[: HEADER.size]), strict=True))


def test_tile_ids_follow_the_spec_hilbert_order() -> None:
    # The spec's examples: zoom 0 is id 0, zoom 1 runs (0,0), (0,1), (1,1), (1,0), zoom 2 starts at 5.
    assert [tile_id(0, 0, 0), tile_id(1, 0, 0), tile_id(1, 0, 1), tile_id(1, 1, 1), tile_id(1, 1, 0)] == [0, 1, 2, 3, 4]
    assert tile_id(2, 0, 0) == 5 and tile_id(12, 0, 0) == (4**12 - 1) // 3
    ids = sorted(tile_id(8, x, y) for x in range(256) for y in range(256))
    assert ids == list(range(tile_id(8, 0, 0), tile_id(8, 0, 0) + 65536))  # a bijection onto the zoom's ids
    # Consecutive ids are neighbouring tiles: the curve is continuous.
    by_id = {tile_id(5, x, y): (x, y) for x in range(32) for y in range(32)}
    path = [by_id[i] for i in sorted(by_id)]
    steps = {abs(a[0] - b[0]) + abs(a[1] - b[1]) for a, b in itertools.pairwise(path)}
    assert steps == {1}


def test_gdal_reads_per_tile_the_features_and_attributes_the_server_serves(archive: Path, store_url: str) -> None:
    store = open_store(store_url)
    info = pyogrio.read_info(archive)
    assert info["driver"] == "PMTiles" and info["layer_name"] == OCCUPATION_SOL.collection_id
    assert pyogrio.list_layers(archive)[:, 0].tolist() == [OCCUPATION_SOL.collection_id]
    metadata = info["dataset_metadata"]
    assert metadata["attribution"] == "© IGN — OCS GE"
    assert "GÉNÉRÉES" in metadata["description"]  # the 2024 millésime of the test store is generated
    compared = 0
    for z in ZOOMS:
        # CLIP=NO: each tile's features as encoded, buffer included; GDAL's FID packs the tile (x + y << z) under
        # the feature's index in the tile (<< 2z).
        frame = pyogrio.read_dataframe(archive, fid_as_index=True, ZOOM_LEVEL=str(z), CLIP="NO")
        fids = frame.index.to_numpy()
        tile_of = fids & ((1 << 2 * z) - 1)
        served = 0
        for x, y in tiles_covering(extent_lonlat(store_url), z):
            features = decode(served_tile(store, OCCUPATION_SOL, 2154, z, x, y, {"millesime": MILLESIME}))
            expected = features[OCCUPATION_SOL.collection_id].features if features else []
            read = frame[tile_of == (x | y << z)]
            assert len(read) == len(expected), (z, x, y)
            assert Counter(zip(read.id, read.code_cs, read.code_us, read.millesime, strict=True)) == Counter(
                (f.properties["id"], f.properties["code_cs"], f.properties["code_us"], f.properties["millesime"])
                for f in expected
            ), (z, x, y)
            if expected:  # the same shapes: GDAL's in Web Mercator, ours in tile units
                minx, _, maxx, _ = tile_bounds(z, x, y)
                scale = (maxx - minx) / 4096
                ours = sum(f.geometry.area for f in expected) * scale**2
                assert shapely.area(read.geometry.to_numpy()).sum() == pytest.approx(ours, rel=1e-9)
            served += len(expected)
        assert served == len(frame) > 0, z
        compared += served
    assert compared > 1000


def extent_lonlat(store_url: str) -> tuple[float, float, float, float]:
    """The layer's stored extent in degrees (west, south, east, north)."""
    extent = open_store(store_url).extent(OCCUPATION_SOL, 2154)
    assert extent is not None
    return pyproj.Transformer.from_crs(2154, "OGC:CRS84", always_xy=True).transform_bounds(*extent, densify_pts=21)


def test_header_and_metadata_follow_the_spec(archive: Path, store_url: str) -> None:
    head = header(archive)
    assert head["magic"] == b"PMTiles" and head["version"] == 3
    assert (head["min_zoom"], head["max_zoom"]) == (ZOOMS.start, ZOOMS.stop - 1)
    assert head["clustered"] == 1 and head["tile_type"] == 1  # MVT
    assert head["internal_compression"] == head["tile_compression"] == 2  # gzip
    assert head["root_offset"] == 127 and head["root_offset"] + head["root_length"] <= 16384
    assert head["data_offset"] + head["data_length"] == archive.stat().st_size
    assert head["contents"] <= head["entries"] <= head["addressed"]
    assert head["west"] < head["center_lon"] < head["east"] and head["south"] < head["center_lat"] < head["north"]
    assert head["center_zoom"] in ZOOMS
    data = archive.read_bytes()
    start = head["metadata_offset"]
    metadata = json.loads(gzip.decompress(data[start : start + head["metadata_length"]]))
    (layer,) = metadata["vector_layers"]
    assert layer["id"] == OCCUPATION_SOL.collection_id
    assert layer["fields"] == {"id": "String", "code_cs": "String", "code_us": "String", "millesime": "Number"}
    assert (metadata["minzoom"], metadata["maxzoom"]) == (ZOOMS.start, ZOOMS.stop - 1)
    assert metadata["ocsge:filters"] == {"millesime": MILLESIME}
    # The Lambert-93 extent of the layer, in degrees, lies inside the header's bounds (lon/lat × 10⁷).
    corners = np.array([head["west"], head["south"], head["east"], head["north"]]) / 1e7
    assert np.allclose(corners, extent_lonlat(store_url), atol=1e-7)  # the header's precision


@pytest.mark.slow  # encodes 16 384 tiles
def test_an_archive_of_many_tiles_uses_leaf_directories_that_gdal_follows(tmp_path: Path) -> None:
    # 16 384 tiles of zoom 7 with contents of random lengths (random letters: gzip cannot even them out), whose
    # directory does not fit in the first 16 KiB.
    rng = random.Random(7)
    z, path = 7, tmp_path / "many.pmtiles"
    with (tmp_path / "data").open("w+b") as data:
        writer = ArchiveWriter(data)
        tiles = sorted(((x, y) for x in range(128) for y in range(128)), key=lambda t: tile_id(z, *t))
        for x, y in tiles:
            bounds = tile_bounds(z, x, y)
            square = shapely.box(*bounds).buffer(-(bounds[2] - bounds[0]) / 4)
            pad = "".join(rng.choices(string.ascii_letters, k=rng.randrange(1, 3000)))
            writer.add(z, x, y, encode_layer("squares", [square], [{"x": x, "y": y, "pad": pad}], bounds))
        writer.write(path, {"vector_layers": [{"id": "squares", "fields": {"x": "Number", "y": "Number"}}]},
                     (-180.0, -85.0, 180.0, 85.0), range(z, z + 1))  # fmt: skip
    head = header(path)
    assert head["leaf_length"] > 0 and head["root_length"] <= 16384 - 127
    assert head["entries"] == head["contents"] == 16384
    # Tiles at both ends of the id order (first and last leaf) come back with their own attributes.
    for x, y in (tiles[0], tiles[-1], tiles[8000]):
        minx, miny, maxx, maxy = tile_bounds(z, x, y)
        frame = pyogrio.read_dataframe(path, bbox=(minx + 1, miny + 1, maxx - 1, maxy - 1), ZOOM_LEVEL=str(z))
        assert frame[["x", "y"]].astype(int).values.tolist() == [[x, y]]


def test_export_refuses_to_overwrite_unless_told(archive: Path, store_url: str) -> None:
    before = archive.read_bytes()
    args = ["tiles", "export", "--store", store_url, "--collection", OCCUPATION_SOL.collection_id, "--zooms", "13"]
    refused = ocsge(*args, str(archive), check=False)
    assert refused.returncode != 0 and "already exists" in refused.stderr and "--overwrite" in refused.stderr
    assert archive.read_bytes() == before
    replaced = archive.with_name("replaced.pmtiles")
    replaced.write_bytes(before)
    ocsge(*args, "--overwrite", str(replaced))
    assert header(replaced)["min_zoom"] == header(replaced)["max_zoom"] == 13
    assert not list(archive.parent.glob(".*"))  # no temporary file left beside the archives


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (["--collection", "ocsge-nothing"], "unknown collection 'ocsge-nothing'"),
        (["--collection", OCCUPATION_SOL.collection_id, "--millesime", "1999"], "millesime = 1999; held: 2021, 2024"),
        (["--collection", "artificialisation-communes", "--millesime", "2024"], "has no millesime field"),
        (["--collection", OCCUPATION_SOL.collection_id, "--zooms", "12-9"], "zooms '12-9'"),
        (["--collection", OCCUPATION_SOL.collection_id, "--zooms", "17"], "zooms run from 0 to 16"),
        (["--collection", OCCUPATION_SOL.collection_id, "--format", "mbtiles"], "Invalid value for '--format'"),
    ],
)
def test_export_errors_say_what_is_wrong_and_write_nothing(
    store_url: str, tmp_path: Path, options: list[str], message: str
) -> None:
    out = tmp_path / "refused.pmtiles"
    result = ocsge("tiles", "export", "--store", store_url, *options, str(out), check=False)
    assert result.returncode != 0 and message in result.stderr, result.stderr
    assert not list(tmp_path.iterdir())


#: The browser side: MapLibre as the web pages bundle it, and the pmtiles protocol (web/package.json devDependency).
MAPLIBRE_DIST = ROOT / "web" / "node_modules" / "maplibre-gl" / "dist"
PMTILES_JS = ROOT / "web" / "node_modules" / "pmtiles" / "dist" / "pmtiles.js"
PAGE = """<!doctype html><html><head><meta charset="utf-8"><link rel="stylesheet" href="maplibre-gl.css">
<script src="pmtiles.js"></script><style>html, body, #map { margin: 0; height: 100%; }</style></head>
<body><div id="map"></div><script type="module">
import * as maplibregl from "./maplibre-gl.mjs";
maplibregl.setWorkerUrl(new URL("maplibre-gl-worker.mjs", location.href).href);
maplibregl.addProtocol("pmtiles", new pmtiles.Protocol().tile);
const style = await (await fetch("style.json")).json();
window.archiveMap = new maplibregl.Map({ container: "map", style, center: CENTER, zoom: ZOOM });
</script></body></html>"""


@contextlib.contextmanager
def static_server(folder: Path) -> Iterator[str]:
    """A loopback HTTP server of ``folder`` that answers Range requests (206), as the static host of a map."""

    @Request.application
    def app(request: Request) -> Response:
        return send_from_directory(folder, request.path.lstrip("/"), request.environ, conditional=True)

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        thread.join()


@pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)  # the archive is the same format from either store
def test_maplibre_draws_the_archive_through_the_pmtiles_protocol(archive: Path, store_url: str, tmp_path: Path) -> None:
    if not PMTILES_JS.is_file():
        pytest.fail(f"{PMTILES_JS} is missing: `make web` installs web/package.json's devDependency pmtiles")
    site = tmp_path / "site"
    site.mkdir()
    for name in ("maplibre-gl.mjs", "maplibre-gl-worker.mjs", "maplibre-gl.css"):
        shutil.copy(MAPLIBRE_DIST / name, site / name)
    shutil.copy(PMTILES_JS, site / "pmtiles.js")
    shutil.copy(archive, site / "occupation.pmtiles")
    west, south, east, north = extent_lonlat(store_url)
    zoom = ZOOMS.stop - 1
    with static_server(site) as url:
        style = styles.build_style("couverture", url)
        for source in style["sources"].values():  # the same style, its tiles read from the archive
            source.pop("tiles")
            source["url"] = f"pmtiles://{url}/occupation.pmtiles"
        (site / "style.json").write_text(json.dumps(style), encoding="utf-8")
        center = json.dumps([-1.16, 44.65])  # Arcachon / Le Teich, inside the generated communes
        (site / "index.html").write_text(PAGE.replace("CENTER", center).replace("ZOOM", str(zoom)), encoding="utf-8")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 800, "height": 600})
            errors: list[str] = []
            page.on("pageerror", lambda error: errors.append(str(error)))
            answers: list[tuple[str, int, str | None]] = []
            page.on("response", lambda r: answers.append((r.url, r.status, r.request.headers.get("range"))))
            page.goto(f"{url}/index.html")
            # window.archiveMap, not window.map: before the module runs, window.map is the <div id="map"> itself.
            page.wait_for_function(
                "() => window.archiveMap?.loaded() && window.archiveMap.areTilesLoaded()", timeout=60_000
            )
            shot = screenshot(page, "pmtiles-maplibre-couverture")
            png = page.screenshot()
            browser.close()
    assert not errors, errors
    assert all(u.startswith(url) for u, _, _ in answers), answers  # nothing but the static server
    reads = [(status, byte_range) for u, status, byte_range in answers if u.endswith(".pmtiles")]
    assert reads and all(status == 206 and byte_range for status, byte_range in reads), reads
    assert west < -1.16 < east and south < 44.65 < north
    painted = {code for code, n in palette_pixels(png).items() if n >= 50}
    held = set(pyogrio.read_dataframe(archive, ZOOM_LEVEL=str(zoom), columns=["code_cs"]).code_cs)
    assert len(painted) >= 2 and painted <= held, (shot, painted, held)
