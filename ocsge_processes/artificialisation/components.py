"""Connected components of a graph given as an edge list, in numpy alone (no scipy in the runtime dependencies).

The threshold rules cluster a million touching polygons; a Python-level union-find would take minutes, so the
components are found by min-label hooking and pointer jumping over whole arrays (a few dozen passes at most).
"""

from __future__ import annotations

import numpy as np


def connected_components(count: int, first: np.ndarray, second: np.ndarray) -> np.ndarray:
    """Component of each of ``count`` nodes joined by the edges ``first[k]``–``second[k]``, numbered 0, 1, 2, ...

    Components are numbered in the order of their smallest node, so the result does not depend on edge order.
    """
    parent = np.arange(count, dtype=np.int64)
    first = np.asarray(first, dtype=np.int64)
    second = np.asarray(second, dtype=np.int64)
    while True:
        root_a, root_b = parent[first], parent[second]
        apart = root_a != root_b
        if not apart.any():
            break
        low = np.minimum(root_a[apart], root_b[apart])
        high = np.maximum(root_a[apart], root_b[apart])
        np.minimum.at(parent, high, low)
        parent = _flatten(parent)
    # Every node now points at its root, the smallest node of its component: number the roots in order.
    is_root = parent == np.arange(count)
    labels: np.ndarray = (np.cumsum(is_root) - 1)[parent]
    return labels.astype(np.int64)


def _flatten(parent: np.ndarray) -> np.ndarray:
    """Point every node straight at its root (parents always have a smaller index, so this ends)."""
    while True:
        grand = parent[parent]
        if np.array_equal(grand, parent):
            return parent
        parent = grand


def sorted_unique(values: np.ndarray) -> np.ndarray:
    """The distinct values of a 1-D array, sorted, as ``np.unique`` gives them, found by sorting.

    numpy 2.3+ finds the distinct values of an integer array by hashing when no inverse is asked for; on millions
    of scattered int64 pair codes that measured 20× slower here than one sort (6 s against 0.3 s for 1.5 M).
    """
    ordered = np.sort(values)
    first = np.ones(len(ordered), dtype=bool)
    first[1:] = ordered[1:] != ordered[:-1]
    distinct: np.ndarray = ordered[first]
    return distinct


def found_in(values: np.ndarray, distinct: np.ndarray) -> np.ndarray:
    """Whether each of ``values`` is in ``distinct`` (sorted, as :func:`sorted_unique` gives), by binary search."""
    found: np.ndarray = found_at(values, distinct) >= 0
    return found


def found_at(values: np.ndarray, distinct: np.ndarray) -> np.ndarray:
    """Where each of ``values`` stands in ``distinct`` (sorted; repeats allowed, the first is given), -1 where it
    is not there, by binary search."""
    if not len(distinct):
        return np.full(len(values), -1, dtype=np.int64)
    at = np.minimum(np.searchsorted(distinct, values), len(distinct) - 1)
    located: np.ndarray = np.where(distinct[at] == values, at, -1)
    return located
