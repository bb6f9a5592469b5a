"""Couverture and usage codes for generated polygons, and how they change between two millésimes.

The land-cover classes, their mixes and their transitions are data tables. Rural land comes in patches of one class
drawn from a landscape (forest, farmland, vineyard, wetland); both are hashed from lattice coordinates in the
territory CRS, so they run on across commune borders and do not depend on which communes are generated.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import shapely

from ..nomenclature import MIN_AREA_BUILT_UP_M2
from .layout import CommuneLayout
from .partition import ROAD, RURAL, URBAN, CommunePartition, minimum_area_m2

#: Every (couverture, usage) pair the generator writes, by name. Only nomenclature leaves.
CLASSES: dict[str, tuple[str, str]] = {
    "building_residential": ("CS1.1.1.1", "US5"),
    "building_industry": ("CS1.1.1.1", "US2"),
    "building_services": ("CS1.1.1.1", "US3"),
    "building_mixed": ("CS1.1.1.1", "US235"),
    "building_logistics": ("CS1.1.1.1", "US4.2"),
    "building_farm": ("CS1.1.1.1", "US1.1"),
    "building_abandoned": ("CS1.1.1.1", "US6.2"),
    "road": ("CS1.1.1.2", "US4.1.1"),
    "parking_services": ("CS1.1.1.2", "US3"),
    "yard_industry": ("CS1.1.1.2", "US2"),
    "courtyard": ("CS1.1.1.2", "US5"),
    "sports_ground": ("CS1.1.2.2", "US3"),
    "building_site": ("CS1.1.2.1", "US6.1"),
    "quarry": ("CS1.1.2.1", "US1.3"),
    "garden": ("CS2.2.1", "US5"),
    "lawn_services": ("CS2.2.1", "US3"),
    "park_trees": ("CS2.1.1.1", "US3"),
    "crops": ("CS2.2.1", "US1.1"),
    "vineyard": ("CS2.1.3", "US1.1"),
    "broadleaf_forest": ("CS2.1.1.1", "US1.2"),
    "conifer_forest": ("CS2.1.1.2", "US1.2"),
    "mixed_forest": ("CS2.1.1.3", "US1.2"),
    "clear_cut": ("CS2.1.2", "US1.2"),
    "heath": ("CS2.1.2", "US6.3"),
    "grassland": ("CS2.2.1", "US6.3"),
    "bare_soil": ("CS1.2.1", "US6.3"),
    "water": ("CS1.2.2", "US6.3"),
    "aquaculture": ("CS1.2.2", "US1.4"),
}
NAMES: tuple[str, ...] = tuple(CLASSES)
CODE_CS = np.array([cs for cs, _ in CLASSES.values()], dtype=object)
CODE_US = np.array([us for _, us in CLASSES.values()], dtype=object)
IS_BUILDING = CODE_CS == "CS1.1.1.1"
IS_ROAD = np.array([name == "road" for name in NAMES])

#: Blocks between streets by nucleus type: (weight, mix of the block's cells). Weights are normalised on use.
URBAN_BLOCKS: dict[str, dict[str, tuple[float, dict[str, float]]]] = {
    "residential": {
        "dense": (
            45,
            {
                "building_residential": 58,
                "building_mixed": 8,
                "building_services": 8,
                "courtyard": 12,
                "garden": 12,
                "building_site": 2,
            },
        ),
        "suburban": (
            35,
            {
                "building_residential": 40,
                "garden": 48,
                "courtyard": 5,
                "park_trees": 3,
                "building_site": 4,
            },
        ),
        "services": (
            12,
            {
                "building_services": 45,
                "parking_services": 25,
                "lawn_services": 15,
                "sports_ground": 10,
                "building_site": 5,
            },
        ),
        "park": (8, {"park_trees": 45, "lawn_services": 35, "sports_ground": 15, "building_services": 5}),
    },
    "activity": {
        "industry": (
            50,
            {
                "building_industry": 50,
                "yard_industry": 30,
                "lawn_services": 8,
                "building_site": 6,
                "building_abandoned": 6,
            },
        ),
        "logistics": (25, {"building_logistics": 55, "yard_industry": 35, "lawn_services": 10}),
        "commercial": (25, {"building_services": 45, "parking_services": 40, "lawn_services": 15}),
    },
}
#: Class of a built-up polygon under 500 m² (only a building may be that small), by nucleus type.
SMALL_BUILT_UP = {"residential": "building_residential", "activity": "building_industry"}
#: Every n-th row and column of the built-up seed grid is a street; blocks lie between them.
STREET_EVERY = 8
#: Landscapes (weight, mix of their patches): the broad pattern of rural land.
LANDSCAPES: dict[str, tuple[float, dict[str, float]]] = {
    "forest": (
        40,
        {
            "conifer_forest": 55,
            "broadleaf_forest": 10,
            "mixed_forest": 10,
            "clear_cut": 6,
            "heath": 6,
            "crops": 9,
            "grassland": 2,
            "water": 1,
            "quarry": 1,
        },
    ),
    "farmland": (
        30,
        {
            "crops": 62,
            "grassland": 8,
            "broadleaf_forest": 12,
            "mixed_forest": 5,
            "vineyard": 6,
            "heath": 3,
            "water": 2,
            "quarry": 1,
            "bare_soil": 1,
        },
    ),
    "vineyard": (20, {"vineyard": 60, "crops": 20, "broadleaf_forest": 10, "grassland": 7, "water": 2, "heath": 1}),
    "wetland": (
        10,
        {
            "water": 30,
            "aquaculture": 10,
            "grassland": 25,
            "heath": 10,
            "broadleaf_forest": 15,
            "bare_soil": 5,
            "crops": 5,
        },
    ),
}
#: Share of farmland, vineyard and meadow cells that hold a farm or a house.
SCATTERED: dict[str, float] = {"building_farm": 0.012, "building_residential": 0.006}
#: Landscape and patch sizes in metres; patches scale with the rural cell size.
LANDSCAPE_M = 4000.0
PATCH_CELLS = 4.0
#: Distance scale of the urban sprawl in metres: a fringe transition's rate decays as exp(-distance / this).
FRINGE_M = 400.0


@dataclass(frozen=True)
class Transition:
    """A change of class between two millésimes; ``rate`` is the chance per polygon over the period."""

    source: str
    target: str
    rate: float
    #: "fringe" (rural cells, rate decaying away from the built-up nuclei), "urban" or "rural".
    where: str


TRANSITIONS: tuple[Transition, ...] = (
    # Urban sprawl on farmland and forest next to the built-up nuclei (artificialisation).
    Transition("crops", "building_residential", 0.10, "fringe"),
    Transition("crops", "garden", 0.04, "fringe"),
    Transition("crops", "building_site", 0.03, "fringe"),
    Transition("crops", "yard_industry", 0.01, "fringe"),
    Transition("grassland", "building_residential", 0.06, "fringe"),
    Transition("vineyard", "building_residential", 0.03, "fringe"),
    Transition("conifer_forest", "building_residential", 0.03, "fringe"),
    Transition("broadleaf_forest", "building_site", 0.02, "fringe"),
    # Densification and renewal inside the nuclei; some land goes back to nature (désartificialisation).
    Transition("garden", "building_residential", 0.03, "urban"),
    Transition("courtyard", "garden", 0.02, "urban"),
    Transition("parking_services", "lawn_services", 0.02, "urban"),
    Transition("building_site", "building_industry", 0.40, "urban"),
    Transition("building_site", "grassland", 0.15, "urban"),
    Transition("building_industry", "building_abandoned", 0.02, "urban"),
    Transition("building_abandoned", "grassland", 0.10, "urban"),
    Transition("sports_ground", "park_trees", 0.03, "urban"),
    Transition("building_residential", "grassland", 0.003, "urban"),
    # Rural dynamics: forestry cycles, farms and quarries closing.
    Transition("conifer_forest", "clear_cut", 0.02, "rural"),
    Transition("clear_cut", "conifer_forest", 0.25, "rural"),
    Transition("vineyard", "crops", 0.01, "rural"),
    Transition("building_farm", "crops", 0.05, "rural"),
    Transition("building_site", "grassland", 0.20, "rural"),
    Transition("quarry", "water", 0.10, "rural"),
    Transition("quarry", "heath", 0.05, "rural"),
)


def assign_classes(
    partition: CommunePartition,
    layout: CommuneLayout,
    *,
    seed: int,
    cell_size_m: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Class index (into ``NAMES``) of each polygon of the first millésime."""
    centroid = shapely.get_coordinates(shapely.centroid(partition.geometry))
    classes = _rural_classes(centroid, seed, cell_size_m)
    # Farms and houses scattered in open land.
    scattered = np.searchsorted(np.cumsum(list(SCATTERED.values())), rng.random(len(classes)), side="right")
    hit = (partition.kind == RURAL) & np.isin(classes, _index("crops", "vineyard", "grassland"))
    hit &= scattered < len(SCATTERED)
    classes[hit] = np.array(_index(*SCATTERED))[scattered[hit]]

    urban = partition.kind == URBAN
    block = partition.lattice // STREET_EVERY
    block_draw = _hash_uniform(seed, block, salt=5)
    activity = layout.activity[partition.nucleus]
    small = shapely.area(partition.geometry) < MIN_AREA_BUILT_UP_M2
    for name, blocks in URBAN_BLOCKS.items():
        of_type = urban & (activity == (name == "activity"))
        kind = _pick(np.array([weight for weight, _ in blocks.values()]), block_draw)
        for kind_index, (_, mix) in enumerate(blocks.values()):
            cells = of_type & (kind == kind_index)
            classes[cells] = _draw(mix, int(cells.sum()), rng)
        # Built-up polygons under 500 m² can only be buildings (IGN unit 200 m²).
        classes[of_type & small & ~IS_BUILDING[classes]] = NAMES.index(SMALL_BUILT_UP[name])
    street = urban & (partition.lattice % STREET_EVERY == 0).any(axis=1) & ~small
    classes[street | (partition.kind == ROAD)] = NAMES.index("road")
    return classes


