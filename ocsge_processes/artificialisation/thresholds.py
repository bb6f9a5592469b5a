"""The ``decree`` method: the reference thresholds of the annex to R.101-1 applied to an OCCUPATION_SOL partition.

IGN's own processing is undocumented; this follows the official tool's former algorithm (MTES-MCT/sparte
``build_ocsge_zone_artificielle.py``) and the three cases it illustrates (sparte ``SeuilsSchemas.tsx``):

1. every polygon gets its matrix class; a linear infrastructure narrower than 5 m (annex footnote (*)) is not
   qualified on its own and is set aside;
2. touching polygons of the same class form clusters (``ST_ClusterIntersecting``: a shared corner is enough);
3. a cluster under 2 500 m² that has neighbours takes their class: a non-artificial patch enclosed in artificial land
   becomes artificial and the reverse. Clusters are flipped smallest first, a few at a time, so a small patch inside a
   small patch resolves like a sieve instead of swapping both;
4. a building (``built_covers``) of 50 m² or more stays artificial whatever its cluster became (annex 1°);
5. a narrow linear infrastructure takes the class of the land along it (longest shared boundary), and counts as
   non-artificial where nothing classified borders it.

Clusters are measured on the polygons given: pass the whole département (or a generous margin around the
territory), not polygons already clipped to a commune, or clusters at the edge look smaller than they are.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from ..errors import InvalidInputError
from ..parallel import query_pairs, threaded
from .components import connected_components, found_at, found_in, sorted_unique
from .rules import Thresholds, artificial_flags, rules

#: Columns the method reads, as OCCUPATION_SOL names them.
CODE_COLUMNS = ("code_cs", "code_us")


def apply_thresholds(polygons: gpd.GeoDataFrame, thresholds: Thresholds | None = None) -> pd.DataFrame:
    """``artif`` and ``crit_seuil`` of each polygon, as IGN's ARTIF layer names them, with the decree thresholds.

    ``polygons`` is a partition in a projected CRS (metres) with ``code_cs`` and ``code_us``. Both columns of the
    result are nullable booleans, NA where the codes give no matrix class (missing, unknown or ambiguous codes).
    ``crit_seuil`` is true where the thresholds, not the matrix, decided.
    """
    limits = thresholds or rules().thresholds
    _check(polygons)
    geoms = np.asarray(polygons.geometry.array, dtype=object)
    code_cs, code_us = polygons["code_cs"], polygons["code_us"]
    matrix = artificial_flags(code_cs, code_us)
    known = ~matrix.isna().to_numpy()
    klass = matrix.fillna(False).to_numpy(dtype=bool)
    area = shapely.area(geoms)
    narrow = known & code_us.isin(limits.linear_usages).to_numpy() & (linear_width_m(geoms) < limits.linear_min_width_m)
    active = known & ~narrow
    first, second = _deciding_pairs(geoms, klass, active, (area < limits.min_area_m2) | narrow, known)

    status = _sieve(klass, area, active, first, second, limits.min_area_m2)
    built = code_cs.isin(limits.built_covers).to_numpy() & klass & (area >= limits.built_min_area_m2)
    status |= built & active
    status = _fill_narrow(status, active, narrow, first, second, geoms)

    missing = ~known
    return pd.DataFrame(
        {
            "artif": pd.arrays.BooleanArray(status & known, missing),
            "crit_seuil": pd.arrays.BooleanArray((status != klass) & known, missing),
        },
        index=polygons.index,
    )


def linear_width_m(geoms: np.ndarray) -> np.ndarray:
    """Width of the rectangle with each polygon's area and perimeter, exact for a straight strip.

    For area A and perimeter P the sides are the roots of t² − (P/2)·t + A = 0; the width is the smaller one. A shape
    more compact than a square has no such rectangle and gets P/4 (its width if it were a square).
    """
    area, half_perimeter = shapely.area(geoms), shapely.length(geoms) / 2
    discriminant = np.maximum(half_perimeter**2 - 4 * area, 0.0)
    return (half_perimeter - np.sqrt(discriminant)) / 2


def _check(polygons: gpd.GeoDataFrame) -> None:
    missing = [column for column in CODE_COLUMNS if column not in polygons.columns]
    if missing:
        raise InvalidInputError(
            f"the decree method needs columns {', '.join(missing)} (OCCUPATION_SOL codes); "
            f"got {', '.join(map(str, polygons.columns))}"
        )
    if polygons.crs is None or not polygons.crs.is_projected:
        raise InvalidInputError(
            f"the decree thresholds are areas in m²: polygons must be in the territory's "
            f"projected CRS (EPSG:2154 or the overseas UTM zone), not {polygons.crs}"
        )


def _deciding_pairs(
    geoms: np.ndarray, klass: np.ndarray, active: np.ndarray, relevant: np.ndarray, used: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The pairs (i < j) of touching polygons whose contact can change the decree's answer.

    Boxes come from an STR-tree. A pair of two polygons of at least 2 500 m² (neither a narrow linear one) cannot
    change any answer: each lies in a cluster too large to flip, so joining two such clusters, or knowing they
    border each other, decides nothing; nor can a pair with a polygon the rules never read (``used``). Of the
    rest, pairs that share a vertex touch (found with array operations, see :func:`_share_a_vertex`). GEOS tests
    only the pairs left whose contact the shared vertices have not already settled (see :func:`_settled`): proving
    two polygons apart costs GEOS several times what finding a contact does, and most pairs left are apart.
    """
    first, second = _candidate_pairs(geoms, relevant & used, used)
    touching = _share_a_vertex(geoms, first, second)
    unsure = np.flatnonzero(~touching)
    settled = _settled(klass, active, (first[touching], second[touching]), first[unsure], second[unsure])
    unsure = unsure[~settled]
    touching[unsure] = threaded(shapely.intersects, geoms[first[unsure]], geoms[second[unsure]])
    return first[touching], second[touching]


