"""OGC API process `artificialisation`: a thin adapter over ``workflows.artificialisation.run``.

Configured in ``pygeoapi-config.yml`` with ``processor: {name: ...ArtificialisationProcessor, store: ...}``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from pygeoapi.process.base import BaseProcessor

from ...errors import InvalidInputError
from ...results import open_results
from ...stores import FeatureStore, open_store
from ...workflows.artificialisation import MAX_MILLESIMES, Indicators, checked_request, run
from ...workflows.collection_territory import territoire_of_collection
from ...workflows.cost import Cost, artificialisation_cost
from ...workflows.exports import MAX_ZONES, artificial_zones, table_csv
from ...workflows.run_impermeabilisation import from_run
from . import Output, check_inputs, describe_outputs, requested_output
from .sparte_output import sparte_links
from .territoire_schema import MAX_COMMUNES as MAX_COMMUNES
from .territoire_schema import TERRITOIRE_SCHEMA


@dataclass(frozen=True)
class Execution:
    """One execution's store and inputs, as received (the workflow functions check them)."""

    store: FeatureStore
    territoire: object
    millesimes: object
    methode: str | None
    detail_communes: bool
    #: Where `export_sparte` stores its files (the job database), this server's URL and the job's id.
    results: str = "build/jobs.sqlite"
    base_url: str = "http://127.0.0.1:5000"
    job_id: str | None = None
    #: Break the indicators down by zone of the urban plans ingested (``workflows.zoning``).
    zonage: object = False
    #: IGN's exemption layer: True required, None used where held, False ignored (``workflows.exemptions``).
    exemptions: object = None
    #: Also give IGN's artificialised area against the decree's.
    ecart_ign_decree: object = False

    def indicators(self) -> Indicators:
        """The indicators document (``workflows.artificialisation.run``)."""
        return run(
            self.store,
            self.territoire,
            self.millesimes,
            self.methode,
            self.detail_communes,
            zonage=self.zonage,
            exemptions=self.exemptions,
            ecart_ign_decree=self.ecart_ign_decree,
        )

    # Any: a GeoJSON FeatureCollection
    def zones(self) -> dict[str, Any]:
        """The artificialised zones of the last millésime (``workflows.exports.artificial_zones``)."""
        return artificial_zones(
            checked_request(self.store, self.territoire, self.millesimes, self.methode, self.detail_communes)
        )

    def sparte(self) -> dict[str, object]:
        """Links to the sparte-named files of the territory (``sparte_output.sparte_links``)."""
        return sparte_links(
            self.store, self.territoire, self.millesimes, self.methode, self.results, self.base_url, self.job_id
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
        "the change of stock, ecart_coherence_ha), the last pair's also as flat fields; with zonage, the same "
        "per zone type and per zone of the urban plans; where IGN's exemption layer is used (exemptions_millesimes), "
        "each entry's exemptions (area taken out per exemption, stock and net flow avec exemptions); with "
        "ecart_ign_decree, IGN's artificialised area against the decree's per millésime.",
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
    "export_sparte": Output(
        "Export au format de Mon Diagnostic Artificialisation",
        "application/json",
        "fichiers: links to CSV and GeoPackage (EPSG:4326) files named and laid out as the official tool's open data "
        "(MTES-MCT/sparte: artif_epci.csv, imper_commune.gpkg, ... with pourcent_artif_1, surface_artif_1, "
        "flux_surface_1_2, ...): the territory's own level and its communes, artif and imper; surfaces in m². "
        "A territory made of communes only (ask for this output alone).",
        Execution.sparte,
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
            "description": 'One of {"communes": [INSEE codes]}, {"epci": SIREN or name}, {"scot": code or name}, '
            '{"region": code or name}, {"departement": code}, {"geometry": GeoJSON, "crs": URI}, '
            '{"bbox": [minx, miny, maxx, maxy], "crs": URI}, {"liste": [any of these]} (one answer per territory), '
            '{"collection": URL, "filter": CQL2}. EPCI names, SCoT and régions come from ocsge ingest-territoires.',
            "schema": TERRITOIRE_SCHEMA,
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
        "exemptions": {
            "title": "Exemptions (IGN)",
            "description": "IGN's OCS GE Artificialisation avec exemptions (ground-mounted photovoltaic parks, public "
            "parks and gardens from 2 500 m²): absent, used at the millésimes where it is ingested; true, required "
            "(a 400 names a département without it); false, ignored. Each entry's `exemptions` gives the area they "
            "take out, the stock and the net flow avec exemptions; the main figures stay IGN's or the method's.",
            "schema": {"type": "boolean"},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "ecart_ign_decree": {
            "title": "Écart IGN / décret",
            "description": "Also give, per territory and millésime, IGN's artificialised area (ARTIF) against the "
            "decree thresholds applied here to OCCUPATION_SOL (`ecart_ign_decree`: areas, rates, IGN minus decree).",
            "schema": {"type": "boolean", "default": False},
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "source": {
            "title": "Source",
            "description": 'Absent: OCS GE. {"run": job id}: a published segmentation run instead (its class raster): '
            "the answer is then the imperméabilisation only (CS1.1.1.1 + CS1.1.1.2 pixels per territory, and per "
            "commune with detail_communes), as artificialisation needs the usage a run does not give; AI couverture "
            "is not OCS GE, and the answer says so with the model's own caveat.",
            "schema": {
                "type": "object",
                "required": ["run"],
                "additionalProperties": False,
                "properties": {"run": {"type": "string", "minLength": 1, "maxLength": 100}},
            },
            "minOccurs": 0,
            "maxOccurs": 1,
        },
        "zonage": {
            "title": "Ventilation par zonage d'urbanisme",
            "description": "Also break the indicators down by the zones of the local urban plans ingested "
            "(true: collection zonage-urbanisme, CNIG ZONE_URBA), or by zones given here (a GeoJSON "
            "FeatureCollection in CRS84 with the CNIG fields LIBELLE, TYPEZONE, IDURBA: a draft plan, checked as "
            "ocsge ingest checks a file): a member zonage with the same stocks and flows per TYPEZONE (U, AUc, AUs, "
            "AU = AUc + AUs, A, N, and the land no zone covers) and per zone.",
            # the workflow checks a FeatureCollection as ingest checks a file, and names the CNIG field at fault
            "schema": {"type": ["boolean", "object"], "default": False},
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
        self.results = str(processor_def.get("results") or "build/jobs.sqlite")
        self.job_id: str | None = None

    def set_job_id(self, job_id: str) -> None:
        self.job_id = job_id

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
        if "source" in data:
            return "application/json", self._from_run(store, data, output)
        execution = Execution(
            store,
            self._territoire(store, data["territoire"]),
            data.get("millesimes"),
            data.get("methode"),
            bool(data.get("detail_communes", False)),
            self.results,
            self.base_url,
            self.job_id,
            zonage=data.get("zonage", False),
            exemptions=data.get("exemptions"),
            ecart_ign_decree=data.get("ecart_ign_decree", False),
        )
        return output.media_type, output.produce(execution)

    # Any: the request's inputs are free-form JSON
    def _from_run(self, store: FeatureStore, data: dict[str, Any], output: Output[Execution]) -> object:
        """Imperméabilisation from a segmentation run (``workflows.run_impermeabilisation.from_run``)."""
        ocs_only = sorted(data.keys() & {"millesimes", "methode", "zonage", "exemptions", "ecart_ign_decree"})
        if ocs_only or output is not OUTPUTS["artificialisation"]:
            named = ", ".join(ocs_only) or "this output"
            raise InvalidInputError(f"source.run gives the imperméabilisation of a run only: {named} needs OCS GE")
        territoire = self._territoire(store, data["territoire"])
        detail = bool(data.get("detail_communes", False))
        return from_run(store, open_results(self.results), data["source"].get("run"), territoire, detail)

    # Any: the request's inputs are free-form JSON
    def sync_cost(self, data: dict[str, Any]) -> Cost | None:
        """A lower bound on the run time, known before running (the manager refuses a sync one over budget); None
        for a collection input, which is only read when the process runs, and for a run source (pixels, not
        OCS GE polygons: the OCS GE rates do not apply)."""
        territoire = data.get("territoire")
        if (isinstance(territoire, dict) and "collection" in territoire) or "source" in data:
            return None
        return artificialisation_cost(open_store(self.store_url), territoire)

    def __repr__(self) -> str:
        return f"<ArtificialisationProcessor> {self.store_url}"
