"""Each process's published example (``example`` in ``GET /processes/{id}``), executed as a client would copy it,
answers every output its description lists with the described media type.

The segmentation example takes its ortho from the configured WMS (``OCSGE_ORTHO_WMS``): here Debian's MapServer
serving the real Montpellier patch under the Géoplateforme's layer names, as a deployment's would.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

import pytest
import rasterio
import requests

from deploy.services import web_server
from tests import services

from ..conftest import BIN, SHARED

ORTHO = SHARED / "montpellier-ortho-lidar" / "ortho"
PROCESSES = ["artificialisation", "segmentation"]


@pytest.fixture(scope="module")
def example_server(tmp_path_factory: pytest.TempPathFactory, store_url: str) -> Iterator[str]:
    """A live server on the demo store whose ortho WMS is a local MapServer."""
    layers = {
        "ORTHOIMAGERY.ORTHOPHOTOS": ORTHO / "test_data_rgb.tif",
        "ORTHOIMAGERY.ORTHOPHOTOS.IRC": ORTHO / "test_data_irc.tif",
    }
    with (
        services.mapserver(layers) as wms,
        web_server(
            store_url,
            tmp_path_factory.mktemp("examples-server"),
            BIN,
            OCSGE_DATA_DIR=str(SHARED),
            OCSGE_TRUSTED_HOSTS="localhost",
            OCSGE_ORTHO_WMS=wms,
        ) as url,
    ):
        yield url


def check_output(media_type: str, schema_type: str, response: requests.Response) -> None:
    """The answer is what the description says: its media type, and a document that media type can read."""
    assert response.status_code == 200, response.text[:500]
    assert response.headers["Content-Type"].split(";")[0] == media_type.split(";")[0], response.headers
    if schema_type == "object":
        document = json.loads(response.content)
        assert isinstance(document, dict) and document
        if media_type == "application/geo+json":
            assert document["type"] == "FeatureCollection" and document["features"]
    elif media_type == "text/csv":
        rows = list(csv.DictReader(io.StringIO(response.text)))
        assert rows and "code" in rows[0]
    else:
        with rasterio.MemoryFile(response.content) as memory, memory.open() as raster:
            assert raster.driver == "GTiff" and raster.count >= 1


@pytest.mark.parametrize("store_url", ["gpkg"], indirect=True)
@pytest.mark.parametrize("process", PROCESSES)
def test_published_example_gives_every_described_output(example_server: str, process: str) -> None:
    description = requests.get(f"{example_server}/processes/{process}", params={"f": "json"}, timeout=30).json()
    example = description["example"]
    outputs = description["outputs"]
    default = requests.post(f"{example_server}/processes/{process}/execution", json=example, timeout=300)
    assert default.status_code == 200, default.text[:500]
    assert default.headers["Content-Type"].split(";")[0] in {o["schema"]["contentMediaType"] for o in outputs.values()}
    for name, output in outputs.items():
        response = requests.post(
            f"{example_server}/processes/{process}/execution",
            json={**example, "outputs": {name: {}}},
            timeout=300,
        )
        check_output(output["schema"]["contentMediaType"], output["schema"]["type"], response)
