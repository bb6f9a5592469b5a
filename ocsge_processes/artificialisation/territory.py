"""A territory as the artificialisation indicators see it: pieces of land, each in the projected CRS it is measured in.

The official tool measures each commune in its département's CRS (Lambert-93 or an overseas UTM zone) and
aggregates larger territories as Σ areas / Σ areas (sparte ``merge_ocsge_indicateur_commune_by_admin_level.sql``).
Keeping the pieces apart, instead of one geometry, is what lets a territory span two CRSs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

import geopandas as gpd
import pyproj
import shapely
from shapely.geometry.base import BaseGeometry

from ..errors import InvalidInputError
from ..territory import listed_epsgs


@dataclass(frozen=True)
class TerritoryPart:
    """One piece of a territory (typically a commune), in the projected CRS ``epsg`` where its areas are planar."""

    epsg: int
    geometry: BaseGeometry

    def __post_init__(self) -> None:
        crs = pyproj.CRS.from_epsg(self.epsg)
        if not crs.is_projected:
            raise InvalidInputError(
                f"EPSG:{self.epsg} ({crs.name}) is not projected; areas are planar in the "
                f"territory's projected CRS ({listed_epsgs()})"
            )
        if shapely.get_type_id(self.geometry) not in (3, 6):
            raise InvalidInputError(
                f"a territory part must be a Polygon or MultiPolygon, not {self.geometry.geom_type}"
            )
        if not math.isfinite(self.surface_m2):  # coordinates beyond what the CRS can hold: rates would be NaN
            raise InvalidInputError(
                f"the territory has no finite area in EPSG:{self.epsg} ({crs.name}): its "
                "coordinates lie beyond what that CRS can represent"
            )

    @property
    def surface_m2(self) -> float:
        """Planar area in m², the denominator of the rates."""
        return float(self.geometry.area)


@dataclass(frozen=True)
class Territory:
    """A named territory made of non-overlapping parts; its area is the sum of theirs."""

    code: str
    nom: str
    kind: str
    parts: tuple[TerritoryPart, ...]

    def __post_init__(self) -> None:
        if not self.parts:
            raise InvalidInputError(f"territory {self.code} has no geometry")

    @property
    def surface_m2(self) -> float:
        """Σ of the parts' planar areas, each in its own CRS."""
        return sum(part.surface_m2 for part in self.parts)

    @property
    def epsgs(self) -> list[int]:
        """The CRSs the territory is measured in."""
        return sorted({part.epsg for part in self.parts})

    def parts_in(self, epsg: int) -> list[TerritoryPart]:
        """The parts measured in EPSG:``epsg``."""
        return [part for part in self.parts if part.epsg == epsg]

    @classmethod
    def from_frame(cls, frame: gpd.GeoDataFrame, code: str, nom: str, kind: str) -> Territory:
        """A territory whose parts are the rows of ``frame`` (e.g. its communes), in the frame's CRS."""
        epsg = frame.crs.to_epsg() if frame.crs is not None else None
        if epsg is None:
            raise InvalidInputError(f"the geometries of territory {code} need a CRS with an EPSG code, not {frame.crs}")
        return cls(code, nom, kind, tuple(TerritoryPart(epsg, geometry) for geometry in frame.geometry))


def combine(code: str, nom: str, kind: str, territories: Iterable[Territory]) -> Territory:
    """One territory made of the parts of several (communes of an EPCI, départements in different CRSs)."""
    return Territory(code, nom, kind, tuple(part for territory in territories for part in territory.parts))
