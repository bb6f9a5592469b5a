"""A territory from another server's collection: items read page by page through ``next`` links, bad answers
refused with the collection named; against a loopback stand-in of an OGC API Features server."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import shapely

from ocsge_processes.errors import InvalidInputError
from ocsge_processes.stores import FeatureStore, open_store
from ocsge_processes.workflows.collection_territory import territoire_of_collection

#: Two squares of 0.01° in the Gironde, one per page.
SQUARES = [shapely.box(-1.20, 44.60, -1.19, 44.61), shapely.box(-1.19, 44.60, -1.18, 44.61)]


class _Features(BaseHTTPRequestHandler):
    """``/collections/zones/items``: one square per page with a ``next`` link; ``/collections/points/items`` a
    point; ``/collections/html/items`` an HTML page. Queries are recorded."""

    queries: list[dict[str, list[str]]]

    def log_message(self, format: str, *args: object) -> None:
        return

    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        self.queries.append(query)
        base = f"http://127.0.0.1:{self.server.server_address[1]}"
        if parts.path == "/collections/zones/items":
            page = int(query.get("page", ["0"])[0])
            links = [{"rel": "next", "href": f"{base}/collections/zones/items?page=1"}] if page == 0 else []
            features = [{"type": "Feature", "properties": {}, "geometry": shapely.geometry.mapping(SQUARES[page])}]
            self._json({"type": "FeatureCollection", "features": features, "links": links})
        elif parts.path == "/collections/points/items":
            point = {"type": "Point", "coordinates": [-1.2, 44.6]}
            self._json({"type": "FeatureCollection", "features": [{"type": "Feature", "geometry": point}]})
        else:
            body = b"<html>maintenance</html>"
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    def _json(self, document: object) -> None:
        body = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/geo+json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def remote(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, list[dict[str, list[str]]]]]:
    monkeypatch.setenv("OCSGE_OUTBOUND_LOOPBACK_ONLY", "1")
    queries: list[dict[str, list[str]]] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), type("Handler", (_Features,), {"queries": queries}))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", queries
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def store(tmp_path: Path) -> FeatureStore:
    return open_store(str(tmp_path / "empty.gpkg"))


def test_pages_are_followed_and_their_polygons_joined(
    remote: tuple[str, list[dict[str, list[str]]]], store: FeatureStore
) -> None:
    base, queries = remote
    spec = {"collection": f"{base}/collections/zones", "filter": "nature = 'zone'"}
    territoire = territoire_of_collection(store, spec, "http://server.example", trusted_hosts={"127.0.0.1"})
    geometry = shapely.geometry.shape(territoire["geometry"])
    assert geometry.equals(shapely.union_all(SQUARES))
    assert queries[0]["filter"] == ["nature = 'zone'"] and queries[0]["filter-lang"] == ["cql2-text"]
    assert queries[1] == {"page": ["1"]}  # the next link as given, nothing added


def test_an_untrusted_loopback_collection_is_refused(
    remote: tuple[str, list[dict[str, list[str]]]], store: FeatureStore
) -> None:
    base, queries = remote
    with pytest.raises(InvalidInputError, match="private or local address"):
        territoire_of_collection(store, {"collection": f"{base}/collections/zones"}, "http://server.example")
    assert queries == []


@pytest.mark.parametrize(
    ("collection", "message"), [("points", "without a polygon geometry"), ("html", "the items are not JSON")]
)
def test_items_that_are_not_polygons_are_refused(
    remote: tuple[str, list[dict[str, list[str]]]], store: FeatureStore, collection: str, message: str
) -> None:
    base, _ = remote
    with pytest.raises(InvalidInputError, match=message):
        territoire_of_collection(
            store, {"collection": f"{base}/collections/{collection}"}, "http://server.example", {"127.0.0.1"}
        )