def evolve_classes(
    classes: np.ndarray, partition: CommunePartition, layout: CommuneLayout, rng: np.random.Generator
) -> np.ndarray:
    """Classes of the second millésime: each polygon takes at most one transition that keeps its unit valid."""
    area = shapely.area(partition.geometry)
    urban = partition.kind == URBAN
    rural = partition.kind == RURAL
    built_up = partition.built_up
    centroid = shapely.get_coordinates(shapely.centroid(partition.geometry))
    gap = np.linalg.norm(centroid[:, None, :] - layout.centres[None, :, :], axis=-1) - layout.radii_m
    fringe = rural * np.exp(-np.clip(gap.min(axis=1), 0, None) / FRINGE_M)
    weight = {"fringe": fringe, "urban": urban.astype(float), "rural": rural.astype(float)}

    rates = np.zeros((len(classes), len(TRANSITIONS)))
    for column, move in enumerate(TRANSITIONS):
        target = NAMES.index(move.target)
        fits = area >= minimum_area_m2(np.full(len(area), IS_BUILDING[target]), built_up | IS_BUILDING[target])
        rates[:, column] = (classes == NAMES.index(move.source)) * fits * move.rate * weight[move.where]
    cumulative = np.cumsum(rates, axis=1)
    draw = rng.random(len(classes))[:, None]
    chosen = (draw < cumulative).argmax(axis=1)
    changes = draw[:, 0] < cumulative[:, -1]
    targets = np.array([NAMES.index(move.target) for move in TRANSITIONS])
    return np.where(changes, targets[chosen], classes)


