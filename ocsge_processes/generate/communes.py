"""Commune contours to generate on, read from Admin Express GeoJSON or a GeoPackage layer (e.g. SYBARVAL's)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import geopandas as gpd
import pyogrio

from ..errors import InvalidInputError, UnknownCodeError
from ..territory import departement_epsg, departement_of_commune, normalise_departement

#: Field names of the INSEE code and of the name, as the known sources spell them (compared case-insensitively).
CODE_FIELDS = ("code_insee", "insee_com", "code")
NAME_FIELDS = ("nom", "nom_com", "name")


def read_communes(
    path: str | Path,
    codes: Iterable[str] | None = None,
    departement: str | None = None,
    *,
    layer: str | None = None,
) -> gpd.GeoDataFrame:
    """Communes (``code_insee``, ``nom``, geometry) sorted by code, in the CRS of their département.

    ``codes`` selects communes (an unknown code is an error); ``departement`` keeps that département's communes.
    Without ``layer``, the first layer of the file that has an INSEE code field is read.
    """
    path = Path(path)
    if not path.exists():
        raise InvalidInputError(f"commune file {path} does not exist")
    layer, code_field, name_field = _find_layer(path, layer)
    columns = [code_field] + ([name_field] if name_field else [])
    frame = pyogrio.read_dataframe(path, layer=layer, columns=columns)
    if not isinstance(frame, gpd.GeoDataFrame):  # pyogrio reads a layer without geometry as a plain DataFrame
        raise InvalidInputError(f"layer {layer!r} of {path} has no geometry; communes need their contours")
    if frame.crs is None:
        raise InvalidInputError(f"layer {layer!r} of {path} has no CRS; cannot reproject it to the territory CRS")
    frame = frame.rename(columns={code_field: "code_insee", **({name_field: "nom"} if name_field else {})})
    frame["code_insee"] = frame["code_insee"].astype(str).str.strip().str.upper()
    if "nom" not in frame:
        frame["nom"] = frame["code_insee"]

    if departement is not None:
        departement = normalise_departement(departement)
        frame = frame[[_departement_or_none(code) == departement for code in frame["code_insee"]]]
    if codes is not None:
        wanted = sorted({str(code).strip().upper() for code in codes})
        missing = sorted(set(wanted) - set(frame["code_insee"]))
        if missing:
            where = f"département {departement} of {path}" if departement else str(path)
            raise UnknownCodeError(f"commune code(s) {', '.join(missing)} not found in {where}")
        frame = frame[frame["code_insee"].isin(wanted)]
    if frame.empty:
        raise InvalidInputError(f"no commune selected in {path} (codes={codes}, departement={departement})")

    frame = frame.sort_values("code_insee").reset_index(drop=True)
    epsg = departement_epsg(departement or departement_of_communes(frame))
    return frame[["code_insee", "nom", "geometry"]].to_crs(epsg)


def departement_of_communes(communes: gpd.GeoDataFrame) -> str:
    """The one département of ``communes``; an error if they span several."""
    found = sorted({departement_of_commune(code) for code in communes["code_insee"]})
    if len(found) != 1:
        raise InvalidInputError(f"communes from {len(found)} départements ({', '.join(found)}); select one département")
    return found[0]


def _departement_or_none(code: str) -> str | None:
    try:
        return departement_of_commune(code)
    except UnknownCodeError:
        return None


def _find_layer(path: Path, layer: str | None) -> tuple[str, str, str | None]:
    layers = [str(name) for name, _ in pyogrio.list_layers(path)]
    if layer is not None and layer not in layers:
        raise InvalidInputError(f"layer {layer!r} not in {path}; it has {', '.join(layers)}")
    for name in [layer] if layer else layers:
        fields = {str(f).lower(): str(f) for f in pyogrio.read_info(path, layer=name)["fields"]}
        code = next((fields[f] for f in CODE_FIELDS if f in fields), None)
        if code is not None:
            return name, code, next((fields[f] for f in NAME_FIELDS if f in fields), None)
    raise InvalidInputError(
        f"no layer of {path} has a commune code field ({', '.join(CODE_FIELDS)}); layers: {', '.join(layers)}"
    )
