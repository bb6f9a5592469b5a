"""pygeoapi feature provider over our stores: a thin adapter from pygeoapi's arguments to a FeatureQuery.

``ocsge config`` writes its entry for each collection in the runtime configuration (``providers.provider_entries``)::

    providers:
      - type: feature
        name: ocsge_processes.server.provider.OcsgeProvider
        data: ${OCSGE_STORE}          # GeoPackage path or postgresql:// URL
        collection: ocsge-occupation-sol
        epsg: 2154                    # territory CRS of the stored geometries
        storage_crs: http://www.opengis.net/def/crs/EPSG/0/2154
"""

from __future__ import annotations

from typing import Any

import pyproj
from pygeoapi.crs import CrsTransformSpec
from pygeoapi.provider.base import BaseProvider, ProviderItemNotFoundError
from pygeofilter import ast
from shapely.geometry.base import BaseGeometry

from ..errors import OcsgeError, UnsupportedQueryError
from ..layers import get_layer
from ..schema import field_enum
from ..stores import FeatureQuery, open_store
from ..stores.base import DEFAULT_COUNT_CAP, Box, coerce_value
from .errors import provider_error
from .paging import PARAMETER as CURSOR
from .paging import decode_cursor, encode_cursor, page_links
from .providers import ProviderConfig


class OcsgeProvider(BaseProvider):
    """One OCS GE layer of one store, as a pygeoapi feature provider."""

    # Any: a provider block of the pygeoapi configuration, free-form
    def __init__(self, provider_def: dict[str, Any]) -> None:
        super().__init__(provider_def)  # type: ignore[no-untyped-call]  # pygeoapi's BaseProvider is unannotated
        settings = ProviderConfig.read(provider_def)
        self.layer = get_layer(settings.collection)
        self.epsg = settings.epsg
        self.count_cap = int(provider_def.get("count_cap", DEFAULT_COUNT_CAP))
        self.id_field = self.layer.id_field
        self.store = open_store(str(self.data))
        self._fields = self.get_fields()
        #: Absolute URL of this collection's items (``ocsge config`` writes it), for the ``next`` links.
        self.items_url = str(provider_def.get("items_url", ""))

    def get_fields(self) -> dict[str, dict[str, str | list[str]]]:
        """Field types for queryables and sortby checks, with nomenclature enums on coded fields."""
        fields = {}
        for name, kind in self.layer.fields.items():
            entry: dict[str, str | list[str]] = {"type": kind}
            enum = field_enum(self.layer, name)
            if enum is not None:
                entry["values"] = enum
            fields[name] = entry
        return fields

    # Any: a GeoJSON FeatureCollection
    def query(
        self,
        offset: int = 0,
        limit: int = 10,
        resulttype: str = "results",
        bbox: BaseGeometry | list[float] | None = None,
        datetime_: str | None = None,
        properties: list[tuple[str, str]] | None = None,
        sortby: list[dict[str, str]] | None = None,
        select_properties: list[str] | None = None,
        skip_geometry: bool = False,
        crs_transform_spec: CrsTransformSpec | None = None,
        q: str | None = None,
        filterq: ast.Node | None = None,
        **kwargs: object,
    ) -> dict[str, Any]:
        """A page of features as a GeoJSON FeatureCollection.

        ``bbox`` is the true shape of the client's bbox in the storage CRS (``speedups.transform_bbox``), or a
        storage-CRS box from a caller that did not go through it."""
        try:
            if datetime_:
                raise UnsupportedQueryError("datetime is not supported: OCS GE has no time field; filter on millesime")
            if q:
                raise UnsupportedQueryError("q (free-text search) is not supported; use filter=nom LIKE '...'")
            cursor = next((value for name, value in properties or [] if name == CURSOR), None)
            properties = [(name, value) for name, value in properties or [] if name != CURSOR]
            order = [(s["property"], s["order"] == "-") for s in sortby or []] or list(self.layer.default_sortby)
            after, offset = decode_cursor(cursor, order) if cursor else (None, offset)
            query = FeatureQuery(
                bbox=_storage_bbox(bbox),
                where=filterq,
                equals=tuple((k, coerce_value(self.layer, k, v)) for k, v in properties or []),
                sortby=tuple(order),
                properties=tuple(select_properties) if select_properties else None,
                skip_geometry=bool(skip_geometry),
                limit=limit,
                offset=offset,
                after=after,
                out_crs=_target_crs(crs_transform_spec),
                hits_only=resulttype == "hits",
                count_cap=self.count_cap,
            )
            page = self.store.query(self.layer, self.epsg, query)
        except OcsgeError as err:
            raise provider_error(err) from err
        except ValueError as err:
            raise provider_error(UnsupportedQueryError(str(err))) from err
        collection: dict[str, Any] = {
            "type": "FeatureCollection",
            "features": page.features,
            "numberReturned": len(page.features),
        }
        if page.number_matched is not None:
            collection["numberMatched"] = page.number_matched
        if self.items_url and page.last_key is not None and len(page.features) == limit:  # else pygeoapi's links
            following = encode_cursor(order, page.last_key, offset + limit)
            collection["links"] = page_links(self.items_url, following, offset, limit)
        return collection

    # Any: a GeoJSON Feature
    def get(
        self, identifier: str, crs_transform_spec: CrsTransformSpec | None = None, **kwargs: object
    ) -> dict[str, Any]:
        """One feature by id."""
        try:
            feature = self.store.get(self.layer, self.epsg, str(identifier), _target_crs(crs_transform_spec))
        except OcsgeError as err:
            raise provider_error(err) from err
        if feature is None:
            raise ProviderItemNotFoundError(user_msg=f"no feature {identifier!r} in {self.layer.collection_id}")
        return feature


def _storage_bbox(bbox: BaseGeometry | list[float] | None) -> BaseGeometry | Box | None:
    if bbox is None or isinstance(bbox, BaseGeometry):
        return bbox
    if not bbox:
        return None
    half = len(bbox) // 2
    return bbox[0], bbox[1], bbox[half], bbox[half + 1]


def _target_crs(spec: CrsTransformSpec | None) -> pyproj.CRS | None:
    return None if spec is None else pyproj.CRS.from_wkt(spec.target_crs_wkt)
