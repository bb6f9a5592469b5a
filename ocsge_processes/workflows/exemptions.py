"""IGN's "avec exemptions" figures and the gap between IGN's figure and ours, beside a request's indicators.

The main figures stay IGN's ARTIF (the official tool's, sparte does not apply the exemptions) or ours; the
exemptions are optional for a collectivity, so the area they take out is reported separately, with the stock and
net flow that remain once they apply. The gap is IGN's artificialised area minus the decree's on OCCUPATION_SOL,
for a user who compares the two.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypedDict

from pygeofilter import ast

from ..artificialisation import DECREE, IGN, Stock, Territory, compute_all_stocks
from ..artificialisation.exemptions import exempted_areas_ha, with_exemptions
from ..artificialisation.millesimes import Selection
from ..errors import InvalidInputError
from ..layers import ARTIF, ARTIF_EXEMPTIONS, OCCUPATION_SOL, Layer
from ..stores import table_name
from ..territory import departement_epsg
from .layer_cache import LayerCache


class ExemptionStock(TypedDict):
    """The exemptions at one millésime: the area they take out, by exemption, and what remains artificialised."""

    surface_exemptee_ha: float
    par_exemption: dict[str, float]
    surface_artificialisee_avec_exemptions_ha: float
    taux_artificialisation_avec_exemptions: float


class ExemptionFlow(TypedDict):
    """Between two millésimes: the change of exempted area, and IGN's net flow once the exemptions apply."""

    exemptions_nette_ha: float
    artificialisation_nette_avec_exemptions_ha: float | None


class ExemptionFields(TypedDict):
    """An entry's exemption figures; a millésime without the layer is None."""

    couche: str
    stocks: dict[str, ExemptionStock | None]
    flux: dict[str, ExemptionFlow | None]


class GapFields(TypedDict):
    """IGN's artificialised area and rate at one millésime against the decree's on OCCUPATION_SOL."""

    surface_artificialisee_ign_ha: float
    surface_artificialisee_decree_ha: float
    ecart_ha: float
    taux_artificialisation_ign: float
    taux_artificialisation_decree: float
    ecart_points: float


@dataclass(frozen=True)
class _Exempted:
    """One territory at one millésime: the stock once the exemptions apply, and the area each one takes out."""

    stock: Stock
    areas_ha: dict[str, float]


def exemption_positions(data: LayerCache, selection: Selection, requested: bool | None) -> list[bool]:
    """At which millésimes of ``selection`` the exemption layer is used: where every département holds it, unless
    ``requested`` is False; ``requested`` True and a département without it is an input error naming it."""
    held = _held(data, ARTIF_EXEMPTIONS, list(selection.years))
    used = []
    for position in range(len(selection.labels)):
        missing = {d: y for d, y in selection.at(position).items() if y not in held.get(d, set())}
        if requested and missing:
            departement, year = sorted(missing.items())[0]
            raise InvalidInputError(
                f"exemptions were asked for, but IGN's OCS GE Artificialisation avec exemptions "
                f"({ARTIF_EXEMPTIONS.collection_id}) is not ingested for département {departement} at millésime "
                f"{year} (its millésimes with exemptions: {_listing(held.get(departement, set()))})"
            )
        used.append(requested is not False and not missing)
    return used


def exemption_figures(
    data: LayerCache, territories: Sequence[Territory], selection: Selection, used: Sequence[bool]
) -> list[dict[str, _Exempted | None]]:
    """Per territory, by millésime label: its stock avec exemptions and its exempted areas (None: layer not used)."""
    found: list[dict[str, _Exempted | None]] = [{} for _ in territories]
    for position, label in enumerate(selection.labels):
        frames = data.frames_at(ARTIF_EXEMPTIONS, selection.at(position)) if used[position] else []
        if not frames:
            for figures in found:
                figures[str(label)] = None
            continue
        stocks = compute_all_stocks([with_exemptions(f) for f in frames], territories, IGN)
        areas = exempted_areas_ha(frames, territories)
        for figures, stock, area in zip(found, stocks, areas, strict=True):
            figures[str(label)] = _Exempted(stock, area)
    return found


