"""``ocsge publish-segmentation``: a class COG already made (``ocsge segment --out``) published as a run of
``ocsge-segmentation``, with its polygons (given, or vectorised from the COG) and the COG in the result store.

What ``make serve``'s demo runs over the real Montpellier patch; a run of the process publishes itself.
"""

from __future__ import annotations

from pathlib import Path

import click
import geopandas as gpd

from ..cli_options import RESULTS_OPTION, STORE_OPTION
from ..errors import OcsgeError
from ..results import open_results
from ..segmentation.vectorise import vectorise_file
from ..stores import open_store
from .segmentation_publish import RunMetadata, publish_run


@click.command("publish-segmentation")
@click.argument("classes", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@STORE_OPTION
@RESULTS_OPTION
@click.option("--run", "run_id", required=True, help="The run's id: its slice of the collection, its result id.")
@click.option("--departement", required=True, help="INSEE code of the département (picks the storage CRS).")
@click.option("--model", default="default", show_default=True, help="The model that made the classes.")
@click.option("--date", "taken", help="Date the orthophoto was taken (YYYY-MM-DD), when known.")
@click.option(
    "--vectors",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The run's polygons (a code_cs column); by default the COG is vectorised whole (25 Mpx at most).",
)
@click.option("--base-url", envvar="OCSGE_URL", default="http://127.0.0.1:5000", show_default=True)
def publish_command(
    classes: Path,
    store: str,
    results: str,
    run_id: str,
    departement: str,
    model: str,
    taken: str | None,
    vectors: Path | None,
    base_url: str,
) -> None:
    """Publish the class COG CLASSES as one run of the ocsge-segmentation collection."""
    try:
        polygons = gpd.read_file(vectors) if vectors else vectorise_file(classes)
        publication = publish_run(
            open_store(store),
            open_results(results),
            polygons,
            classes,
            RunMetadata(run_id, model, departement, taken),
            base_url=base_url,
        )
    except OcsgeError as err:
        raise click.ClickException(str(err)) from err
    click.echo(
        f"{publication.collection}: run {run_id}, {publication.features} polygons (EPSG:{publication.epsg}); "
        f"classes {publication.classification} ({publication.size} bytes)"
    )
