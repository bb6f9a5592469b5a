"""The millésimes a store holds for each département of a territory, and the choice of those a request uses."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from pygeofilter import ast

from ..artificialisation.millesimes import Selection, select
from ..errors import InvalidInputError
from ..layers import ARTIF, ARTIF_DIFFERENCE, COMMUNES, DIFFERENCE, OCCUPATION_SOL
from ..stores import table_name
from ..territory import departement_epsg
from .layer_cache import LayerCache, territory_bbox


@dataclass(frozen=True)
class Holdings:
    """Per département: its stock millésimes (OCCUPATION_SOL or ARTIF), those of IGN's ARTIF layer alone, and the
    (before, after) pairs of its difference layers."""

    stock: dict[str, set[int]] = field(default_factory=dict)
    ign: dict[str, set[int]] = field(default_factory=dict)
    pairs: dict[str, set[tuple[int, int]]] = field(default_factory=dict)

    def millesimes(self, departement: str) -> list[int]:
        """Every millésime of ``departement``: its stocks and the years its difference layers name."""
        named = {year for pair in self.pairs.get(departement, ()) for year in pair}
        return sorted(self.stock.get(departement, set()) | named)

    def departements(self) -> list[str]:
        """The départements with any millésime."""
        return sorted({d for d, years in (*self.stock.items(), *self.pairs.items()) if years})


def holdings(data: LayerCache, departements: Sequence[str]) -> Holdings:
    """The millésimes held for each of ``departements`` (empty: those found over the territory, for a geometry).

    The difference layers are read through the cache, so the flows computed next reuse them.
    """
    found = Holdings()
    tables = data.store.tables()
    wanted = list(departements) or _found_departements(data)
    for departement in wanted:
        epsg = departement_epsg(departement)
        where = ast.Equal(ast.Attribute("departement"), departement)
        for layer, target in ((OCCUPATION_SOL, found.stock), (ARTIF, found.ign)):
            if table_name(layer, epsg) in tables:
                target.setdefault(departement, set()).update(
                    _integers(data.store.distinct(layer, epsg, "millesime", where))
                )
        found.stock.setdefault(departement, set()).update(found.ign.get(departement, set()))
        found.pairs.setdefault(departement, set())
    for layer in (DIFFERENCE, ARTIF_DIFFERENCE):
        for frame in data.frames(layer):
            rows = frame[["departement", "millesime_avant", "millesime_apres"]].dropna().drop_duplicates()
            for departement, before, after in rows.itertuples(index=False):
                if str(departement) in found.pairs:
                    found.pairs[str(departement)].add((int(before), int(after)))
    if not departements:  # a geometry: the départements around it that hold nothing are not part of it
        keep = set(found.departements())
        return Holdings(
            {d: v for d, v in found.stock.items() if d in keep},
            {d: v for d, v in found.ign.items() if d in keep},
            {d: v for d, v in found.pairs.items() if d in keep},
        )
    return found


def checked_selection(found: Holdings, requested: list[int] | None) -> Selection:
    """The millésimes of each département for ``requested`` (None: all), each consecutive pair of named years
    checked to be computable: a difference layer for it, or a stock at both."""
    selection = select({d: found.millesimes(d) for d in found.stock}, requested)
    if not requested:
        return selection
    for first, second in selection.pairs():
        for departement, (before, after) in {
            d: (selection.years[d][first], selection.years[d][second]) for d in selection.years
        }.items():
            stock = found.stock.get(departement, set())
            if (before, after) not in found.pairs[departement] and not {before, after} <= stock:
                raise InvalidInputError(
                    f"no flows can be computed between {before} and {after} for département {departement}: no "
                    f"difference layer for that pair (pairs: {_listing(sorted(found.pairs[departement]))}) and "
                    "no stock for both"
                )
    return selection


def _found_departements(data: LayerCache) -> list[str]:
    """The départements of the communes around a geometry territory, or those of its CRS's OCS GE layers when no
    commune is ingested there."""
    tables = data.store.tables()
    found: set[str] = set()
    for epsg in data.territory.epsgs:
        minx, miny, maxx, maxy = territory_bbox(data.territory, epsg)
        around = ast.BBox(ast.Attribute("geometry"), minx, miny, maxx, maxy)
        if table_name(COMMUNES, epsg) in tables:
            found |= {str(d) for d in data.store.distinct(COMMUNES, epsg, "departement", around)}
        else:
            for layer in (OCCUPATION_SOL, ARTIF, DIFFERENCE, ARTIF_DIFFERENCE):
                if table_name(layer, epsg) in tables:
                    found |= {str(d) for d in data.store.distinct(layer, epsg, "departement")}
    return sorted(found)


def _integers(values: Iterable[object]) -> set[int]:
    """The values of an integer column (``millesime`` is one in every store)."""
    found = set()
    for value in values:
        if not isinstance(value, int):
            raise TypeError(f"expected the integers of an integer column, got {value!r}")
        found.add(value)
    return found


def _listing(values: Iterable[object]) -> str:
    return ", ".join(map(str, values)) or "none"
