"""The ``ocsge`` command: one group, subcommands over the same library functions."""

from __future__ import annotations

import logging
from functools import partial
from pathlib import Path

import click
from tqdm import tqdm

from . import __version__
from .errors import OcsgeError
from .generate.command import generate_command

STORE_OPTION = click.option(
    "--store", envvar="OCSGE_STORE", default="data/ocsge.gpkg", show_default=True,
    help="GeoPackage path (embedded store) or postgresql:// URL (PostGIS). Env: OCSGE_STORE.")


@click.group()
@click.version_option(__version__)
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
def main(verbose: bool) -> None:
    """OCS GE OGC API server: ingest deliveries, generate data, configure the server."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(exists=True, path_type=Path))
@STORE_OPTION
@click.option("--departement", help="Département code for files that name none (e.g. 33).")
def ingest(paths: tuple[Path, ...], store: str, departement: str | None) -> None:
    """Load IGN OCS GE deliveries (7z, GPKG, SHP, folders) and commune contours into the store.

    Every file is read and checked before anything is written, so a bad file leaves the store as it was.
    Re-ingesting a delivery replaces its rows (per layer, département and millésime): it is idempotent.
    """
    from .ingest import read_delivery
    from .stores import open_store

    try:
        batches = []
        for path in tqdm(paths, desc="reading", unit="file", disable=len(paths) < 2):
            batches.extend(read_delivery(path, departement=departement))
        target = open_store(store)
        with tqdm(total=sum(len(b.frame) for b in batches), desc="writing", unit="feature") as bar:
            for batch in batches:
                written = target.replace_slice(batch.layer, batch.epsg, batch.frame, batch.slice)
                bar.update(written)
                tqdm.write(f"{batch.layer.collection_id}: {written} features from {batch.source} "
                           f"({', '.join(f'{k}={v}' for k, v in batch.slice.items())})")
    except OcsgeError as err:
        raise click.ClickException(str(err)) from err


@main.command()
@STORE_OPTION
@click.option("--departement", required=True, help="Département whose communes are computed (e.g. 33).")
@click.option("--methode", type=click.Choice(["ign", "decree", "matrix"]),
              help="Default: ign when IGN's ARTIF layer is ingested, else decree.")
def artificialisation(store: str, departement: str, methode: str | None) -> None:
    """Compute every commune of a département and fill the `artificialisation-communes` collection."""
    from .layers import ARTIFICIALISATION_COMMUNES
    from .stores import open_store
    from .territory import departement_epsg
    from .workflows.batch import commune_rows, periods

    try:
        target = open_store(store)
        pairs = periods(target, departement)
        if not pairs:
            raise click.ClickException(f"nothing to compute for département {departement}: ingest two millésimes "
                                       "of OCCUPATION_SOL or a difference layer first")
        for pair in pairs:
            with tqdm(desc=f"{pair[0]}→{pair[1]}", unit="step") as bar:
                frame = commune_rows(target, departement, pair, methode, progress=partial(_advance, bar))
            slice_values = {"departement": frame.departement.iloc[0], "millesime_avant": pair[0],
                            "millesime_apres": pair[1]}
            target.replace_slice(ARTIFICIALISATION_COMMUNES, departement_epsg(departement), frame, slice_values)
            click.echo(f"artificialisation-communes: {len(frame)} communes for {pair[0]}→{pair[1]}")
    except OcsgeError as err:
        raise click.ClickException(str(err)) from err


@main.command()
@STORE_OPTION
@click.option("--template", default="pygeoapi-config.yml", show_default=True, type=click.Path(path_type=Path),
              help="The pygeoapi configuration template.")
@click.option("--out", default="build/pygeoapi-config.yml", show_default=True, type=click.Path(path_type=Path))
@click.option("--openapi", default="build/openapi.yml", show_default=True, type=click.Path(path_type=Path),
              help="Where to write the OpenAPI document generated from that configuration.")
def config(store: str, template: Path, out: Path, openapi: Path) -> None:
    """Write the runtime pygeoapi configuration (the collections the store holds) and its OpenAPI document."""
    from .server.config import build_config, load_template, write_config, write_openapi

    try:
        runtime = build_config(load_template(template), store)
    except OcsgeError as err:
        raise click.ClickException(str(err)) from err
    write_config(runtime, out)
    write_openapi(runtime, openapi)
    click.echo(f"{out}: {len(runtime['resources'])} collections ({', '.join(runtime['resources'])})")


@main.command()
@click.option("--out", default="schemas", show_default=True, type=click.Path(path_type=Path))
def schemas(out: Path) -> None:
    """Write the JSON Schema of every collection (the files in schemas/)."""
    from .schema import write_schemas

    for path in write_schemas(out):
        click.echo(path)


main.add_command(generate_command)


def _advance(bar: tqdm, done: int, total: int) -> None:
    """Move a progress bar to ``done`` of ``total`` steps."""
    bar.total = total
    bar.update(done - bar.n)
