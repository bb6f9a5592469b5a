"""OGC API process `artificialisation`: a thin adapter over ``workflows.artificialisation.run``.

Configured in ``pygeoapi-config.yml`` with ``processor: {name: ...ArtificialisationProcessor, store: ...}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pygeoapi.process.base import BaseProcessor

from ...stores import FeatureStore, open_store
from ...workflows.artificialisation import MAX_MILLESIMES, Indicators, checked_request, run
from ...workflows.collection_territory import territoire_of_collection
from ...workflows.cost import Cost, artificialisation_cost
from ...workflows.exports import MAX_ZONES, artificial_zones, table_csv
from . import Output, check_inputs, describe_outputs, requested_output

#: Communes in one territory: more than any région holds (Grand Est: about 5 100).
MAX_COMMUNES = 10_000
_CRS = {"type": "string", "maxLength": 200, "description": "a CRS (e.g. EPSG:2154)"}


def _only(name: str, *optional: str) -> dict[str, Any]:
    """One way of naming a territory: member ``name``, maybe the ``optional`` ones, and no other."""
    return {"required": [name], "propertyNames": {"enum": [name, *optional]}}


#: Cheap keywords first: validation stops at the first problem (``server/validation.py``).
_TERRITOIRE_SCHEMA = {
    "type": "object",
    "properties": {
        "communes": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_COMMUNES,
            "uniqueItems": True,
            "items": {
                "type": "string",
                "pattern": "^([0-9]{5}|2[AB][0-9]{3})$",
                "description": "an INSEE commune code (5 characters, e.g. 33009 or 2A004)",
            },
        },
        "epci": {"type": "string", "pattern": "^[0-9]{9}$", "description": "an EPCI SIREN (9 digits)"},
        "departement": {
            "type": "string",
            "pattern": "^([0-9]{2}|2[AB]|97[1-6])$",
            "description": "an INSEE département code (e.g. 33, 2A or 974)",
        },
        "geometry": {
            "type": "object",
            "required": ["type", "coordinates"],
            "properties": {
                "type": {"enum": ["Polygon", "MultiPolygon"]},
                "coordinates": {"type": "array", "minItems": 1},
            },
        },
        "bbox": {"type": "array", "minItems": 4, "maxItems": 4, "items": {"type": "number"}},
        "crs": _CRS,
        "collection": {
            "type": "string",
            "format": "uri",
            "maxLength": 2000,
            "description": "an OGC API collection (Processes Part 3): this server's communes, or another server's "
            "polygons (fetched under the outbound policy)",
        },
        "filter": {"type": "string", "maxLength": 20_000, "description": "CQL2 text selecting the collection's items"},
        "filter-lang": {"enum": ["cql2-text"]},
    },
    "additionalProperties": False,
    "oneOf": [
        _only("communes"),
        _only("epci"),
        _only("departement"),
        _only("geometry", "crs"),
        {
            **_only("bbox"),
            "properties": {"bbox": {"items": {"minimum": -180, "maximum": 180}}},
            "description": "a bbox without crs is in CRS84: longitude, latitude",
        },
        {"required": ["bbox", "crs"], "propertyNames": {"enum": ["bbox", "crs"]}},
        _only("collection", "filter", "filter-lang"),
    ],
}


@dataclass(frozen=True)
class Execution:
    """One execution's store and inputs, as received (the workflow functions check them)."""

    store: FeatureStore
    territoire: object
    millesimes: object
    methode: str | None
    detail_communes: bool

    def indicators(self) -> Indicators:
        """The indicators document (``workflows.artificialisation.run``)."""
        return run(self.store, self.territoire, self.millesimes, self.methode, self.detail_communes)

    # Any: a GeoJSON FeatureCollection
    def zones(self) -> dict[str, Any]:
        """The artificialised zones of the last millésime (``workflows.exports.artificial_zones``)."""
        return artificial_zones(
            checked_request(self.store, self.territoire, self.millesimes, self.methode, self.detail_communes)
        )


OUTPUTS: dict[str, Output[Execution]] = {
    "artificialisation": Output(
        "Indicateurs",
        "application/json",
        "The millésimes used (millesimes, their ranks rangs_millesimes, the years of each département "
        "millesimes_par_departement, the pairs periodes), then one entry per territory (and per commune when "
        "asked): code, nom, surface_ha, surface_artificialisee_ha, taux_artificialisation, stocks per millésime with "
        "breakdowns by decree category, CS and US; flux per consecutive pair (artificialisation_ha, "
        "desartificialisation_ha, artificialisation_nette_ha, by transition, and the gap between the net flow and "
        "the change of stock, ecart_coherence_ha), the last pair's also as flat fields.",
        Execution.indicators,
    ),
    "tableau": Output(
        "Tableau CSV",
        "text/csv",
        "The main figures as CSV, one row per territory then per commune (ask for this output alone).",
        lambda execution: table_csv(execution.indicators()),
    ),
    "zones_artificialisees": Output(
        "Zones artificialisées",
        "application/geo+json",
        "GeoJSON (CRS84) of the artificialised polygons of the last millésime, cut to the territory, with their "
        f"codes and decree category; at most {MAX_ZONES} polygons (ask for this output alone).",
        Execution.zones,
    ),
}

