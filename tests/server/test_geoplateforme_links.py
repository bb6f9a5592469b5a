"""Each collection links the Géoplateforme's WMTS layers of the periods its millésimes fall in, the download (Atom)
resource of each département it holds and the IGN catalogue record, and carries the catalogue id in its keywords.

The expected layers are worked out from the millésimes and départements the server itself returns for the
collection's features, and the names checked against the ones IGN publishes (reference §5.2); the server fetches none
of these addresses (the live server runs with outbound requests limited to loopback).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from ocsge_processes.geoplateforme_links import names
from ocsge_processes.layers import OCCUPATION_SOL
from ocsge_processes.server.config import build_config, load_template
from ocsge_processes.stores.gpkg import GpkgStore

from ..conftest import ROOT
from .test_config import _reunion_frame

#: The WMTS layer names IGN publishes for OCS GE (D actualités 2025-09 to 2026-08).
PUBLISHED = re.compile(
    r"^(OCSGE\.(COUVERTURE|USAGE|CONSTRUCTION|ARTIF)\.(2017-2020|2021-2023|2024-2026)"
    r"|OCSGE-ARTIFICIALISATION-EXEMPTIONS_(2016-2017|2017-2020|2021-2023))$"
)


def _wmts_layers(links: list[dict]) -> dict[str, dict[str, list[str]]]:
    return {
        parse_qs(urlsplit(link["href"]).query)["LAYER"][0]: parse_qs(urlsplit(link["href"]).query)
        for link in links
        if link["rel"] == "alternate" and "data.geopf.fr/wmts" in link["href"]
    }


def test_every_configured_layer_name_is_one_ign_publishes() -> None:
    every_year = range(2010, 2030)
    for collection in names().products:
        for layer in _wmts_layers(names().links(collection, every_year, ["33"])):
            assert PUBLISHED.match(layer), layer


def test_a_millesime_links_the_layers_of_its_period_only() -> None:
    layers = _wmts_layers(names().links("ocsge-occupation-sol", [2018, 2021], ["33"]))
    assert set(layers) == {
        "OCSGE.COUVERTURE.2017-2020",
        "OCSGE.USAGE.2017-2020",
        "OCSGE.COUVERTURE.2021-2023",
        "OCSGE.USAGE.2021-2023",
    }
    exemptions = _wmts_layers(names().links("ocsge-artif", [2016], ["32"]))
    assert set(exemptions) == {"OCSGE-ARTIFICIALISATION-EXEMPTIONS_2016-2017"}  # no OCSGE.ARTIF layer before 2017
    assert names().links("communes", [2021], ["33"]) == []  # not an IGN OCS GE product


def test_overseas_collection_links_its_departement(tmp_path: Path) -> None:
    store = GpkgStore(tmp_path / "s.gpkg")
    store.replace_slice(OCCUPATION_SOL, 2975, _reunion_frame(), {"departement": "974", "millesime": 2022})
    resource = build_config(load_template(ROOT / "pygeoapi-config.yml"), str(store.path))["resources"][
        "ocsge-occupation-sol-reunion"
    ]
    assert set(_wmts_layers(resource["links"])) == {"OCSGE.COUVERTURE.2021-2023", "OCSGE.USAGE.2021-2023"}
    downloads = [link["href"] for link in resource["links"] if link["type"] == "application/atom+xml"]
    assert downloads == ["https://data.geopf.fr/telechargement/resource/OCSGE?zone=D974"]
    assert "IGNF_OCS-GE" in resource["keywords"]


def _any(server: str, collection: str, cql: str) -> bool:
    """Whether a feature of the collection matches the CQL2 text ``cql``."""
    response = requests.get(
        f"{server}/collections/{collection}/items",
        params={"f": "json", "limit": 1, "skipGeometry": "true", "filter": cql, "filter-lang": "cql2-text"},
        timeout=300,
    )
    assert response.status_code == 200, response.text[:300]
    return bool(response.json()["features"])


PERIODS = ("2017-2020", "2021-2023", "2024-2026")


@pytest.mark.parametrize(
    ("collection", "families", "catalogue", "resource"),
    [
        ("ocsge-occupation-sol", ("OCSGE.COUVERTURE", "OCSGE.USAGE"), "IGNF_OCS-GE", "OCSGE"),
        ("ocsge-difference", (), "IGNF_OCS-GE", "OCSGE"),
    ],
)
def test_live_collection_links(server: str, collection: str, families: tuple, catalogue: str, resource: str) -> None:
    described = requests.get(f"{server}/collections/{collection}", params={"f": "json"}, timeout=30).json()
    layers = _wmts_layers(described["links"])
    for period in PERIODS:  # a period is linked exactly when the collection holds a millésime in it
        held = bool(families) and _any(server, collection, f"millesime BETWEEN {period[:4]} AND {period[5:]}")
        assert (
            {f"{family}.{period}" for family in families} <= set(layers)
            if held
            else not [layer for layer in layers if layer.endswith(period)]
        ), (period, sorted(layers))
    assert not families or layers
    for query in layers.values():
        assert query["TILEMATRIXSET"] == ["PM"] and query["REQUEST"] == ["GetTile"] and query["STYLE"] == ["normal"]
    downloads = [link["href"] for link in described["links"] if link["type"] == "application/atom+xml"]
    zones = [parse_qs(urlsplit(href).query)["zone"][0] for href in downloads]
    assert downloads == [f"https://data.geopf.fr/telechargement/resource/{resource}?zone={zone}" for zone in zones]
    codes = [zone[1:].removeprefix("0") if zone[1:3] != "97" else zone[1:] for zone in zones]
    assert codes and all(_any(server, collection, f"departement = '{code}'") for code in codes)
    listed = ", ".join(f"'{code}'" for code in codes)
    assert not _any(server, collection, f"departement NOT IN ({listed})")  # every département held is linked
    assert catalogue in described["keywords"]
    catalogue_links = [link["href"] for link in described["links"] if link["rel"] == "describedby"]
    assert catalogue_links == [f"https://cartes.gouv.fr/rechercher-une-donnee/dataset/{catalogue}"]
