"""Feature stores: the embedded GeoPackage (default) and PostGIS, behind one interface."""

from __future__ import annotations

import functools

from .base import FeaturePage, FeatureQuery, FeatureStore, table_name

__all__ = ["FeaturePage", "FeatureQuery", "FeatureStore", "open_store", "table_name"]


@functools.cache
def open_store(url: str) -> FeatureStore:
    """The store at ``url``: ``postgresql://...`` for PostGIS, anything else is a GeoPackage path.

    Cached per process because pygeoapi builds a provider per request.
    """
    if url.startswith(("postgresql://", "postgres://")):
        from .postgis import PostgisStore

        return PostgisStore(url)
    from .gpkg import GpkgStore

    return GpkgStore(url)