PROCESS_METADATA: dict[str, Any] = {
    "version": "0.1.0",
    "id": "artificialisation",
    "title": {
        "fr": "Artificialisation des sols (décret n° 2023-1096)",
        "en": "Land artificialisation (décret n° 2023-1096)",
    },
    "description": {
        "fr": "Taux d'artificialisation d'un territoire à chaque millésime OCS GE (stock), et flux "
        "d'artificialisation, de désartificialisation et net entre millésimes consécutifs, selon la nomenclature "
        "annexée à l'article R.101-1 du code de l'urbanisme.",
        "en": "Artificialisation rate of a territory at each OCS GE millésime (stock), and artificialisation, "
        "désartificialisation and net flows between consecutive millésimes, per the annex to article R.101-1 of "
        "the Code de l'urbanisme.",
    },
    "jobControlOptions": ["sync-execute", "async-execute"],
    "keywords": ["OCS GE", "artificialisation", "ZAN", "décret 2023-1096"],
    "links": [
        {
            "type": "text/html",
            "rel": "about",
            "title": "Calcul de l'artificialisation des sols",
            "href": "https://artificialisation.developpement-durable.gouv.fr/calcul-lartificialisation-des-sols",
            "hreflang": "fr-FR",
        }
    ],
    "inputs": {
        "territoire": {
            "title": "Territoire",
            "description": 'One of {"communes": [INSEE codes]}, {"epci": SIREN}, {"departement": code}, '
            '{"geometry": GeoJSON, "crs": URI}, {"bbox": [minx, miny, maxx, maxy], "crs": URI}.',
            "schema": _TERRITOIRE_SCHEMA,
            "minOccurs": 1,
            "maxOccurs": 1,
        },
        "millesimes": {
            "title": "Millésimes",
            "description": "Years, increasing: the stock at each and the flows between each consecutive pair; none "
            "(or []) for every millésime ingested. A territory across départements is computed by rank, as the "
            "official tool does: a named year stands for its rank (1st, 2nd, 3rd millésime) in the départements "
            "that hold it, and each département uses its own millésime of that rank (the answer says which, in "
            "millesimes_par_departement).",
            "schema": {
                "type": "array",
                "maxItems": MAX_MILLESIMES,
                "uniqueItems": True,
                "items": {"type": "integer", "minimum": 2000, "maximum": 2100},
            },
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "methode": {
            "title": "Méthode",
            "description": "ign: IGN's ARTIF layer (default when ingested); decree: the decree thresholds applied to "
            "OCCUPATION_SOL (default otherwise); matrix: the CS × US matrix without thresholds.",
            "schema": {"type": "string", "enum": ["ign", "decree", "matrix"]},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "detail_communes": {
            "title": "Détail par commune",
            "description": "Also return one entry per commune of the territory.",
            "schema": {"type": "boolean", "default": False},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
    },
    "outputs": describe_outputs(OUTPUTS),
    "example": {"inputs": {"territoire": {"communes": ["33009"]}, "millesimes": [2021, 2024]}},
}


class ArtificialisationProcessor(BaseProcessor):
    """Runs the artificialisation workflow on the configured store."""

    # Any: the processor's block of the pygeoapi configuration, free-form
    def __init__(self, processor_def: dict[str, Any]) -> None:
        super().__init__(processor_def, PROCESS_METADATA)
        self.store_url = str(processor_def["store"])
        #: Where this server answers, to tell its own collections from other servers' (collection input).
        self.base_url = str(processor_def.get("url") or "http://127.0.0.1:5000")
        hosts = processor_def.get("trusted_hosts") or ""  # a YAML list, or an environment variable's commas
        listed = hosts.split(",") if isinstance(hosts, str) else [str(host) for host in hosts]
        self.trusted_hosts = frozenset(host.strip().lower() for host in listed if host.strip())
        self.supports_outputs = True

    def _territoire(self, store: FeatureStore, territoire: object) -> object:
        """A collection input replaced by the territory it stands for; any other territoire as given."""
        if isinstance(territoire, dict) and "collection" in territoire:
            return territoire_of_collection(store, territoire, self.base_url, self.trusted_hosts)
        return territoire

    # Any: the request's inputs and outputs are free-form JSON
    def execute(self, data: dict[str, Any], outputs: dict[str, Any] | None = None) -> tuple[str, object]:
        """Validate the inputs and return the output asked for (the indicators document by default)."""
        check_inputs(data, PROCESS_METADATA)
        output = requested_output(outputs, OUTPUTS, "artificialisation")
        store = open_store(self.store_url)
        execution = Execution(
            store,
            self._territoire(store, data["territoire"]),
            data.get("millesimes"),
            data.get("methode"),
            bool(data.get("detail_communes", False)),
        )
        return output.media_type, output.produce(execution)

    # Any: the request's inputs are free-form JSON
    def sync_cost(self, data: dict[str, Any]) -> Cost | None:
        """A lower bound on the run time, known before running (the manager refuses a sync one over budget); None
        for a collection input, which is only read when the process runs."""
        territoire = data.get("territoire")
        if isinstance(territoire, dict) and "collection" in territoire:
            return None
        return artificialisation_cost(open_store(self.store_url), territoire)

    def __repr__(self) -> str:
        return f"<ArtificialisationProcessor> {self.store_url}"
