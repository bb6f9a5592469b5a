"""Hand-built OCS GE slices (not IGN data) for communes of three départements in two CRSs, each with its own
millésimes: 33 (Lambert-93) 2018, 2021, 2024; 40 (Lambert-93) 2020, 2023; 974 (UTM 40S) 2017, 2022.

Every commune is a 1 000 m high rectangle cut into vertical strips, so each area is exact: a strip ``w`` metres wide
covers ``w / 10`` ha. The expected figures below are computed by hand from the strips, never by the code tested.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import geopandas as gpd
import shapely

from ocsge_processes.layers import COMMUNES, DIFFERENCE, OCCUPATION_SOL
from ocsge_processes.stores import FeatureStore

SOURCE = "hand-built test data"
HEIGHT_M = 1000
FOREST, BUILDING, ROAD, GARDEN, FACTORY = (
    ("CS2.1.1.1", "US1.1"),
    ("CS1.1.1.1", "US5"),
    ("CS1.1.1.2", "US4.1.1"),
    ("CS2.2.1", "US5"),
    ("CS1.1.1.1", "US2"),
)
#: Strips of a millésime, west to east: (width in m, (code_cs, code_us)).
Strips = list[tuple[int, tuple[str, str]]]


@dataclass(frozen=True)
class Commune:
    code: str
    departement: str
    epci: str
    epsg: int
    x0: float
    y0: float
    width_m: int
    #: The strips of each millésime of its département.
    millesimes: dict[int, Strips]

    @property
    def shape(self) -> shapely.Polygon:
        return shapely.box(self.x0, self.y0, self.x0 + self.width_m, self.y0 + HEIGHT_M)


COMMUNES_33_40_974 = (
    Commune(
        "33001",
        "33",
        "200000001",
        2154,
        400_000,
        6_400_000,
        1000,
        {
            2018: [(100, BUILDING), (900, FOREST)],
            2021: [(100, BUILDING), (50, ROAD), (30, GARDEN), (820, FOREST)],
            2024: [(100, BUILDING), (50, GARDEN), (30, FOREST), (20, BUILDING), (800, FOREST)],
        },
    ),
    Commune(
        "33002",
        "33",
        "200000001",
        2154,
        401_000,
        6_400_000,
        500,
        {year: [(50, BUILDING), (450, FOREST)] for year in (2018, 2021, 2024)},
    ),
    Commune(
        "40001",
        "40",
        "200000003",
        2154,
        410_000,
        6_400_000,
        1000,
        {2020: [(200, ROAD), (800, FOREST)], 2023: [(200, ROAD), (100, FACTORY), (700, FOREST)]},
    ),
    Commune(
        "97401",
        "974",
        "200000002",
        2975,
        340_000,
        7_660_000,
        1000,
        {2017: [(300, BUILDING), (700, FOREST)], 2022: [(300, BUILDING), (100, GARDEN), (600, FOREST)]},
    ),
)


def _boxes(commune: Commune, strips: Strips) -> list[tuple[float, float, tuple[str, str]]]:
    """(west, east, codes) of each strip."""
    out, x = [], commune.x0
    for width, codes in strips:
        out.append((x, x + width, codes))
        x += width
    return out


def _pieces(commune: Commune, strips: Strips) -> list[tuple[shapely.Geometry, tuple[str, str]]]:
    return [
        (shapely.MultiPolygon([shapely.box(west, commune.y0, east, commune.y0 + HEIGHT_M)]), codes)
        for west, east, codes in _boxes(commune, strips)
    ]


def _changes(commune: Commune, before: Strips, after: Strips) -> list[tuple[shapely.Geometry, tuple, tuple]]:
    """The difference polygons: each overlap of a strip before and one after whose codes differ."""
    found = []
    for west_a, east_a, codes_a in _boxes(commune, before):
        for west_b, east_b, codes_b in _boxes(commune, after):
            west, east = max(west_a, west_b), min(east_a, east_b)
            if east > west and codes_a != codes_b:
                box = shapely.box(west, commune.y0, east, commune.y0 + HEIGHT_M)
                found.append((shapely.MultiPolygon([box]), codes_a, codes_b))
    return found


def load(store: FeatureStore, communes: tuple[Commune, ...] = COMMUNES_33_40_974) -> None:
    """Write the communes, their OCCUPATION_SOL at each millésime and their DIFFERENCE between consecutive ones."""
    for epsg in sorted({c.epsg for c in communes}):
        here = [c for c in communes if c.epsg == epsg]
        for departement in sorted({c.departement for c in here}):
            mine = [c for c in here if c.departement == departement]
            frame = gpd.GeoDataFrame(
                {
                    "code_insee": [c.code for c in mine],
                    "nom": [f"Commune {c.code}" for c in mine],
                    "departement": departement,
                    "epci": [c.epci for c in mine],
                },
                geometry=[shapely.MultiPolygon([c.shape]) for c in mine],
                crs=epsg,
            )
            store.replace_slice(COMMUNES, epsg, frame, {"departement": departement})
            years = sorted(mine[0].millesimes)
            for year in years:
                rows = [(c, g, codes) for c in mine for g, codes in _pieces(c, c.millesimes[year])]
                store.replace_slice(
                    OCCUPATION_SOL,
                    epsg,
                    _occupation(rows, year, departement, epsg),
                    {
                        "departement": departement,
                        "millesime": year,
                    },
                )
            for before, after in itertools.pairwise(years):
                rows = [
                    (geometry, a, b)
                    for c in mine
                    for geometry, a, b in _changes(c, c.millesimes[before], c.millesimes[after])
                ]
                if rows:
                    store.replace_slice(
                        DIFFERENCE,
                        epsg,
                        _difference(rows, before, after, departement, epsg),
                        {"departement": departement, "millesime_avant": before, "millesime_apres": after},
                    )


def _occupation(rows: list, year: int, departement: str, epsg: int) -> gpd.GeoDataFrame:
    count = len(rows)
    return gpd.GeoDataFrame(
        {
            "id": [f"OS_{departement}_{year}_{i}" for i in range(count)],
            "code_cs": [codes[0] for _, _, codes in rows],
            "code_us": [codes[1] for _, _, codes in rows],
            "millesime": [year] * count,
            "source": [SOURCE] * count,
            "ossature": [0] * count,
            "id_origine": ["NC"] * count,
            "code_or": ["NC"] * count,
            "departement": [departement] * count,
            "libelle_cs": [None] * count,
            "libelle_us": [None] * count,
        },
        geometry=[geometry for _, geometry, _ in rows],
        crs=epsg,
    )


def _difference(rows: list, before: int, after: int, departement: str, epsg: int) -> gpd.GeoDataFrame:
    count = len(rows)
    return gpd.GeoDataFrame(
        {
            "id": [f"DIFF_{departement}_{before}_{after}_{i}" for i in range(count)],
            "code_cs_avant": [a[0] for _, a, _ in rows],
            "code_us_avant": [a[1] for _, a, _ in rows],
            "code_cs_apres": [b[0] for _, _, b in rows],
            "code_us_apres": [b[1] for _, _, b in rows],
            "millesime_avant": [before] * count,
            "millesime_apres": [after] * count,
            "departement": [departement] * count,
        },
        geometry=[geometry for geometry, _, _ in rows],
        crs=epsg,
    )