def _index(*names: str) -> list[int]:
    return [NAMES.index(name) for name in names]


def _draw(mix: dict[str, float], count: int, rng: np.random.Generator) -> np.ndarray:
    weights = np.array(list(mix.values()), dtype=float)
    return np.array(_index(*mix), dtype=np.int16)[rng.choice(len(mix), size=count, p=weights / weights.sum())]


def _rural_classes(xy: np.ndarray, seed: int, cell_size_m: float) -> np.ndarray:
    """Class of the patch that holds each point; a patch takes its mix from the landscape it lies in."""
    patch_m = PATCH_CELLS * cell_size_m
    patch = _nearest_site(xy, patch_m, seed, salt=1)
    patch_xy = _site_xy(patch, patch_m, seed, salt=1)
    landscape = _nearest_site(patch_xy, LANDSCAPE_M, seed, salt=2)
    landscape_kind = _pick(
        np.array([weight for weight, _ in LANDSCAPES.values()]), _hash_uniform(seed, landscape, salt=3)
    )
    u = _hash_uniform(seed, patch, salt=4)
    classes = np.empty(len(xy), dtype=np.int16)
    for kind, (_, mix) in enumerate(LANDSCAPES.values()):
        here = landscape_kind == kind
        classes[here] = np.array(_index(*mix), dtype=np.int16)[_pick(np.array(list(mix.values())), u[here])]
    return classes


