"""Links from a collection to what the Géoplateforme publishes of the same product: its WMTS raster layers of the
periods the collection's millésimes fall in, its download (Atom) resource per département, its catalogue record.

The Géoplateforme serves OCS GE as raster layers and archives only, never as features: a client that finds our
collection should find IGN's layers of the same millésimes, and the other way round through the catalogue ids.
The names are read from ``config/geoplateforme.yml``; nothing here fetches them.
"""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import yaml

from .resources import config_dir

#: A link as OGC API collections carry it (type, rel, title, href).
type Link = dict[str, str]


@dataclass(frozen=True)
class Product:
    """What the Géoplateforme calls one of our collections."""

    catalogue: str
    download: str
    #: WMTS layer name templates (``OCSGE.COUVERTURE.{period}``) with the periods each is published for.
    wmts: tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class Names:
    """The contents of ``config/geoplateforme.yml``."""

    wmts_url: str
    tile_matrix_set: str
    style: str
    image_format: str
    download_url: str
    catalogue_url: str
    products: dict[str, Product]

    def links(self, collection_id: str, millesimes: Iterable[int], departements: Iterable[str]) -> list[Link]:
        """The collection's links: a WMTS layer per family and period holding one of ``millesimes``, the download
        resource of each of ``departements``, the catalogue record; none for a collection IGN does not publish."""
        product = self.products.get(collection_id)
        if product is None:
            return []
        years = set(millesimes)
        links = [
            self._wmts_link(template.format(period=period))
            for template, periods in product.wmts
            for period in periods
            if any(_in_period(year, period) for year in years)
        ]
        for departement in sorted(set(departements)):
            zone = "D" + departement.zfill(3)
            links.append(
                {
                    "type": "application/atom+xml",
                    "rel": "related",
                    "title": f"Téléchargement IGN (flux Atom) : {product.download}, zone {zone}",
                    "href": f"{self.download_url}{product.download}?{urlencode({'zone': zone})}",
                }
            )
        links.append(
            {
                "type": "text/html",
                "rel": "describedby",
                "title": f"Fiche du catalogue IGN : {product.catalogue}",
                "href": self.catalogue_url + product.catalogue,
            }
        )
        return links

    def catalogue_id(self, collection_id: str) -> str | None:
        """The IGN catalogue id of the product the collection serves (``IGNF_OCS-GE``)."""
        product = self.products.get(collection_id)
        return product.catalogue if product else None

    def _wmts_link(self, layer: str) -> Link:
        """A GetTile address template of ``layer``: it names the layer and TileMatrixSet, and a tile client fills
        {TileMatrix}, {TileRow} and {TileCol}."""
        query = urlencode(
            {
                "SERVICE": "WMTS",
                "REQUEST": "GetTile",
                "VERSION": "1.0.0",
                "LAYER": layer,
                "STYLE": self.style,
                "TILEMATRIXSET": self.tile_matrix_set,
                "FORMAT": self.image_format,
            },
            safe="/",
        )
        return {
            "type": self.image_format,
            "rel": "alternate",
            "title": f"Géoplateforme WMTS : couche {layer}, TileMatrixSet {self.tile_matrix_set}",
            "href": f"{self.wmts_url}?{query}&TILEMATRIX={{TileMatrix}}&TILEROW={{TileRow}}&TILECOL={{TileCol}}",
        }


def _in_period(year: int, period: str) -> bool:
    first, _, last = period.partition("-")
    return int(first) <= year <= int(last or first)


@functools.cache
def names(path: Path | None = None) -> Names:
    """``config/geoplateforme.yml`` (or ``path``), read once."""
    with (path or config_dir() / "geoplateforme.yml").open(encoding="utf-8") as handle:
        raw = yaml.safe_load(handle)
    periods = {name: tuple(str(p) for p in values) for name, values in raw["periods"].items()}
    products = {
        collection: Product(
            catalogue=str(entry["catalogue"]),
            download=str(entry["download"]),
            wmts=tuple((str(template), periods[family]) for template, family in (entry.get("wmts") or {}).items()),
        )
        for collection, entry in raw["collections"].items()
    }
    wmts = raw["wmts"]
    return Names(
        wmts_url=str(wmts["url"]),
        tile_matrix_set=str(wmts["tile_matrix_set"]),
        style=str(wmts["style"]),
        image_format=str(wmts["format"]),
        download_url=str(raw["download"]),
        catalogue_url=str(raw["catalogue"]),
        products=products,
    )
