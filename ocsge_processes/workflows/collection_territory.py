"""A territory given as an OGC API collection (Processes Part 3, collection input):
``{"collection": "<server>/collections/communes", "filter": "<CQL2 text>"}``.

This server's own ``communes`` collection is read through the store (no HTTP): the communes the filter selects
become a territory of communes, exactly as if their INSEE codes had been listed. Any other collection URL is another
server's: its ``/items`` are fetched under the outbound policy (public addresses only unless the host is trusted,
no redirects, pages and features bounded), and the union of their polygons (CRS84, as OGC API Features serves by
default) becomes a territory given by its geometry.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from urllib.parse import urlsplit

import shapely
from shapely.geometry.base import BaseGeometry

from ..errors import InvalidInputError, OcsgeError
from ..filters import TEXT, parse_filter
from ..layers import COMMUNES
from ..outbound.download import fetch
from ..stores import FeatureStore, table_name
from ..territory import territory_epsgs
from .territories import UnknownTerritoryError

#: Features read from a remote collection, all pages together: as many as communes in one territory.
MAX_FEATURES = 10_000
#: Features asked for per page of a remote collection.
PAGE_LIMIT = 1_000
#: Bytes of one remote page (a page of detailed commune contours is a few megabytes).
MAX_PAGE_BYTES = 64 << 20
_DEFAULT_PORTS = {"http": 80, "https": 443}


def territoire_of_collection(
    store: FeatureStore, spec: dict[str, object], own_url: str, trusted_hosts: Collection[str] = ()
) -> dict[str, object]:
    """The ``territoire`` input that ``spec`` (``collection``, optional ``filter`` and ``filter-lang``) stands for:
    ``{"communes": [...]}`` for this server's communes, ``{"geometry": ...}`` (CRS84) for another server's
    collection."""
    url = spec.get("collection")
    if not isinstance(url, str) or not url:
        raise InvalidInputError("territoire.collection must be the URL of an OGC API collection")
    text = spec.get("filter")
    if text is not None and not isinstance(text, str):
        raise InvalidInputError("territoire.filter must be CQL2 text")
    lang = spec.get("filter-lang", TEXT)
    if lang != TEXT:
        raise InvalidInputError(f"territoire.filter-lang {lang!r} is not supported; expected {TEXT}")
    own = _own_collection(url, own_url)
    if own is not None:
        if own != COMMUNES.collection_id:
            raise InvalidInputError(
                f"territoire.collection: only this server's {COMMUNES.collection_id} collection names a territory, "
                f"not {own}"
            )
        return {"communes": _local_codes(store, text)}
    return {"geometry": shapely.geometry.mapping(_remote_union(url.rstrip("/"), text, trusted_hosts))}


def _own_collection(url: str, own_url: str) -> str | None:
    """The id of the collection ``url`` names on this server (scheme, host and port of ``own_url``), else None."""
    theirs, ours = urlsplit(url), urlsplit(own_url.rstrip("/"))
    if _origin(theirs.scheme, theirs.hostname, theirs.port) != _origin(ours.scheme, ours.hostname, ours.port):
        return None
    prefix = f"{ours.path}/collections/"
    path = theirs.path.rstrip("/")
    if not path.startswith(prefix) or "/" in path[len(prefix) :] or theirs.query:
        raise InvalidInputError(f"territoire.collection {url!r} is not a collection of this server ({prefix}ID)")
    return path[len(prefix) :]


def _origin(scheme: str, host: str | None, port: int | None) -> tuple[str, str, int | None]:
    return scheme.lower(), (host or "").lower(), port or _DEFAULT_PORTS.get(scheme.lower())


def _local_codes(store: FeatureStore, text: str | None) -> list[str]:
    where = parse_filter(text, TEXT) if text else None
    tables = store.tables()
    codes: set[str] = set()
    for epsg in territory_epsgs():
        if table_name(COMMUNES, epsg) in tables:
            codes.update(str(code) for code in store.distinct(COMMUNES, epsg, "code_insee", where))
    if not codes:
        raise UnknownTerritoryError(f"territoire: the filter {text!r} selects no commune of this server")
    if len(codes) > MAX_FEATURES:
        raise InvalidInputError(f"territoire: the filter selects {len(codes)} communes, more than {MAX_FEATURES}")
    return sorted(codes)


def _remote_union(url: str, text: str | None, trusted_hosts: Collection[str]) -> BaseGeometry:
    """The union of the polygons of a remote collection's items matching ``text``, page after page."""
    params: dict[str, str | int] | None = {"f": "json", "limit": PAGE_LIMIT}
    if text and params is not None:
        params |= {"filter": text, "filter-lang": TEXT}
    page_url: str | None = f"{url}/items"
    geometries: list[BaseGeometry] = []
    while page_url is not None:
        try:
            body = fetch(page_url, params=params, trusted_hosts=trusted_hosts, max_bytes=MAX_PAGE_BYTES)
        except OcsgeError as err:  # refused by the policy, unreachable, an error status
            raise InvalidInputError(f"territoire.collection {url!r} cannot be read: {err}") from None
        features, page_url = _page(body, url)
        params = None  # a next link carries its own query
        geometries.extend(_polygon(feature, url) for feature in features)
        if len(geometries) > MAX_FEATURES:
            raise InvalidInputError(f"territoire.collection {url!r}: more than {MAX_FEATURES} features; filter them")
    if not geometries:
        raise UnknownTerritoryError(f"territoire: the filter {text!r} selects no feature of {url}")
    return shapely.union_all(geometries)


def _page(body: bytes, url: str) -> tuple[list[object], str | None]:
    try:
        document = json.loads(body)
    except ValueError:
        raise InvalidInputError(f"territoire.collection {url!r}: the items are not JSON") from None
    if not isinstance(document, dict) or not isinstance(document.get("features"), list):
        raise InvalidInputError(f"territoire.collection {url!r}: the items are not a GeoJSON FeatureCollection")
    links = document.get("links")
    following = next(
        (
            link.get("href")
            for link in (links if isinstance(links, list) else [])
            if isinstance(link, dict) and link.get("rel") == "next" and isinstance(link.get("href"), str)
        ),
        None,
    )
    return document["features"], following if document["features"] else None


def _polygon(feature: object, url: str) -> BaseGeometry:
    geometry = feature.get("geometry") if isinstance(feature, dict) else None
    try:
        shape = shapely.geometry.shape(geometry) if isinstance(geometry, dict) else None
    except (TypeError, ValueError, AttributeError, shapely.errors.GEOSException):
        shape = None
    if shape is None or shape.geom_type not in ("Polygon", "MultiPolygon"):
        raise InvalidInputError(f"territoire.collection {url!r}: a feature without a polygon geometry")
    return shapely.make_valid(shape)
