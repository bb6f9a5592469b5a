"""Our provider entries in the pygeoapi configuration, read and written in one place.

The feature and tile providers that serve our store are the only entries of the configuration whose shape is ours:
:func:`provider_entries` writes them (``ocsge config``, from a layer and a territory CRS) and :func:`our_providers`
is the one way the server finds them again (request guard, tile endpoint, web pages, providers' constructors).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from ..layers import Layer
from ..territory import METROPOLE_EPSG, epsg_uri, published_crs

#: pygeoapi's name for our feature provider class (``name:`` in the configuration).
FEATURE_PROVIDER = "ocsge_processes.server.provider.OcsgeProvider"
#: pygeoapi's name for our tile provider class.
TILE_PROVIDER = "ocsge_processes.server.tiles.OcsgeTileProvider"
_OURS = (FEATURE_PROVIDER, TILE_PROVIDER)


@dataclass(frozen=True)
class ProviderConfig:
    """One of our provider entries: which layer of which store it serves, in which CRS."""

    #: The provider class, :data:`FEATURE_PROVIDER` or :data:`TILE_PROVIDER`.
    name: str
    #: Id of the layer served (``layers.LAYERS``); overseas collections serve a layer under another resource id.
    collection: str
    #: The store: a GeoPackage path or a ``postgresql://`` URL.
    data: str
    #: The territory CRS the layer is stored in.
    epsg: int
    #: URIs of the CRSs a feature provider offers for ``crs``, ``bbox-crs`` and ``filter-crs``.
    crs: tuple[str, ...]
    #: The entry itself, as pygeoapi hands it to the provider class.
    definition: dict[str, Any]

    @classmethod
    def read(cls, entry: dict[str, Any]) -> ProviderConfig:  # Any: an entry is free-form YAML
        """The entry ``entry`` of one of our providers; Lambert-93 when it names no CRS."""
        return cls(
            name=str(entry["name"]),
            collection=str(entry["collection"]),
            data=str(entry["data"]),
            epsg=int(entry.get("epsg", METROPOLE_EPSG)),
            crs=tuple(str(uri) for uri in entry.get("crs", ())),
            definition=entry,
        )


# Any: the pygeoapi configuration is free-form YAML
def our_providers(config: Mapping[str, Any], name: str | None = None) -> Iterator[tuple[str, ProviderConfig]]:
    """(resource id, provider) for each of our providers in ``config``; only those of class ``name`` if given."""
    for resource_id, resource in config.get("resources", {}).items():
        for entry in resource.get("providers", []):
            if entry.get("name") in _OURS and name in (None, entry.get("name")):
                yield str(resource_id), ProviderConfig.read(entry)


# Any: provider entries are free-form YAML (``tiles`` holds pygeoapi's tile options and format)
def provider_entries(layer: Layer, epsg: int, store: str, tiles: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The provider entries that serve ``layer`` stored in EPSG:``epsg`` of ``store``: features in every CRS the
    server publishes, and vector tiles (with the template's ``tiles`` options) when the layer has them."""
    common = {"data": store, "collection": layer.collection_id, "epsg": epsg}
    feature = {
        "type": "feature",
        "name": FEATURE_PROVIDER,
        **common,
        "id_field": layer.id_field,
        "storage_crs": epsg_uri(epsg),
        "crs": published_crs(),
    }
    if not layer.tiles:
        return [feature]
    return [feature, {"type": "tile", "name": TILE_PROVIDER, **common, **tiles}]


def store_of(config: Mapping[str, Any]) -> str | None:  # Any: the pygeoapi configuration is free-form YAML
    """The store our collections read (``ocsge config`` points them all at one); None when there are none."""
    return next((provider.data for _, provider in our_providers(config)), None)
