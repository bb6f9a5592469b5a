"""The optional outputs of the `artificialisation` process: the indicators as a CSV table, and the artificialised
zones of a territory as GeoJSON (the land the rate counts, to check it on a map)."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import geopandas as gpd
import pandas as pd

from ..artificialisation import artificial_status, decree_categories
from ..errors import InvalidInputError
from .artificialisation import Indicators, LayerCache, Request, checked_millesimes, stock_layers

#: Columns of the CSV table, one row per territory then per commune.
TABLE_COLUMNS = (
    "code",
    "nom",
    "type",
    "surface_ha",
    "surface_artificialisee_ha",
    "taux_artificialisation",
    "artificialisation_ha",
    "desartificialisation_ha",
    "artificialisation_nette_ha",
    "artificialisation_nette_pct",
    "ecart_coherence_ha",
    "surface_impermeabilisee_ha",
    "taux_impermeabilisation",
    "impermeabilisation_ha",
    "desimpermeabilisation_ha",
    "impermeabilisation_nette_ha",
    "impermeabilisation_nette_pct",
)

#: Most polygons a GeoJSON of zones may hold; larger territories are better read from the Features collections.
MAX_ZONES = 100_000


def table_csv(document: Indicators) -> str:
    """The indicators document as CSV (RFC 4180, '.' decimals), empty cells where a figure is not available."""
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=["millesimes", *TABLE_COLUMNS], extrasaction="ignore", lineterminator="\r\n"
    )
    writer.writeheader()
    years = "-".join(map(str, document["millesimes"]))
    for entry in [*document["territoires"], *document.get("communes", [])]:
        writer.writerow({"millesimes": years, **entry})
    return out.getvalue()


# Any: a GeoJSON FeatureCollection, as geopandas writes it
def artificial_zones(request: Request) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (CRS84) of the artificialised polygons of the last millésime of ``request`` (see
    ``checked_request``) cut to the territory, with their codes, decree category and the method that decided."""
    territory = request.resolved.territory
    with LayerCache(request.store, territory) as data:
        _, selection = checked_millesimes(data, request)
        millesime = selection.labels[-1]
        source = stock_layers(data, selection.at(len(selection.labels) - 1), request.methode)
        if source is None:
            raise InvalidInputError(
                f"no OCCUPATION_SOL or ARTIF layer is ingested for millésime {millesime} on "
                "this territory: there are no artificialised zones to draw"
            )
        frames, method = source
        zones = []
        for frame in frames:
            epsg = frame.crs.to_epsg() if frame.crs is not None else None
            if epsg is None:  # the store reads each layer in the EPSG CRS of its table
                raise InvalidInputError(f"an OCS GE layer has no EPSG CRS ({frame.crs})")
            mask = gpd.GeoSeries([part.geometry for part in territory.parts_in(epsg)], crs=frame.crs).union_all()
            candidates = frame[artificial_status(frame, method).fillna(False).to_numpy(bool)]
            candidates = candidates[candidates.intersects(mask)]
            if len(candidates) > MAX_ZONES:
                raise InvalidInputError(
                    f"the territory has {len(candidates)} artificialised polygons, more than "
                    f"{MAX_ZONES} for one GeoJSON: ask for a smaller territory, or read the "
                    "ocsge-occupation-sol collection by pages"
                )
            clipped = candidates.clip(gpd.GeoSeries([mask], crs=frame.crs), keep_geom_type=True)
            zones.append(
                gpd.GeoDataFrame(
                    {
                        "code_cs": clipped["code_cs"],
                        "code_us": clipped["code_us"],
                        "categorie_decret": decree_categories(clipped["code_cs"], clipped["code_us"]).astype("string"),
                        "surface_m2": clipped.area.round(2),
                        "millesime": clipped["millesime"],
                        "methode": method,
                    },
                    geometry=clipped.geometry.values,
                    crs=frame.crs,
                ).to_crs("OGC:CRS84")
            )
    merged = pd.concat(zones, ignore_index=True) if zones else gpd.GeoDataFrame(geometry=[], crs="OGC:CRS84")
    collection: dict[str, Any] = json.loads(merged.to_json(drop_id=True))
    return collection
