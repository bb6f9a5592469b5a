"""The optional outputs of the `artificialisation` process: the indicators as a CSV table, and the artificialised
zones of a territory as GeoJSON (the land the rate counts, to check it on a map)."""

from __future__ import annotations

import csv
import io
import json

import geopandas as gpd
import pandas as pd

from ..artificialisation import artificial_status, decree_categories
from ..errors import InvalidInputError
from ..stores import FeatureStore
from .artificialisation import LayerCache, checked_available, checked_request, stock_layers

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
)

#: Most polygons a GeoJSON of zones may hold; larger territories are better read from the Features collections.
MAX_ZONES = 100_000


def table_csv(document: dict) -> str:
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


def artificial_zones(
    store: FeatureStore,
    territoire: object,
    millesimes: object,
    methode: str | None = None,
    detail_communes: bool = False,
) -> dict:
    """A GeoJSON FeatureCollection (CRS84) of the artificialised polygons of the last of ``millesimes`` cut to the
    territory, with their codes, decree category and the method that decided. Inputs are checked as ``run`` checks
    them, without computing the indicators."""
    years, resolved = checked_request(store, territoire, millesimes, methode, detail_communes)
    territory, millesime = resolved.territory, years[-1]
    with LayerCache(store, territory) as data:
        checked_available(data, years)
        source = stock_layers(data, millesime, methode)
        if source is None:
            raise InvalidInputError(
                f"no OCCUPATION_SOL or ARTIF layer is ingested for millésime {millesime} on "
                "this territory: there are no artificialised zones to draw"
            )
        frames, method = source
        zones = []
        for frame in frames:
            epsg = frame.crs.to_epsg()
            mask = gpd.GeoSeries([part.geometry for part in territory.parts_in(epsg)], crs=frame.crs).union_all()
            candidates = frame[artificial_status(frame, method).fillna(False).to_numpy(bool)]
            candidates = candidates[candidates.intersects(mask)]
            if len(candidates) > MAX_ZONES:
                raise InvalidInputError(
                    f"the territory has {len(candidates)} artificialised polygons, more than "
                    f"{MAX_ZONES} for one GeoJSON: ask for a smaller territory, or read the "
                    "ocsge-occupation-sol collection by pages"
                )
            clipped = candidates.clip(mask, keep_geom_type=True)
            zones.append(
                gpd.GeoDataFrame(
                    {
                        "code_cs": clipped["code_cs"],
                        "code_us": clipped["code_us"],
                        "categorie_decret": decree_categories(clipped["code_cs"], clipped["code_us"]).astype("string"),
                        "surface_m2": clipped.area.round(2),
                        "millesime": millesime,
                        "methode": method,
                    },
                    geometry=clipped.geometry.values,
                    crs=frame.crs,
                ).to_crs("OGC:CRS84")
            )
    merged = pd.concat(zones, ignore_index=True) if zones else gpd.GeoDataFrame(geometry=[], crs="OGC:CRS84")
    return json.loads(merged.to_json(drop_id=True))