def _candidate_pairs(geoms: np.ndarray, asked: np.ndarray, used: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Every pair (i < j) of ``used`` polygons whose boxes meet, one of them ``asked``, ordered by (i, j).

    Only the ``asked`` polygons query the STR-tree (two thirds of a partition's polygons, and fewer pairs than
    querying all of them); a pair of two asked polygons is found from both sides and kept once.
    """
    asked_at = np.flatnonzero(asked)
    query, found = query_pairs(shapely.STRtree(geoms), geoms[asked_at])
    query = asked_at[query]
    keep = used[found] & (query != found) & (~asked[found] | (query < found))
    low, high = np.minimum(query[keep], found[keep]), np.maximum(query[keep], found[keep])
    count = np.int64(max(len(geoms), 1))
    codes = np.sort(low * count + high)
    return codes // count, codes % count


def _settled(
    klass: np.ndarray, active: np.ndarray, known: tuple[np.ndarray, np.ndarray], first: np.ndarray, second: np.ndarray
) -> np.ndarray:
    """Whether a contact between ``first[k]`` and ``second[k]`` would change nothing the ``known`` contacts decide.

    The sieve reads only which polygons form a cluster (contacts of the same class) and which clusters border each
    other. Two polygons of the same class already in one cluster through known contacts, or of two classes whose
    clusters already border each other, add nothing: more contacts only merge clusters, never split them, so this
    stays true once every contact is known. A pair with a polygon not ``active`` (a narrow linear one) is never
    settled: the length of boundary a narrow polygon shares is read.
    """
    known_first, known_second = known
    both = active[known_first] & active[known_second]
    same = both & (klass[known_first] == klass[known_second])
    labels = connected_components(len(klass), known_first[same], known_second[same])
    count = np.int64(max(int(labels.max()) + 1 if len(labels) else 1, 1))
    cut = both & ~same
    borders = sorted_unique(
        np.minimum(labels[known_first[cut]], labels[known_second[cut]]) * count
        + np.maximum(labels[known_first[cut]], labels[known_second[cut]])
    )
    label_first, label_second = labels[first], labels[second]
    border = np.minimum(label_first, label_second) * count + np.maximum(label_first, label_second)
    decided = np.where(klass[first] == klass[second], label_first == label_second, found_in(border, borders))
    settled: np.ndarray = active[first] & active[second] & decided
    return settled


def _share_a_vertex(geoms: np.ndarray, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Whether polygons ``first[k]`` and ``second[k]`` (distinct pairs, ``first[k] < second[k]``) have a vertex with
    exactly the same coordinates.

    Such polygons intersect (a vertex lies on its polygon's boundary), which in a partition is how most
    neighbours meet. Vertices are grouped by sorting a hash of their coordinates; the points of a group are then
    compared exactly (see :func:`_point_order`), so a collision cannot make a pair touch.
    """
    count = np.int64(max(len(geoms), 1))
    points, owner = _vertices(geoms, _members(len(geoms), first, second))
    order, ordered = _point_order(points)
    return _among(first * count + second, _owner_pairs(ordered, owner[order], count))


def _vertices(geoms: np.ndarray, involved: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The vertices of polygons ``involved`` as complex numbers (x + iy), and the index of the polygon of each.

    Each polygon's last vertex is left out: it closes the polygon's last ring, so the polygon has that point
    already as the ring's first vertex; a partition's rings are short, so this is about one vertex in eight.
    """
    coords, owner = shapely.get_coordinates(geoms[involved], return_index=True)
    coords += 0.0  # -0.0 becomes 0.0: equal coordinates must have equal bits, which the hash reads
    keep = np.zeros(len(owner), dtype=bool)
    keep[:-1] = owner[1:] == owner[:-1]
    points: np.ndarray = coords.view(np.complex128)[keep, 0]
    return points, involved[owner[keep]]


#: Odd multipliers of the coordinates' hash: x's bits times the first, then, once y's are mixed in, the second,
#: which carries the low bits of the mix into the high bits that the sort reads (the low bits hold the vertex index).
_MIX_X, _MIX = np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9)
_HALF = np.uint64(32)


def _point_order(points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """An order of the vertices in which equal points are adjacent, those of one point by index; and the points.

    The hash and the vertex index are packed in one uint64 and sorted (a plain sort costs about half an argsort).
    Hashes are cut to the bits the index leaves (41 for 5 million vertices), so collisions can happen (about one
    expected among two million points): a hash group holding different points is reordered exactly by its
    coordinates (see :func:`_sort_collisions`).
    """
    shift = np.uint64(max(int(len(points) - 1).bit_length(), 1))
    packed = np.sort(_point_hashes(points) >> shift << shift | np.arange(len(points), dtype=np.uint64))
    order = (packed & ((np.uint64(1) << shift) - np.uint64(1))).astype(np.int64)
    groups = packed >> shift
    ordered = points[order]
    mixed = (groups[1:] == groups[:-1]) & (ordered[1:] != ordered[:-1])
    if mixed.any():
        _sort_collisions(order, ordered, groups, np.unique(groups[1:][mixed]), points)
    return order, ordered


def _point_hashes(points: np.ndarray) -> np.ndarray:
    """A 64-bit hash of each point's coordinates (complex numbers), equal for equal points.

    y's bits are rotated by half a word before they are mixed with x's: coordinates on a coarse grid (whole or
    half metres) differ only in their high bits, and x times an odd number keeps its low bits zero, so unrotated
    they would overlap and collide by the thousand.
    """
    bits = points.view(np.uint64).reshape(-1, 2)
    y = bits[:, 1]
    hashes: np.ndarray = (bits[:, 0] * _MIX_X ^ (y << _HALF | y >> _HALF)) * _MIX
    return hashes


def _sort_collisions(
    order: np.ndarray, ordered: np.ndarray, groups: np.ndarray, colliding: np.ndarray, points: np.ndarray
) -> None:
    """Reorder in place the ``colliding`` hash groups (``groups`` is sorted) by x, y and vertex index."""
    starts = np.searchsorted(groups, colliding, side="left")
    lengths = np.searchsorted(groups, colliding, side="right") - starts
    at = np.arange(lengths.sum()) + np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
    vertices = order[at]
    # The group comes first, so that each group stays in its own slots.
    order[at] = vertices[np.lexsort((vertices, points[vertices].imag, points[vertices].real, groups[at]))]
    ordered[at] = points[order[at]]


def _owner_pairs(ordered: np.ndarray, owner: np.ndarray, count: np.int64) -> np.ndarray:
    """Codes ``low * count + high`` of the polygons that have a point in common, from the points of their vertices
    in :func:`_point_order`'s order; a code may appear several times, and ``k * count + k`` where polygon ``k`` has
    a point twice (two parts or rings touching, a ring's closing vertex): no candidate pair has that code."""
    codes = [np.empty(0, dtype=np.int64)]
    step = 1
    while True:  # each vertex against the one ``step`` further, as long as some point has more vertices
        at = np.flatnonzero(ordered[step:] == ordered[:-step])
        if not len(at):
            return np.concatenate(codes)
        codes.append(owner[at] * count + owner[at + step])
        step += 1


def _among(values: np.ndarray, found: np.ndarray) -> np.ndarray:
    """Whether each of the distinct ``values`` is in ``found`` (any order, repeats allowed).

    ``found`` is searched for in ``values`` rather than the reverse: sorting the values, which the candidate pairs
    are already, is cheaper than sorting and deduplicating the found codes, more numerous (a pair is found at each
    point it shares).
    """
    flags = np.zeros(len(values), dtype=bool)
    order = np.argsort(values, kind="stable")  # a single pass over values already sorted
    at = found_at(found, values[order])
    flags[order[at[at >= 0]]] = True
    return flags


def _members(count: int, *indexes: np.ndarray) -> np.ndarray:
    """The distinct indexes (below ``count``) found in ``indexes``, sorted: a mask, not a sort of millions."""
    mask = np.zeros(count, dtype=bool)
    for index in indexes:
        mask[index] = True
    return np.flatnonzero(mask)


def _sieve(
    klass: np.ndarray, area: np.ndarray, active: np.ndarray, first: np.ndarray, second: np.ndarray, min_area_m2: float
) -> np.ndarray:
    """Class of each polygon once every enclosed cluster under ``min_area_m2`` has taken its surroundings' class."""
    both = active[first] & active[second]
    same = both & (klass[first] == klass[second])
    labels = connected_components(len(klass), first[same], second[same])
    count = int(labels.max()) + 1 if len(labels) else 0
    cluster_area = np.bincount(labels[active], weights=area[active], minlength=count)
    cluster_class = np.zeros(count, dtype=bool)
    cluster_class[labels] = klass
    cut = both & ~same
    edges = _unique_edges(labels[first[cut]], labels[second[cut]], count)
    while True:
        flip = _flippable(cluster_area, edges, min_area_m2)
        if not flip.any():
            break
        labels, cluster_area, cluster_class, edges = _merge(flip, labels, cluster_area, cluster_class, edges)
    polygon_class: np.ndarray = cluster_class[labels]
    return polygon_class


def _flippable(cluster_area: np.ndarray, edges: tuple[np.ndarray, np.ndarray], min_area_m2: float) -> np.ndarray:
    """Small clusters with neighbours that are smaller than every small neighbour (ties broken by number)."""
    count = len(cluster_area)
    source, target = np.concatenate(edges), np.concatenate(edges[::-1])
    small = cluster_area < min_area_m2
    rank = np.empty(count, dtype=np.int64)
    rank[np.lexsort((np.arange(count), cluster_area))] = np.arange(count)
    smallest_neighbour = np.full(count, count, dtype=np.int64)
    towards_small = small[target]
    np.minimum.at(smallest_neighbour, source[towards_small], rank[target[towards_small]])
    has_neighbour = np.bincount(source, minlength=count) > 0
    return small & has_neighbour & (rank < smallest_neighbour)


def _merge(
    flip: np.ndarray,
    labels: np.ndarray,
    cluster_area: np.ndarray,
    cluster_class: np.ndarray,
    edges: tuple[np.ndarray, np.ndarray],
) -> tuple[np.ndarray, np.ndarray, np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """Fold each flipped cluster into all its neighbours; the merged cluster keeps the neighbours' class.

    Adjacent clusters always differ in class and two flipped clusters are never adjacent, so every merged group has
    one class among its unflipped members.
    """
    count = len(cluster_area)
    source, target = np.concatenate(edges), np.concatenate(edges[::-1])
    joins = flip[source]
    merged = connected_components(count, source[joins], target[joins])
    new_count = int(merged.max()) + 1
    new_class = np.zeros(new_count, dtype=bool)
    new_class[merged[~flip]] = cluster_class[~flip]
    new_area = np.bincount(merged, weights=cluster_area, minlength=new_count)
    new_edges = _unique_edges(merged[edges[0]], merged[edges[1]], new_count)
    return merged[labels], new_area, new_class, new_edges


def _unique_edges(first: np.ndarray, second: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
    low, high = np.minimum(first, second), np.maximum(first, second)
    keep = low != high
    codes = sorted_unique(low[keep] * np.int64(max(count, 1)) + high[keep])
    return codes // max(count, 1), codes % max(count, 1)


def _fill_narrow(
    status: np.ndarray, active: np.ndarray, narrow: np.ndarray, first: np.ndarray, second: np.ndarray, geoms: np.ndarray
) -> np.ndarray:
    """Give each narrow linear polygon the class of the classified land it shares the longest boundary with."""
    status = np.where(narrow, False, status)
    touching = narrow[first] | narrow[second]
    if not touching.any():
        return status
    # Both directions: (narrow polygon, neighbour) with the length of boundary they share.
    target = np.concatenate([first[touching], second[touching]])
    source = np.concatenate([second[touching], first[touching]])
    keep = narrow[target]
    target, source = target[keep], source[keep]
    involved = _members(len(geoms), target, source)
    boundaries = np.empty(len(geoms), dtype=object)
    boundaries[involved] = shapely.boundary(geoms[involved])
    shared = shapely.length(shapely.intersection(boundaries[target], boundaries[source]))
    decided = active.copy()
    while True:
        usable = decided[source] & ~decided[target] & (shared > 0)
        if not usable.any():
            return status
        votes_for = np.bincount(target[usable], weights=shared[usable] * status[source[usable]], minlength=len(status))
        votes_all = np.bincount(target[usable], weights=shared[usable], minlength=len(status))
        newly = votes_all > 0
        status = np.where(newly, votes_for > votes_all / 2, status)
        decided |= newly
