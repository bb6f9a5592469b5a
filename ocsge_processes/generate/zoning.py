"""Generated urban zoning (not a real plan) in the CNIG ZONE_URBA layout, over the communes of a generated delivery.

No real plan can be downloaded here, so ``ocsge generate --zonage`` draws one plausible PLU per commune from its
generated land at the first millésime: U around the built-up zones, AUc then AUs in rings around U (so that later
millésimes artificialise them), N over the forests of the rest, A elsewhere. Every zone says it is generated
(``source``, ``IDURBA`` and ``LIBELONG``), and the file is named and laid out as a plan's ZONE_URBA so that
``ocsge ingest`` reads it as it reads the Géoportail de l'Urbanisme's.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pyogrio
import shapely
from shapely.geometry.base import BaseGeometry

from ..layers import GENERATED_SOURCE
from .dataset import GeneratedOcsge
from .delivery import departement_token

#: Built-up zones widened into the U zone, and the outer edges of the AUc and AUs rings around it (m).
U_MARGIN_M, AUC_RING_M, AUS_RING_M = 20.0, 150.0, 300.0
#: Couvertures read as forest (CS2.1.x, ligneous vegetation): the N zones.
FOREST_PREFIX = "CS2.1"
#: (LIBELLE, TYPEZONE, LIBELONG) of each generated zone.
_ZONES = (
    ("U", "U", "Zone urbaine (GÉNÉRÉE)"),
    ("1AU", "AUc", "Zone à urbaniser ouverte (GÉNÉRÉE)"),
    ("2AU", "AUs", "Zone à urbaniser fermée (GÉNÉRÉE)"),
    ("A", "A", "Zone agricole (GÉNÉRÉE)"),
    ("N", "N", "Zone naturelle et forestière (GÉNÉRÉE)"),
)


def generate_zoning(communes: gpd.GeoDataFrame, generated: GeneratedOcsge) -> gpd.GeoDataFrame:
    """One generated plan per commune of ``communes`` (``code_insee`` and a geometry), in the delivery's CRS."""
    communes = communes.to_crs(generated.epsg)
    first = generated.millesimes[0]
    built = generated.zone_construite[first]
    land = generated.occupation[first]
    forests = land[land["code_cs"].astype(str).str.startswith(FOREST_PREFIX)]
    built_shapes = np.asarray(built.geometry.array, dtype=object)
    forest_shapes = np.asarray(forests.geometry.array, dtype=object)
    built_tree, forest_tree = shapely.STRtree(built_shapes), shapely.STRtree(forest_shapes)
    rows: list[dict[str, object]] = []
    geometries: list[BaseGeometry] = []
    for code, commune in zip(communes["code_insee"].astype(str), communes.geometry, strict=True):
        built_here = shapely.union_all(built_shapes[built_tree.query(commune, predicate="intersects")])
        forest_here = shapely.union_all(forest_shapes[forest_tree.query(commune, predicate="intersects")])
        for (libelle, typezone, libelong), shape in zip(_ZONES, _shapes(commune, built_here, forest_here), strict=True):
            if shape.is_empty or shape.area == 0:
                continue
            rows.append(_attributes(code, len(rows), libelle, typezone, libelong, first))
            geometries.append(shape)
    return gpd.GeoDataFrame(rows, geometry=geometries, crs=generated.epsg)


def write_zoning(zoning: gpd.GeoDataFrame, generated: GeneratedOcsge, out_dir: Path) -> Path:
    """The generated plans as one GeoPackage whose name tells ingest its layer and département."""
    path = Path(out_dir) / f"ZONE_URBA_GENERATED_{departement_token(generated.departement)}.gpkg"
    path.unlink(missing_ok=True)
    pyogrio.write_dataframe(
        zoning, path, layer="zone_urba", driver="GPKG", geometry_type="MultiPolygon", promote_to_multi=True
    )
    return path


def _shapes(commune: BaseGeometry, built: BaseGeometry, forest: BaseGeometry) -> list[BaseGeometry]:
    """U, AUc, AUs, A and N inside ``commune``: rings around the built-up land, then forest or not."""
    urban = shapely.intersection(commune, shapely.buffer(built, U_MARGIN_M))
    inner = shapely.intersection(commune, shapely.buffer(urban, AUC_RING_M))
    outer = shapely.intersection(commune, shapely.buffer(urban, AUS_RING_M))
    rest = shapely.difference(commune, outer)
    natural = shapely.intersection(rest, forest)
    return [
        _polygons(urban),
        _polygons(shapely.difference(inner, urban)),
        _polygons(shapely.difference(outer, inner)),
        _polygons(shapely.difference(rest, natural)),
        _polygons(natural),
    ]


def _polygons(geometry: BaseGeometry) -> BaseGeometry:
    """The polygons of an overlay result (its lines and points dropped)."""
    parts = [part for part in shapely.get_parts(geometry) if shapely.get_type_id(part) == 3 and part.area > 0]
    return shapely.MultiPolygon(parts)


def _attributes(code: str, index: int, libelle: str, typezone: str, libelong: str, year: int) -> dict[str, object]:
    """The CNIG fields of one generated zone, lower case as the Géoportail de l'Urbanisme's GeoPackage names them;
    its plan is dated the 1st of January of the first millésime."""
    return {
        "idurba": f"{code}_PLU_GENERE_{year}0101",
        "idzone": f"{code}_Z{index + 1}",
        "libelle": libelle,
        "libelong": libelong,
        "typezone": typezone,
        "destdomi": "00",
        "nomfic": None,
        "urlfic": None,
        "insee": code,
        "datappro": f"{year}0101",
        "datvalid": f"{year}0101",
        "source": GENERATED_SOURCE,
    }
