"""Every commune of a département at once: the rows of the `artificialisation-communes` collection.

``departement_batch`` is the unit of the national fan-out (one task per département): it computes each pair of
millésimes, replaces that pair's slice atomically, then notes in the store the versions of the inputs it read. A run
skips a pair whose inputs did not change since its note, so running again does nothing and a run killed half-way
resumes where it stopped: a pair is either replaced whole or left as it was, and it is noted only once replaced.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise

import geopandas as gpd

from .. import __version__
from ..errors import InvalidInputError
from ..layers import (
    ARTIF,
    ARTIF_DIFFERENCE,
    ARTIFICIALISATION_COMMUNES,
    COMMUNES,
    DIFFERENCE,
    OCCUPATION_SOL,
    Layer,
)
from ..stores import FeatureStore, table_name
from ..territory import departement_epsg, normalise_departement
from .artificialisation import run
from .holdings import holdings
from .layer_cache import DECREE_MARGIN_M, LayerCache, territory_bbox
from .territories import resolve

#: The store notes (``FeatureStore.marks``) of the pairs computed: key ``<département>/<avant>-<après>``.
SCOPE = ARTIFICIALISATION_COMMUNES.collection_id
#: The layers a pair's rows are computed from, and the slice of each for a département and a pair.
_INPUTS: tuple[tuple[Layer, Callable[[str, tuple[int, int]], list[dict[str, object]]]], ...] = (
    (OCCUPATION_SOL, lambda d, p: [{"departement": d, "millesime": y} for y in p]),
    (ARTIF, lambda d, p: [{"departement": d, "millesime": y} for y in p]),
    (DIFFERENCE, lambda d, p: [{"departement": d, "millesime_avant": p[0], "millesime_apres": p[1]}]),
    (ARTIF_DIFFERENCE, lambda d, p: [{"departement": d, "millesime_avant": p[0], "millesime_apres": p[1]}]),
    (COMMUNES, lambda d, _p: [{"departement": d}]),
)


@dataclass(frozen=True)
class PairDone:
    """What a batch did for one pair: ``rows`` written, or None when its inputs were unchanged (skipped)."""

    pair: tuple[int, int]
    rows: int | None


def periods(store: FeatureStore, departement: str) -> list[tuple[int, int]]:
    """Pairs of millésimes to compute: those with a difference layer, and consecutive stock millésimes."""
    resolved = resolve(store, {"departement": departement})
    with LayerCache(store, resolved.territory) as data:
        found = holdings(data, resolved.departements)
    stock = sorted(found.stock.get(normalise_departement(departement), set()))
    return sorted(found.pairs.get(normalise_departement(departement), set()) | set(pairwise(stock)))


def commune_rows(
    store: FeatureStore,
    departement: str,
    pair: tuple[int, int],
    methode: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> gpd.GeoDataFrame:
    """One row per commune of ``departement`` for ``pair``, with the commune's geometry."""
    departement = normalise_departement(departement)
    epsg = departement_epsg(departement)
    document = run(store, {"departement": departement}, list(pair), methode, detail_communes=True, progress=progress)
    communes = store.read_frame(COMMUNES, epsg).set_index("code_insee")
    rows = []
    for entry in document["communes"]:
        stocks = entry["stocks"]
        before = stocks[str(pair[0])]
        commune = communes.loc[entry["code"]]
        rows.append(
            {
                "id": f"{entry['code']}-{pair[0]}-{pair[1]}",
                "code_insee": entry["code"],
                "nom": entry["nom"],
                "departement": departement,
                "epci": commune["epci"],
                "millesime_avant": pair[0],
                "millesime_apres": pair[1],
                "methode": next((s["methode"] for s in stocks.values() if s), entry.get("methode_flux")),
                "surface_ha": entry["surface_ha"],
                "surface_artificialisee_avant_ha": before["surface_artificialisee_ha"] if before else None,
                "taux_artificialisation_avant": before["taux_artificialisation"] if before else None,
                "surface_artificialisee_ha": entry["surface_artificialisee_ha"],
                "taux_artificialisation": entry["taux_artificialisation"],
                "artificialisation_ha": entry["artificialisation_ha"],
                "desartificialisation_ha": entry["desartificialisation_ha"],
                "artificialisation_nette_ha": entry["artificialisation_nette_ha"],
                "artificialisation_nette_pct": entry["artificialisation_nette_pct"],
                "ecart_coherence_ha": entry["ecart_coherence_ha"],
                "surface_impermeabilisee_avant_ha": before["surface_impermeabilisee_ha"] if before else None,
                "taux_impermeabilisation_avant": before["taux_impermeabilisation"] if before else None,
                "surface_impermeabilisee_ha": entry["surface_impermeabilisee_ha"],
                "taux_impermeabilisation": entry["taux_impermeabilisation"],
                "impermeabilisation_ha": entry["impermeabilisation_ha"],
                "desimpermeabilisation_ha": entry["desimpermeabilisation_ha"],
                "impermeabilisation_nette_ha": entry["impermeabilisation_nette_ha"],
                "impermeabilisation_nette_pct": entry["impermeabilisation_nette_pct"],
                "geometry": commune.geometry,
            }
        )
    frame = gpd.GeoDataFrame(rows, geometry="geometry", crs=f"EPSG:{epsg}")
    return frame[[*ARTIFICIALISATION_COMMUNES.fields, "geometry"]]


