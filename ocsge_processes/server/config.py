"""The runtime pygeoapi configuration: the template, less the collections the store does not hold, with real extents.

pygeoapi reads a static file at start-up; we write it from ``pygeoapi-config.yml`` so that a collection appears
exactly when its data was ingested, and its extent is the data's.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pyproj
import yaml
from pygeoapi.openapi import get_oas
from pygeoapi.util import yaml_load
from pygeofilter import ast

from .. import geoplateforme_links, styles
from ..filters import parse_filter
from ..layers import (
    AI_COUVERTURE_NOTICE,
    GENERATED_SOURCE,
    LAYERS,
    OCCUPATION_SOL,
    SEGMENTATION,
    SEGMENTATION_CHANGE,
    Layer,
    millesime,
)
from ..stores import FeatureStore, open_store, table_name
from ..territory import CRS84, METROPOLE_EPSG, covering_crs, territories
from .providers import FEATURE_PROVIDER, provider_entries

STYLE_TYPE = "application/vnd.mapbox.style+json"
#: The runtime configuration's record of the layers the store did not hold when it was written (``server.late``).
LATE_KEY = "x-ocsge-late"


# Any: the template is free-form YAML in pygeoapi's shape
def load_template(path: Path) -> dict[str, Any]:
    """The template with ``${VAR:-default}`` replaced from the environment."""
    with path.open(encoding="utf-8") as handle:
        template: dict[str, Any] = yaml_load(handle)
    return template


# Any: pygeoapi's configuration, free-form YAML (ours are only the provider entries: providers.ProviderConfig)
def build_config(template: dict[str, Any], store_url: str | None = None) -> dict[str, Any]:
    """The runtime configuration: ``template`` pointing at ``store_url``, with one collection per layer and
    territory CRS that the store holds.

    Our collections are made from the layer table (``layers.LAYERS``) and the territory CRS table
    (``territory.TERRITORY_CRS``): their providers, CRS lists and extents are written here, and the template only
    gives each its French title, description and keywords (a layer it does not name is published with its own).
    Overseas data, stored in its own CRS, is published as extra collections named after the territory
    (``ocsge-occupation-sol-reunion``), since a collection has one storage CRS.
    """
    store_url = store_url or str(template["x-ocsge-store"])
    defaults = {  # for a layer the template does not describe; pygeoapi fails on a collection without keywords
        "links": template.get("x-ocsge-links", []),
        "extents": template.get("x-ocsge-extent", {}),
        "keywords": ["OCS GE"],
    }
    tiles: Mapping[str, Any] = template.get("x-ocsge-tiles", {})
    config = {k: copy.deepcopy(v) for k, v in template.items() if not k.startswith("x-")}
    contact = config.get("metadata", {}).get("contact", {})
    for key in [key for key, value in contact.items() if value == ""]:  # a setting left unset: OCSGE_CONTACT_EMAIL
        del contact[key]
    store = open_store(store_url)
    try:
        tables = set(store.tables())
        resources: dict[str, Any] = {}
        pending = dict(LAYERS)
        for name, resource in config["resources"].items():
            layer = pending.pop(name, None)
            if layer is None:
                if "store" in resource.get("processor", {}):
                    resource["processor"]["store"] = store_url
                resources[name] = resource
                continue
            resources.update(_collections(config, store, tables, layer, resource, store_url, tiles))
        for layer in pending.values():  # a layer the template does not describe
            resource = {"type": "collection", "title": layer.title, "description": layer.description, **defaults}
            resources.update(_collections(config, store, tables, layer, copy.deepcopy(resource), store_url, tiles))
        own = {"type": "collection", **defaults}
        absent = {  # the template's texts, or the layer's own
            layer.collection_id: copy.deepcopy(
                config["resources"].get(layer.collection_id)
                or {**own, "title": layer.title, "description": layer.description}
            )
            for layer in LAYERS.values()
            if not any(table_name(layer, territory.epsg) in tables for territory in territories())
        }
    finally:
        store.close()
    config["resources"] = resources
    # the layers not held yet, for the server to publish when their table appears (server.late)
    config[LATE_KEY] = {"store": store_url, "tiles": dict(tiles), "resources": absent}
    output_dir = config["server"].get("manager", {}).get("output_dir")
    if output_dir:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
    return config


def adopt_late_collections(config: dict[str, object], store: FeatureStore) -> list[str]:
    """Add to ``config`` (pygeoapi's) the collections of the layers recorded under :data:`LATE_KEY` whose table
    ``store`` now holds (a segmentation run published, an artificialisation computed while the server runs); their
    names."""
    late, resources = config.get(LATE_KEY), config.get("resources")
    if not isinstance(late, dict) or not isinstance(resources, dict) or not late.get("resources"):
        return []
    waiting: dict[str, dict[str, object]] = late["resources"]
    tables = set(store.tables())
    added: list[str] = []
    for collection_id in list(waiting):
        layer = LAYERS.get(collection_id)
        if layer is None or not any(table_name(layer, t.epsg) in tables for t in territories()):
            continue
        resource = waiting.pop(collection_id)
        collections = _collections(config, store, tables, layer, resource, str(late["store"]), late.get("tiles", {}))
        resources.update(collections)
        added.extend(collections)
    return added


def _collections(
    config: dict[str, Any],
    store: FeatureStore,
    tables: set[str],
    layer: Layer,
    resource: dict[str, Any],
    store_url: str,
    tiles: Mapping[str, Any],
) -> dict[str, Any]:
    """The collections of ``layer``: one per territory CRS in which the store holds it, ``resource`` giving their
    texts."""
    collections: dict[str, Any] = {}
    base_url = str(config["server"]["url"]).rstrip("/")
    for territory in territories():
        epsg = territory.epsg
        if table_name(layer, epsg) not in tables:
            continue
        metropole = epsg == METROPOLE_EPSG
        name = layer.collection_id if metropole else f"{layer.collection_id}-{territory.name}"
        collection = copy.deepcopy(resource)
        providers = provider_entries(layer, epsg, store_url, tiles)
        for provider in providers:
            if provider["name"] == FEATURE_PROVIDER:
                provider["items_url"] = f"{base_url}/collections/{name}/items"
                provider["include_extra_query_parameters"] = True  # the paging cursor (server/paging.py) reaches us
        collection["providers"] = providers
        if not metropole:
            collection["title"] = f"{resource['title']} ({territory.name})"
        years = generated_millesimes(store, layer, epsg)
        if years:
            collection["description"] = (
                f"{collection['description']} Contient des données GÉNÉRÉES par `ocsge generate` (millésimes "
                f"{', '.join(map(str, years))}) : ce ne sont pas des données IGN."
            )
        if layer in (SEGMENTATION, SEGMENTATION_CHANGE) and AI_COUVERTURE_NOTICE not in collection["description"]:
            collection["description"] = f"{collection['description']} {AI_COUVERTURE_NOTICE}"
        extent = store.extent(layer, epsg)
        if extent is not None:
            bbox = _crs84_bbox(extent, epsg)
            collection["extents"] = {"spatial": {"bbox": bbox, "crs": CRS84}}
            for provider in providers:  # only the CRSs meaningful where the data lies
                if provider["name"] == FEATURE_PROVIDER:
                    provider["crs"] = covering_crs(bbox, epsg)
        collection["links"] = [*collection.get("links", []), *_geoplateforme_links(store, layer, epsg)]
        catalogue = geoplateforme_links.names().catalogue_id(layer.collection_id)
        if catalogue:  # the IGN catalogue id of the product, as cartes.gouv.fr searches it
            collection["keywords"] = [*collection.get("keywords", []), catalogue]
        if metropole:  # the styles' tile URLs name the metropolitan collection
            slices = held_slices(store, layer, epsg)
            collection["links"] = [*collection.get("links", []), *_style_links(config, layer, slices)]
        collections[name] = collection
    return collections


def _geoplateforme_links(store: FeatureStore, layer: Layer, epsg: int) -> list[dict[str, str]]:
    """Links to the Géoplateforme's WMTS layers of the millésimes held, its download resource of each département
    held, and its catalogue record."""
    years = {
        millesime(value)
        for name in ("millesime", "millesime_avant", "millesime_apres")
        if name in layer.fields
        for value in store.distinct(layer, epsg, name)
    }
    departements = store.distinct(layer, epsg, "departement") if "departement" in layer.fields else []
    return geoplateforme_links.names().links(layer.collection_id, years, map(str, departements))


def generated_millesimes(store: FeatureStore, layer: Layer, epsg: int) -> list[int]:
    """Millésimes of ``layer`` that come from ``ocsge generate`` rather than IGN.

    OCCUPATION_SOL says so in ``source``; the other layers of a generated delivery share its millésimes.
    """
    occupation = table_name(OCCUPATION_SOL, epsg)
    if occupation not in store.tables():
        return []
    generated = parse_filter(f"source = '{GENERATED_SOURCE}'")
    years = {millesime(y) for y in store.distinct(OCCUPATION_SOL, epsg, "millesime", generated)}
    if layer is OCCUPATION_SOL:
        return sorted(years)
    held = [name for name in ("millesime", "millesime_avant", "millesime_apres") if name in layer.fields]
    return sorted(years & {millesime(y) for name in held for y in store.distinct(layer, epsg, name)})


def held_slices(store: FeatureStore, layer: Layer, epsg: int) -> list[dict[str, int]]:
    """The millésimes of ``layer`` held in ``store``, newest first: a value for each of its millésime attributes
    (``{"millesime": 2024}``, or the pairs of a collection of changes), as its styles of one millésime take them."""
    slices: list[dict[str, int]] = [{}]
    for name in styles.millesime_fields(layer):
        slices = [
            {**chosen, name: millesime(value)}
            for chosen in slices
            for value in store.distinct(layer, epsg, name, _equal(chosen))
        ]
    return sorted((s for s in slices if s), key=lambda s: tuple(s.values()), reverse=True)


def _equal(chosen: Mapping[str, int]) -> ast.Node | None:
    """The filter that keeps the rows with the values of ``chosen`` (None: every row)."""
    tests: list[ast.Node] = [ast.Equal(ast.Attribute(name), value) for name, value in chosen.items()]
    return functools.reduce(ast.And, tests) if tests else None


def _style_links(config: dict[str, Any], layer: Layer, slices: list[dict[str, int]]) -> list[dict[str, str]]:
    """A ``stylesheet`` link to each MapLibre style drawn from ``layer``'s tiles (served by the web pages), one per
    millésime held (``slices``, newest first), so that no style paints two millésimes over each other; the first of
    each, the newest, is the default. With nothing held, the template of all millésimes."""
    base_url = str(config["server"]["url"]).rstrip("/")
    links = []
    for name in styles.STYLES:
        if styles.style_layer(name) is not layer:
            continue
        for rank, chosen in enumerate(slices or [{}]):
            style = styles.build_style(name, base_url, millesimes=chosen)
            query = f"?{urlencode(chosen)}" if chosen else ""
            links.append(
                {
                    "type": STYLE_TYPE,
                    "rel": "stylesheet",
                    "title": style["name"] + (" (par défaut : le plus récent)" if rank == 0 and chosen else ""),
                    "href": f"{base_url}/map/styles/{name}.json{query}",
                }
            )
    return links


# Any: pygeoapi's configuration, free-form YAML
def write_config(config: dict[str, Any], path: Path) -> Path:
    """Write a runtime configuration (plain YAML, no anchors)."""
    path.parent.mkdir(parents=True, exist_ok=True)

    class NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: object) -> bool:
            return True

    path.write_text(yaml.dump(config, Dumper=NoAliases, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# Any: pygeoapi's configuration, free-form YAML
def write_openapi(config: dict[str, Any], path: Path) -> Path:
    """pygeoapi's OpenAPI document for ``config``, with enum lists where pygeoapi copies our field 'values'.

    pygeoapi uses a provider's field descriptions as parameter schemas verbatim, and its queryables read the
    allowed values from the non-standard key 'values'; OpenAPI needs 'enum' there.
    """
    document = _values_to_enum(get_oas(config))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(document, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def _values_to_enum(node: object) -> object:
    if isinstance(node, dict):
        if node.get("type") in ("string", "integer") and isinstance(node.get("values"), list):
            node = {**node, "enum": node["values"]}
            del node["values"]
        return {key: _values_to_enum(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_values_to_enum(item) for item in node]
    return node


def _crs84_bbox(extent: tuple[float, float, float, float], epsg: int) -> list[float]:
    transformer = pyproj.Transformer.from_crs(epsg, "OGC:CRS84", always_xy=True)
    minx, miny, maxx, maxy = transformer.transform_bounds(*extent)
    return [round(minx, 6), round(miny, 6), round(maxx, 6), round(maxy, 6)]
