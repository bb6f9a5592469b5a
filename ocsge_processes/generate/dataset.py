"""Generated OCS GE for a set of communes: two millésimes, their zones construites and the DIFF between them.

Each commune draws from its own random streams (seeded by ``seed`` and its INSEE code) and rural patches are hashed
from map coordinates, so adding, removing or reordering communes does not reshuffle the others; only the main roads,
drawn between the centres of the communes given, depend on the selection.
"""

from __future__ import annotations

import itertools
import zlib
from collections.abc import Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from tqdm import tqdm

from ..errors import InvalidInputError
from ..layers import GENERATED_SOURCE
from ..nomenclature import MIN_AREA_M2
from ..territory import departement_epsg, departement_of_commune, normalise_departement
from . import landcover
from .landcover import CODE_CS, CODE_US, IS_BUILDING, IS_ROAD
from .layout import commune_centres, plan_commune, road_network
from .partition import partition_commune, polygon_parts

#: Value of ``source`` in every generated polygon: generated data must say so.
SOURCE = GENERATED_SOURCE
_YEARS = range(2000, 2101)


@dataclass(frozen=True)
class GeneratedOcsge:
    """The generated layers of one département, in its projected CRS."""

    departement: str
    epsg: int
    #: Two or more increasing years.
    millesimes: tuple[int, ...]
    #: OCCUPATION_SOL per millésime; polygon ids are the same in every one.
    occupation: dict[int, gpd.GeoDataFrame]
    zone_construite: dict[int, gpd.GeoDataFrame]
    #: The DIFF of each consecutive pair of millésimes, as IGN delivers them.
    diffs: dict[tuple[int, int], gpd.GeoDataFrame]

    @property
    def diff(self) -> gpd.GeoDataFrame:
        """The DIFF between the first two millésimes."""
        return self.diffs[(self.millesimes[0], self.millesimes[1])]


def generate(
    communes: gpd.GeoDataFrame,
    *,
    departement: str,
    millesimes: Sequence[int | str] = (2021, 2024),
    cell_size_m: float = 100.0,
    urban_cell_size_m: float = 25.0,
    seed: int = 0,
    progress: bool = True,
) -> GeneratedOcsge:
    """Partition each commune into OCS GE-like polygons and derive each later millésime from the one before, and
    the DIFF of each consecutive pair.

    ``communes`` needs ``code_insee`` and a geometry; ``cell_size_m`` is the seed spacing outside built-up zones and
    ``urban_cell_size_m`` inside them, in metres.
    """
    departement = normalise_departement(departement)
    epsg = departement_epsg(departement)
    years = check_millesimes(millesimes)
    _check_sizes(cell_size_m, urban_cell_size_m, seed)
    communes = _prepare(communes, departement, epsg)

    geometries = np.asarray(communes.geometry.array, dtype=object)
    centres = commune_centres(geometries)
    network = road_network(centres)
    network_tree = shapely.STRtree(network)
    rows = zip(communes["code_insee"], geometries, centres, strict=True)
    results = [
        _generate_commune(
            code,
            geometry,
            centre,
            network[network_tree.query(geometry)],
            seed=seed,
            cell_size_m=cell_size_m,
            urban_cell_size_m=urban_cell_size_m,
            count=len(years),
        )
        for code, geometry, centre in tqdm(
            rows, total=len(communes), disable=not progress, unit="commune", desc="ocsge generate"
        )
    ]

    geometry = _multi(np.concatenate([result.geometry for result in results]))
    classes = {year: np.concatenate([result.classes[i] for result in results]) for i, year in enumerate(years)}
    ids = _ids("OCSGE", len(geometry), 13)
    return GeneratedOcsge(
        departement=departement,
        epsg=epsg,
        millesimes=years,
        occupation={year: _occupation(ids, classes[year], year, geometry, epsg) for year in years},
        zone_construite={
            year: _zones(np.concatenate([result.zones[i] for result in results]), year, epsg)
            for i, year in enumerate(years)
        },
        diffs={
            (before, after): _diff(geometry, classes[before], classes[after], (before, after), epsg)
            for before, after in itertools.pairwise(years)
        },
    )


@dataclass(frozen=True)
class _CommuneResult:
    geometry: np.ndarray
    #: Class indices of each polygon at each millésime.
    classes: tuple[np.ndarray, ...]
    #: Zone construite polygons at each millésime.
    zones: tuple[np.ndarray, ...]


def _generate_commune(
    code: str,
    geometry: shapely.Geometry,
    centre: np.ndarray,
    network: np.ndarray,
    *,
    seed: int,
    cell_size_m: float,
    urban_cell_size_m: float,
    count: int = 2,
) -> _CommuneResult:
    """One commune at ``count`` millésimes, from its own random streams (layout, partition, land cover, changes:
    each millésime evolves from the one before with the same stream, so the first two do not depend on ``count``)."""
    streams = [np.random.default_rng(s) for s in np.random.SeedSequence([seed, zlib.crc32(code.encode())]).spawn(4)]
    layout = plan_commune(geometry, centre, network, streams[0])
    cells = partition_commune(layout, cell_size_m=cell_size_m, urban_cell_size_m=urban_cell_size_m, rng=streams[1])
    classes = [landcover.assign_classes(cells, layout, seed=seed, cell_size_m=cell_size_m, rng=streams[2])]
    zones = [_dissolve(cells.geometry[cells.built_up])]
    for _ in range(count - 1):
        before = classes[-1]
        after = landcover.evolve_classes(before, cells, layout, streams[3])
        # The zone construite grows with the new buildings outside it, so every unit stays valid at each millésime.
        new_buildings = cells.geometry[~cells.built_up & IS_BUILDING[after] & (before != after)]
        classes.append(after)
        zones.append(_dissolve(np.concatenate([zones[-1], new_buildings])))
    return _CommuneResult(cells.geometry, tuple(classes), tuple(zones))