def pair_key(departement: str, pair: tuple[int, int]) -> str:
    """The note of one pair of one département."""
    return f"{normalise_departement(departement)}/{pair[0]}-{pair[1]}"


def table_versions(store: FeatureStore, epsg: int, methode: str | None) -> dict[str, str]:
    """The version of every input table, which any write to any of its slices moves: when none moved since a pair
    was noted, the slice versions need not be counted (at full size, seconds per slice)."""
    versions = _output_version(methode)
    return versions | {table_name(layer, epsg): store.version(layer, epsg) for layer, _ in _INPUTS}


def input_versions(store: FeatureStore, departement: str, pair: tuple[int, int], methode: str | None) -> dict[str, str]:
    """The versions of every slice a pair's rows are read from: the département's and those of the départements
    within the decree's margin (whose polygons join the clusters at the border), with the method and the code's
    version (a release may change the figures)."""
    departement = normalise_departement(departement)
    territory = resolve(store, {"departement": departement}).territory
    tables = store.tables()
    versions = _output_version(methode)
    for epsg in territory.epsgs:
        near = store.read_frame(COMMUNES, epsg, territory_bbox(territory, epsg, DECREE_MARGIN_M))
        for other in sorted({departement, *near.departement.dropna().astype(str)}):
            for layer, slices in _INPUTS:
                if table_name(layer, epsg) not in tables:
                    continue
                for values in slices(other, pair):
                    name = f"{layer.table}:{epsg}:" + ":".join(str(v) for v in values.values())
                    versions[name] = store.slice_version(layer, epsg, values)
    return versions


def _output_version(methode: str | None) -> dict[str, str]:
    """What the rows depend on besides their inputs: the code's version, the method and the collection's fields (a
    field added since a pair was noted, as imperméabilisation was, computes it again)."""
    return {"code": __version__, "methode": methode or "", "fields": ",".join(ARTIFICIALISATION_COMMUNES.fields)}


def departement_batch(
    store: FeatureStore,
    departement: str,
    methode: str | None = None,
    progress: Callable[[float], None] | None = None,
) -> list[PairDone]:
    """Fill ``departement``'s rows of `artificialisation-communes` for every pair ``periods`` gives, skipping the
    pairs whose inputs are those noted at their last run. ``progress`` gets the share of the département done."""
    departement = normalise_departement(departement)
    epsg = departement_epsg(departement)
    pairs = periods(store, departement)
    if not pairs:
        raise InvalidInputError(
            f"nothing to compute for département {departement}: ingest two millésimes "
            "of OCCUPATION_SOL or a difference layer first"
        )
    notes = store.marks(SCOPE)
    done = []
    for index, pair in enumerate(pairs):
        key = pair_key(departement, pair)
        noted = json.loads(notes.get(key) or "{}")
        tables = table_versions(store, epsg, methode)
        if noted.get("tables") == tables:  # no input table written since: no slice can have changed
            done.append(PairDone(pair, None))
        else:
            inputs = input_versions(store, departement, pair, methode)
            note = json.dumps({"tables": tables, "inputs": inputs}, sort_keys=True)
            if noted.get("inputs") == inputs:  # other slices were written: noted again, for a quick next run
                store.set_mark(SCOPE, key, note)
                done.append(PairDone(pair, None))
            else:
                step = _pair_progress(progress, index, len(pairs))
                frame = commune_rows(store, departement, pair, methode, progress=step)
                slice_values = {"departement": departement, "millesime_avant": pair[0], "millesime_apres": pair[1]}
                written = store.replace_slice(ARTIFICIALISATION_COMMUNES, epsg, frame, slice_values)
                store.set_mark(SCOPE, key, note)  # after the rows: a run killed in between computes the pair again
                done.append(PairDone(pair, written))
        if progress is not None:
            progress((index + 1) / len(pairs))
    return done


def _pair_progress(
    progress: Callable[[float], None] | None, index: int, count: int
) -> Callable[[int, int], None] | None:
    """The steps of pair ``index`` of ``count`` as a share of the whole département."""
    if progress is None:
        return None
    report = progress
    return lambda done, total: report((index + done / max(total, 1)) / count)
