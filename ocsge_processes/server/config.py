"""The runtime pygeoapi configuration: the template, less the collections the store does not hold, with real extents.

pygeoapi reads a static file at start-up; we write it from ``pygeoapi-config.yml`` so that a collection appears
exactly when its data was ingested, and its extent is the data's.
"""

from __future__ import annotations

import copy
from pathlib import Path

import pyproj
import yaml
from pygeoapi.openapi import get_oas
from pygeoapi.util import yaml_load

from .. import styles
from ..filters import parse_filter
from ..layers import GENERATED_SOURCE, OCCUPATION_SOL, Layer, get_layer
from ..stores import FeatureStore, open_store, table_name
from ..territory import DROM_NAMES
from .tiles import TILE_PROVIDER

PROVIDER = "ocsge_processes.server.provider.OcsgeProvider"
STYLE_TYPE = "application/vnd.mapbox.style+json"


def load_template(path: Path) -> dict:
    """The template with ``${VAR:-default}`` replaced from the environment."""
    with path.open(encoding="utf-8") as handle:
        return yaml_load(handle)


def build_config(template: dict, store_url: str | None = None) -> dict:
    """A copy of ``template`` pointing at ``store_url``, keeping only collections with data.

    Overseas data, stored in its own CRS, is published as extra collections named after the territory
    (``ocsge-occupation-sol-reunion``), since a collection has one storage CRS.
    """
    config = copy.deepcopy(template)
    config = {k: v for k, v in config.items() if not k.startswith("x-")}
    resources = {}
    for name, resource in config["resources"].items():
        provider = next((p for p in resource.get("providers", []) if p.get("name") == PROVIDER), None)
        if provider is None:
            if store_url and "store" in resource.get("processor", {}):
                resource["processor"]["store"] = store_url
            resources[name] = resource
            continue
        if store_url:
            for own in _own_providers(resource):
                own["data"] = store_url
        store = open_store(str(provider["data"]))
        tables = set(store.tables())
        candidates = {name: resource, **_overseas_resources(name, resource, provider, tables)}
        for candidate_name, candidate in candidates.items():
            own = next(p for p in candidate["providers"] if p.get("name") == PROVIDER)
            layer, epsg = get_layer(own["collection"]), int(own.get("epsg", 2154))
            if table_name(layer, epsg) not in tables:
                continue
            own["items_url"] = f"{str(config['server']['url']).rstrip('/')}/collections/{candidate_name}/items"
            own["include_extra_query_parameters"] = True  # the paging cursor (server/paging.py) reaches us
            years = generated_millesimes(store, layer, epsg)
            if years:
                candidate["description"] = (
                    f"{candidate['description']} Contient des données GÉNÉRÉES par `ocsge generate` (millésimes "
                    f"{', '.join(map(str, years))}) : ce ne sont pas des données IGN."
                )
            extent = store.extent(layer, epsg)
            if extent is not None:
                candidate["extents"] = {
                    "spatial": {
                        "bbox": _crs84_bbox(extent, epsg),
                        "crs": "http://www.opengis.net/def/crs/OGC/1.3/CRS84",
                    }
                }
            if candidate_name == name:  # the styles' tile URLs name the metropolitan collection
                candidate["links"] = [*candidate.get("links", []), *_style_links(config, layer)]
            resources[candidate_name] = candidate
    config["resources"] = resources
    output_dir = config["server"].get("manager", {}).get("output_dir")
    if output_dir:
        Path(output_dir).mkdir(parents=True, exist_ok=True)
    return config


def generated_millesimes(store: FeatureStore, layer: Layer, epsg: int) -> list[int]:
    """Millésimes of ``layer`` that come from ``ocsge generate`` rather than IGN.

    OCCUPATION_SOL says so in ``source``; the other layers of a generated delivery share its millésimes.
    """
    occupation = table_name(OCCUPATION_SOL, epsg)
    if occupation not in store.tables():
        return []
    years = set(store.distinct(OCCUPATION_SOL, epsg, "millesime", parse_filter(f"source = '{GENERATED_SOURCE}'")))
    if layer is OCCUPATION_SOL:
        return sorted(years)
    if "millesime" in layer.fields:
        return sorted(years & set(store.distinct(layer, epsg, "millesime")))
    if "millesime_apres" in layer.fields:
        ends = set(store.distinct(layer, epsg, "millesime_avant")) | set(store.distinct(layer, epsg, "millesime_apres"))
        return sorted(years & ends)
    return []


def _overseas_resources(name: str, resource: dict, provider: dict, tables: set[str]) -> dict[str, dict]:
    """Copies of a metropolitan collection for each overseas CRS the store holds that layer in."""
    layer = get_layer(provider["collection"])
    copies = {}
    for epsg, territory in DROM_NAMES.items():
        if table_name(layer, epsg) not in tables:
            continue
        copy_ = copy.deepcopy(resource)
        for overseas in _own_providers(copy_):
            overseas["epsg"] = epsg
            if overseas["name"] == PROVIDER:
                overseas["storage_crs"] = f"http://www.opengis.net/def/crs/EPSG/0/{epsg}"
        copy_["title"] = f"{resource['title']} ({territory})"
        copies[f"{name}-{territory}"] = copy_
    return copies


def _own_providers(resource: dict) -> list[dict]:
    """The feature and tile providers of ``resource`` that read our store."""
    return [p for p in resource.get("providers", []) if p.get("name") in (PROVIDER, TILE_PROVIDER)]


def _style_links(config: dict, layer: Layer) -> list[dict]:
    """A ``stylesheet`` link to each MapLibre style drawn from ``layer``'s tiles (served by the web pages)."""
    base_url = str(config["server"]["url"]).rstrip("/")
    links = []
    for name in styles.STYLES:
        style = styles.build_style(name, base_url)
        if style["metadata"]["ocsge:collection"] == layer.collection_id:
            links.append(
                {
                    "type": STYLE_TYPE,
                    "rel": "stylesheet",
                    "title": style["name"],
                    "href": f"{base_url}/map/styles/{name}.json",
                }
            )
    return links


def write_config(config: dict, path: Path) -> Path:
    """Write a runtime configuration (plain YAML, no anchors)."""
    path.parent.mkdir(parents=True, exist_ok=True)

    class NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: object) -> bool:
            return True

    path.write_text(yaml.dump(config, Dumper=NoAliases, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


def write_openapi(config: dict, path: Path) -> Path:
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