def exemption_fields(
    figures: dict[str, _Exempted | None], selection: Selection, net_flows: dict[str, float | None]
) -> ExemptionFields:
    """An entry's exemption figures; ``net_flows`` is the answer's net artificialisation of each pair (IGN's DIFF
    where ingested; None: no flow)."""
    stocks: dict[str, ExemptionStock | None] = {}
    for label, item in figures.items():
        stocks[label] = (
            None
            if item is None
            else {
                "surface_exemptee_ha": round(sum(item.areas_ha.values()), 4),
                "par_exemption": {name: round(area, 4) for name, area in item.areas_ha.items()},
                "surface_artificialisee_avec_exemptions_ha": round(item.stock.surface_artificialisee_ha, 4),
                "taux_artificialisation_avec_exemptions": round(item.stock.taux_artificialisation, 4),
            }
        )
    flux: dict[str, ExemptionFlow | None] = {}
    for first, second in selection.pairs():
        pair = selection.pair_label(first, second)
        before, after = figures[str(selection.labels[first])], figures[str(selection.labels[second])]
        if before is None or after is None:
            flux[pair] = None
            continue
        change = sum(after.areas_ha.values()) - sum(before.areas_ha.values())
        net = net_flows.get(pair)
        flux[pair] = {
            "exemptions_nette_ha": round(change, 4),
            "artificialisation_nette_avec_exemptions_ha": None if net is None else round(net - change, 4),
        }
    return {"couche": ARTIF_EXEMPTIONS.collection_id, "stocks": stocks, "flux": flux}


def decree_gaps(
    data: LayerCache, territories: Sequence[Territory], selection: Selection
) -> list[dict[str, tuple[Stock, Stock]]]:
    """Per territory, by millésime label: IGN's stock (ARTIF) and the decree's (OCCUPATION_SOL); a département
    without either layer at a millésime is an input error naming it."""
    departements = list(selection.years)
    held = [(layer, _held(data, layer, departements)) for layer in (ARTIF, OCCUPATION_SOL)]
    found: list[dict[str, tuple[Stock, Stock]]] = [{} for _ in territories]
    for position, label in enumerate(selection.labels):
        years = selection.at(position)
        for layer, layer_held in held:
            missing = sorted(d for d, y in years.items() if y not in layer_held.get(d, set()))
            if missing:
                raise InvalidInputError(
                    f"the gap between IGN's figure and the decree's needs {layer.collection_id} at millésime "
                    f"{years[missing[0]]} for département {missing[0]}, which is not ingested"
                )
        ign = compute_all_stocks(data.frames_at(ARTIF, years), territories, IGN)
        decree = compute_all_stocks(data.stock_frames(years, DECREE), territories, DECREE)
        for figures, stock_ign, stock_decree in zip(found, ign, decree, strict=True):
            figures[str(label)] = (stock_ign, stock_decree)
    return found


def gap_fields(gaps: dict[str, tuple[Stock, Stock]]) -> dict[str, GapFields]:
    """IGN minus decree, per millésime label: areas (ha) and rates (points)."""
    return {
        label: {
            "surface_artificialisee_ign_ha": round(ign.surface_artificialisee_ha, 4),
            "surface_artificialisee_decree_ha": round(decree.surface_artificialisee_ha, 4),
            "ecart_ha": round(ign.surface_artificialisee_ha - decree.surface_artificialisee_ha, 4),
            "taux_artificialisation_ign": round(ign.taux_artificialisation, 4),
            "taux_artificialisation_decree": round(decree.taux_artificialisation, 4),
            "ecart_points": round(ign.taux_artificialisation - decree.taux_artificialisation, 4),
        }
        for label, (ign, decree) in gaps.items()
    }


def _held(data: LayerCache, layer: Layer, departements: Sequence[str]) -> dict[str, set[int]]:
    """The millésimes of ``layer`` held for each of ``departements``."""
    tables = data.store.tables()
    held: dict[str, set[int]] = {}
    for departement in departements:
        epsg = departement_epsg(departement)
        if table_name(layer, epsg) not in tables:
            continue
        where = ast.Equal(ast.Attribute("departement"), departement)
        held[departement] = {int(str(year)) for year in data.store.distinct(layer, epsg, "millesime", where)}
    return held


def _listing(years: set[int]) -> str:
    return ", ".join(map(str, sorted(years))) or "none"
