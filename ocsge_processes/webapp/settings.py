"""What the pages need to know about this server, gathered once per request from the configuration and store."""

from __future__ import annotations

import re

from pygeofilter import ast

from .. import nomenclature, styles
from ..artificialisation.rules import rules
from ..layers import ARTIFICIALISATION_COMMUNES, DIFFERENCE, OCCUPATION_SOL, Layer
from ..stores import open_store
from ..territory import METROPOLE_EPSG


def page_settings(config: dict, ortho_wms: str) -> dict:
    """Labels and colours (from config/), the decree categories, the millésimes held, the attribution of every map
    and the default WMS of the segmentation page."""
    store_url = _store_url(config)
    return {
        "ortho_wms": ortho_wms,
        "attribution": styles.ATTRIBUTION,
        "nomenclature": {"cs": _codes(nomenclature.couverture()), "us": _codes(nomenclature.usage())},
        "categories": {str(n): {"label": c.label, "artificial": c.artificial} for n, c in rules().categories.items()},
        "millesimes": held_millesimes(store_url) if store_url else {},
    }


def held_millesimes(store_url: str) -> dict:
    """Stock millésimes of ``ocsge-occupation-sol``, and the pairs of the change and per-commune collections."""
    store = open_store(store_url)
    try:
        stock = sorted(
            {
                int(y)
                for epsg in _epsgs(store, OCCUPATION_SOL)
                for y in store.distinct(OCCUPATION_SOL, epsg, "millesime")
            }
        )
        pairs = {
            layer.collection_id: sorted(
                {(int(a), int(b)) for epsg in _epsgs(store, layer) for a, b in _pairs(store, layer, epsg)}
            )
            for layer in (DIFFERENCE, ARTIFICIALISATION_COMMUNES)
        }
    finally:
        store.close()
    return {OCCUPATION_SOL.collection_id: stock, **{k: [list(p) for p in v] for k, v in pairs.items()}}


def _pairs(store, layer: Layer, epsg: int) -> list[tuple[int, int]]:
    """Distinct (avant, apres) pairs: one `distinct` per earlier year keeps it to indexed queries."""
    return [
        (a, b)
        for a in store.distinct(layer, epsg, "millesime_avant")
        for b in store.distinct(layer, epsg, "millesime_apres", ast.Equal(ast.Attribute("millesime_avant"), a))
    ]


def _epsgs(store, layer: Layer) -> list[int]:
    """CRSs in which ``layer`` has a table (metropolitan tables carry no suffix)."""
    found = []
    for table in store.tables():
        if table == layer.table:
            found.append(METROPOLE_EPSG)
        elif match := re.fullmatch(re.escape(layer.table) + r"_(\d+)", table):
            found.append(int(match[1]))
    return found


def _store_url(config: dict) -> str | None:
    """The store of the feature collections (all our providers share one)."""
    for resource in config["resources"].values():
        for provider in resource.get("providers", []):
            if str(provider.get("name", "")).startswith("ocsge_processes."):
                return str(provider["data"])
    return None


def _codes(codes: nomenclature.Nomenclature) -> dict:
    return {
        c.code: {"label": c.label, "short_label": c.short_label, "color": c.color, "leaf": c.leaf}
        for c in codes.codes.values()
    }
