"""Every commune of a département at once: the rows of the `artificialisation-communes` collection."""

from __future__ import annotations

from collections.abc import Callable
from itertools import pairwise

import geopandas as gpd

from ..layers import ARTIFICIALISATION_COMMUNES, COMMUNES
from ..stores import FeatureStore
from ..territory import departement_epsg, normalise_departement
from .artificialisation import LayerCache, available_millesimes, run
from .territories import resolve


def periods(store: FeatureStore, departement: str) -> list[tuple[int, int]]:
    """Pairs of millésimes to compute: those with a difference layer, and consecutive stock millésimes."""
    territory = resolve(store, {"departement": departement}).territory
    with LayerCache(store, territory) as data:
        available = available_millesimes(data)
    stock = available["stock"]
    return sorted(set(available["pairs"]) | set(pairwise(stock)))


def commune_rows(
    store: FeatureStore,
    departement: str,
    pair: tuple[int, int],
    methode: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> gpd.GeoDataFrame:
    """One row per commune of ``departement`` for ``pair``, with the commune's geometry."""
    departement = normalise_departement(departement)
    epsg = departement_epsg(departement)
    document = run(store, {"departement": departement}, list(pair), methode, detail_communes=True, progress=progress)
    communes = store.read_frame(COMMUNES, epsg).set_index("code_insee")
    rows = []
    for entry in document["communes"]:
        stocks = entry["stocks"]
        before = stocks[str(pair[0])]
        commune = communes.loc[entry["code"]]
        rows.append(
            {
                "id": f"{entry['code']}-{pair[0]}-{pair[1]}",
                "code_insee": entry["code"],
                "nom": entry["nom"],
                "departement": departement,
                "epci": commune["epci"],
                "millesime_avant": pair[0],
                "millesime_apres": pair[1],
                "methode": next((s["methode"] for s in stocks.values() if s), entry.get("methode_flux")),
                "surface_ha": entry["surface_ha"],
                "surface_artificialisee_avant_ha": before["surface_artificialisee_ha"] if before else None,
                "taux_artificialisation_avant": before["taux_artificialisation"] if before else None,
                "surface_artificialisee_ha": entry["surface_artificialisee_ha"],
                "taux_artificialisation": entry["taux_artificialisation"],
                "artificialisation_ha": entry["artificialisation_ha"],
                "desartificialisation_ha": entry["desartificialisation_ha"],
                "artificialisation_nette_ha": entry["artificialisation_nette_ha"],
                "artificialisation_nette_pct": entry["artificialisation_nette_pct"],
                "ecart_coherence_ha": entry["ecart_coherence_ha"],
                "geometry": commune.geometry,
            }
        )
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=f"EPSG:{epsg}")
    return frame[[*ARTIFICIALISATION_COMMUNES.fields, "geometry"]]
