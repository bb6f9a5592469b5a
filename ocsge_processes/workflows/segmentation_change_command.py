"""``ocsge segment-change RUN_A RUN_B``: the change between two published segmentation runs (two orthophoto
campaigns of one territory) published into ``ocsge-segmentation-changement``, its sealing flows printed as JSON."""

from __future__ import annotations

import json

import click

from ..cli_options import RESULTS_OPTION, STORE_OPTION
from ..errors import OcsgeError
from ..results import open_results
from ..segmentation.vectorise import MinimumUnits
from ..stores import open_store
from .segmentation_change import compare_runs


@click.command("segment-change")
@click.argument("run_avant")
@click.argument("run_apres")
@STORE_OPTION
@RESULTS_OPTION
@click.option("--departement", required=True, help="INSEE code of the département (picks the storage CRS).")
@click.option("--building-m2", type=float, default=None, help="Building minimum unit (m²); OCS GE's by default.")
@click.option("--built-up-m2", type=float, default=None, help="Other minimum unit (m²); OCS GE's zone construite one.")
def segment_change_command(
    run_avant: str,
    run_apres: str,
    store: str,
    results: str,
    departement: str,
    building_m2: float | None,
    built_up_m2: float | None,
) -> None:
    """Publish the couverture change from run RUN_AVANT to RUN_APRES; print the flows (AI couverture, not OCS GE)."""
    defaults = MinimumUnits()
    units = MinimumUnits(
        building_m2=defaults.building_m2 if building_m2 is None else building_m2,
        built_up_m2=defaults.built_up_m2 if built_up_m2 is None else built_up_m2,
    )
    try:
        publication = compare_runs(
            open_store(store), open_results(results), run_avant, run_apres, departement, units=units
        )
    except OcsgeError as err:
        raise click.ClickException(str(err)) from err
    click.echo(json.dumps(publication.summary(), ensure_ascii=False, indent=2))