def _pick(weights: np.ndarray, u: np.ndarray) -> np.ndarray:
    """Index drawn from ``weights`` for each uniform value in ``u``."""
    edges = np.cumsum(weights) / np.sum(weights)
    return np.minimum(np.searchsorted(edges, u, side="right"), len(weights) - 1)


def _site_xy(ij: np.ndarray, spacing_m: float, seed: int, salt: int) -> np.ndarray:
    """Position of the jittered lattice site ``ij``."""
    jitter = np.stack([_hash_uniform(seed, ij, salt=salt), _hash_uniform(seed, ij, salt=salt + 100)], axis=1)
    return (ij + 0.1 + 0.8 * jitter) * spacing_m


def _nearest_site(xy: np.ndarray, spacing_m: float, seed: int, salt: int) -> np.ndarray:
    """(col, row) of the jittered lattice site nearest each point (a Voronoi pattern that needs no geometry)."""
    base = np.floor(xy / spacing_m).astype(np.int64)
    best = np.full(len(xy), np.inf)
    nearest = base.copy()
    for offset in np.array([(di, dj) for di in (-1, 0, 1) for dj in (-1, 0, 1)]):
        site = base + offset
        distance = np.linalg.norm(_site_xy(site, spacing_m, seed, salt) - xy, axis=1)
        closer = distance < best
        best[closer], nearest[closer] = distance[closer], site[closer]
    return nearest


def _hash_uniform(seed: int, ij: np.ndarray, salt: int) -> np.ndarray:
    """Uniform value in [0, 1) for each integer pair: a splitmix64 hash of (seed, salt, i, j)."""
    with np.errstate(over="ignore"):
        start = np.uint64(seed) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(salt) * np.uint64(0xD1B54A32D192ED03)
        h = start ^ (ij[:, 0].astype(np.uint64) * np.uint64(0xBF58476D1CE4E5B9))
        h = h ^ (ij[:, 1].astype(np.uint64) * np.uint64(0x94D049BB133111EB))
        for shift, factor in ((30, 0xBF58476D1CE4E5B9), (27, 0x94D049BB133111EB)):
            h = (h ^ (h >> np.uint64(shift))) * np.uint64(factor)
        h = h ^ (h >> np.uint64(31))
    return (h >> np.uint64(11)).astype(np.float64) / float(2**53)
