"""What the pages need to know about this server, gathered once per request from the configuration and store."""

from __future__ import annotations

from typing import TypedDict

from pygeofilter import ast

from .. import nomenclature, styles
from ..artificialisation.rules import rules
from ..layers import ARTIFICIALISATION_COMMUNES, DIFFERENCE, OCCUPATION_SOL, Layer, millesime
from ..stores import FeatureStore, open_store, table_name
from ..territory import territory_epsgs


class CodeEntry(TypedDict):
    """One nomenclature code as the pages draw it."""

    label: str
    short_label: str
    color: str
    leaf: bool


class Category(TypedDict):
    """One decree category: its label and whether it counts as artificialised."""

    label: str
    artificial: bool


class PageSettings(TypedDict):
    """The JSON of ``/map/settings.json``."""

    ortho_wms: str
    attribution: str
    nomenclature: dict[str, dict[str, CodeEntry]]
    categories: dict[str, Category]
    millesimes: dict[str, list[int] | list[list[int]]]


def page_settings(store_url: str | None, ortho_wms: str) -> PageSettings:
    """Labels and colours (from config/), the decree categories, the millésimes held in ``store_url``, the
    attribution of every map and the default WMS of the segmentation page."""
    return {
        "ortho_wms": ortho_wms,
        "attribution": styles.ATTRIBUTION,
        "nomenclature": {"cs": _codes(nomenclature.couverture()), "us": _codes(nomenclature.usage())},
        "categories": {str(n): {"label": c.label, "artificial": c.artificial} for n, c in rules().categories.items()},
        "millesimes": held_millesimes(store_url) if store_url else {},
    }


def held_millesimes(store_url: str) -> dict[str, list[int] | list[list[int]]]:
    """Stock millésimes of ``ocsge-occupation-sol``, and the pairs of the change and per-commune collections."""
    store = open_store(store_url)
    try:
        stock = sorted(
            {
                millesime(y)
                for epsg in _epsgs(store, OCCUPATION_SOL)
                for y in store.distinct(OCCUPATION_SOL, epsg, "millesime")
            }
        )
        pairs = {
            layer.collection_id: sorted(
                {(a, b) for epsg in _epsgs(store, layer) for a, b in _pairs(store, layer, epsg)}
            )
            for layer in (DIFFERENCE, ARTIFICIALISATION_COMMUNES)
        }
    finally:
        store.close()
    held: dict[str, list[int] | list[list[int]]] = {OCCUPATION_SOL.collection_id: stock}
    held.update({k: [list(p) for p in v] for k, v in pairs.items()})
    return held


def _pairs(store: FeatureStore, layer: Layer, epsg: int) -> list[tuple[int, int]]:
    """Distinct (avant, apres) pairs: one `distinct` per earlier year keeps it to indexed queries."""
    return [
        (millesime(a), millesime(b))
        for a in store.distinct(layer, epsg, "millesime_avant")
        for b in store.distinct(
            layer, epsg, "millesime_apres", ast.Equal(ast.Attribute("millesime_avant"), millesime(a))
        )
    ]


def _epsgs(store: FeatureStore, layer: Layer) -> list[int]:
    """The territory CRSs in which ``layer`` has a table."""
    tables = store.tables()
    return [epsg for epsg in territory_epsgs() if table_name(layer, epsg) in tables]


def _codes(codes: nomenclature.Nomenclature) -> dict[str, CodeEntry]:
    return {
        c.code: {"label": c.label, "short_label": c.short_label, "color": c.color, "leaf": c.leaf}
        for c in codes.codes.values()
    }
