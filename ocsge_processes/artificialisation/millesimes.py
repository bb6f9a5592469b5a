"""Which millésime of each département a request uses: the official tool's millésime index.

A département has two or three millésimes and their years differ from one département to the next (sparte
``airflow/include/data/ocsge/sources.json``), so a territory across départements is computed by rank: the 1st
millésime of each, then the 2nd, and so on, each département with its own years (sparte's ``index`` column). Years
the user names stand for their rank: 2021, the 2nd millésime of Gironde, means the 2nd millésime everywhere.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from ..errors import InvalidInputError

#: What a label of a millésime is: its year where every département agrees (or the user named it), else "M<rank>".
Label = int | str


@dataclass(frozen=True)
class Selection:
    """The millésimes a request uses: one label per rank, and each département's year at each of them."""

    labels: tuple[Label, ...]
    #: 1-based ranks, in the order of ``labels``.
    ranks: tuple[int, ...]
    #: Per département, its year at each position of ``labels``.
    years: Mapping[str, tuple[int, ...]]

    def at(self, position: int) -> dict[str, int]:
        """The year of each département at position ``position`` of ``labels``."""
        return {departement: years[position] for departement, years in self.years.items()}

    def pairs(self) -> list[tuple[int, int]]:
        """The positions of each consecutive pair of millésimes, the flows computed."""
        return [(position, position + 1) for position in range(len(self.labels) - 1)]

    def pair_label(self, first: int, second: int) -> str:
        """The name of the flows between positions ``first`` and ``second`` (e.g. ``2018-2021``)."""
        return f"{self.labels[first]}-{self.labels[second]}"


def select(held: Mapping[str, Sequence[int]], requested: Sequence[int] | None) -> Selection:
    """The millésimes of each département of ``held`` (its millésimes, any order) for the years ``requested``
    (increasing), or all the ranks every département has when ``requested`` is None or empty.

    A named year is the millésime of its rank in the départements that hold it; a département without a millésime of
    that rank, or a year held nowhere, is an input error that names it.
    """
    ordered = {departement: sorted(set(years)) for departement, years in sorted(held.items())}
    empty = [departement for departement, years in ordered.items() if not years]
    if not ordered or empty:
        raise InvalidInputError(
            f"no millésime is ingested for département {', '.join(empty)}"
            if empty
            else "no millésime is ingested for this territory"
        )
    if not requested:
        count = min(len(years) for years in ordered.values())
        ranks = tuple(range(1, count + 1))
        years = {departement: tuple(found[:count]) for departement, found in ordered.items()}
        return Selection(_labels(ranks, years), ranks, years)
    ranks = tuple(_rank(year, ordered) for year in requested)
    for departement, found in ordered.items():
        for year, rank in zip(requested, ranks, strict=True):
            if rank > len(found):
                raise InvalidInputError(
                    f"millésime {year} is the {_ordinal(rank)} millésime of {_holders(year, ordered)}, but "
                    f"département {departement} has no {_ordinal(rank)} millésime ingested (its millésimes: "
                    f"{', '.join(map(str, found))})"
                )
    years = {departement: tuple(found[rank - 1] for rank in ranks) for departement, found in ordered.items()}
    return Selection(tuple(requested), ranks, years)


def _rank(year: int, ordered: Mapping[str, list[int]]) -> int:
    """The 1-based rank of ``year`` in the départements that hold it (the same in each)."""
    ranks = {found.index(year) + 1 for found in ordered.values() if year in found}
    if not ranks:
        listing = "; ".join(f"{d}: {', '.join(map(str, found))}" for d, found in ordered.items())
        raise InvalidInputError(
            f"millésime {year} is not ingested for this territory; millésimes per département: {listing}"
        )
    if len(ranks) > 1:
        listing = "; ".join(f"{d}: {', '.join(map(str, found))}" for d, found in ordered.items())
        raise InvalidInputError(
            f"millésime {year} is the {' or the '.join(_ordinal(r) for r in sorted(ranks))} millésime depending on "
            f"the département ({listing}), so it names no single rank: give no millesimes for every rank, each "
            "département at its own years"
        )
    return ranks.pop()


def _labels(ranks: tuple[int, ...], years: Mapping[str, tuple[int, ...]]) -> tuple[Label, ...]:
    """Each rank's year where every département has the same one, else ``M<rank>``."""
    labels: list[Label] = []
    for position, rank in enumerate(ranks):
        found = {values[position] for values in years.values()}
        labels.append(found.pop() if len(found) == 1 else f"M{rank}")
    return tuple(labels)


def _holders(year: int, ordered: Mapping[str, list[int]]) -> str:
    held = [departement for departement, found in ordered.items() if year in found]
    return ("département " if len(held) == 1 else "départements ") + ", ".join(held)


def _ordinal(rank: int) -> str:
    return f"{rank}{'st' if rank == 1 else 'nd' if rank == 2 else 'rd' if rank == 3 else 'th'}"