def check_millesimes(millesimes: Sequence[int | str]) -> tuple[int, ...]:
    """The millésimes as increasing years; an error unless they are two or more increasing years (IGN delivers two
    or three per département)."""
    try:
        years = tuple(int(year) for year in millesimes)
    except (TypeError, ValueError):
        raise InvalidInputError(
            f"millésimes must be two or more years such as 2021,2024 or 2018,2021,2024; got {millesimes!r}"
        ) from None
    if len(years) < 2 or any(a >= b for a, b in itertools.pairwise(years)) or any(y not in _YEARS for y in years):
        raise InvalidInputError(
            f"millésimes must be two or more increasing years between {_YEARS[0]} and {_YEARS[-1]}; got {millesimes!r}"
        )
    return years


def _check_sizes(cell_size_m: float, urban_cell_size_m: float, seed: int) -> None:
    smallest = float(np.sqrt(MIN_AREA_M2))
    if not smallest <= cell_size_m <= 10_000:
        raise InvalidInputError(f"cell size must be between {smallest:g} and 10000 m; got {cell_size_m!r}")
    if not 20 <= urban_cell_size_m <= cell_size_m:
        raise InvalidInputError(
            f"built-up cell size must be between 20 m and the cell size ({cell_size_m:g} m); got {urban_cell_size_m!r}"
        )
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise InvalidInputError(f"seed must be a non-negative integer; got {seed!r}")


def _prepare(communes: gpd.GeoDataFrame, departement: str, epsg: int) -> gpd.GeoDataFrame:
    """Communes sorted by code, valid, in the territory CRS; an error for anything that cannot be generated on."""
    if "code_insee" not in communes or communes.empty:
        raise InvalidInputError("communes must be a non-empty GeoDataFrame with a code_insee column")
    if communes.crs is None:
        raise InvalidInputError("communes have no CRS; set one before generating")
    codes = communes["code_insee"].astype(str)
    if codes.duplicated().any():
        raise InvalidInputError(f"duplicate commune codes: {', '.join(sorted(set(codes[codes.duplicated()])))}")
    foreign = sorted(code for code in codes if departement_of_commune(code) != departement)
    if foreign:
        raise InvalidInputError(f"communes {', '.join(foreign[:10])} are not in département {departement}")
    frame = gpd.GeoDataFrame({"code_insee": codes.to_numpy()}, geometry=communes.geometry.to_crs(epsg).array)
    frame["geometry"] = shapely.make_valid(np.asarray(frame.geometry.array, dtype=object))
    return frame.sort_values("code_insee").reset_index(drop=True)


def _occupation(
    ids: np.ndarray, classes: np.ndarray, millesime: int, geometry: np.ndarray, epsg: int
) -> gpd.GeoDataFrame:
    count = len(ids)
    return gpd.GeoDataFrame(
        {
            "id": ids,
            "code_cs": CODE_CS[classes],
            "code_us": CODE_US[classes],
            "millesime": np.full(count, str(millesime), dtype=object),
            "source": np.full(count, SOURCE, dtype=object),
            "ossature": IS_ROAD[classes].astype(np.int32),
            "id_origine": np.full(count, "NC", dtype=object),
            "code_or": np.full(count, "NC", dtype=object),
        },
        geometry=geometry,
        crs=epsg,
    )


def _diff(
    geometry: np.ndarray, before: np.ndarray, after: np.ndarray, millesimes: tuple[int, int], epsg: int
) -> gpd.GeoDataFrame:
    changed = before != after
    count = int(changed.sum())
    return gpd.GeoDataFrame(
        {
            "id": _ids("OCSGEDIFF", count, 9),
            "cs_avant": CODE_CS[before[changed]],
            "us_avant": CODE_US[before[changed]],
            "cs_apres": CODE_CS[after[changed]],
            "us_apres": CODE_US[after[changed]],
            "millesime_avant": np.full(count, millesimes[0], np.int32),
            "millesime_apres": np.full(count, millesimes[1], np.int32),
        },
        geometry=geometry[changed],
        crs=epsg,
    )


def _zones(geometry: np.ndarray, millesime: int, epsg: int) -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "id": _ids("ZONECONS", len(geometry), 10),
            "millesime": np.full(len(geometry), str(millesime), dtype=object),
        },
        geometry=_multi(geometry),
        crs=epsg,
    )


def _ids(prefix: str, count: int, digits: int) -> np.ndarray:
    return np.char.add(prefix, np.char.zfill(np.arange(1, count + 1).astype(str), digits)).astype(object)


def _dissolve(polygons: np.ndarray) -> np.ndarray:
    """Parts of the union of cells of one partition (the zone construite of a commune)."""
    if len(polygons) == 0:
        return np.empty(0, dtype=object)
    # The coverage union is exact and much faster for cells that share their edges; check it, fall back if not.
    expected_m2 = float(shapely.area(polygons).sum())
    try:
        merged = shapely.coverage_union_all(polygons)
    except shapely.errors.GEOSException:
        merged = None
    if merged is None or not shapely.is_valid(merged) or abs(shapely.area(merged) - expected_m2) > 1e-9 * expected_m2:
        merged = shapely.union_all(polygons)
    return polygon_parts(np.array([merged]))[0]


def _multi(geometry: np.ndarray) -> np.ndarray:
    """Each polygon as a MultiPolygon, the geometry type of IGN's layers."""
    polygons, index = polygon_parts(geometry)
    multi = np.empty(len(geometry), dtype=object)
    shapely.multipolygons(polygons, indices=index, out=multi)
    return multi
