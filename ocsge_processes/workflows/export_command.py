"""``ocsge export``: the sparte-named open data files (``workflows.sparte_export``) of every land of a store."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli_options import STORE_OPTION
from ..errors import OcsgeError
from ..stores import open_store
from .sparte_columns import FORMATS, INDICATORS, LEVELS, Indicator, Level
from .sparte_export import export_frame, land_names, store_communes, write_export


@click.command("export")
@STORE_OPTION
@click.option(
    "--niveau",
    "levels",
    type=click.Choice(LEVELS),
    multiple=True,
    help="Level to export (repeatable); every level by default.",
)
@click.option(
    "--indicateur",
    "indicators",
    type=click.Choice(INDICATORS),
    multiple=True,
    help="artif (artificialisation) or imper (imperméabilisation), repeatable; both by default.",
)
@click.option("--format", "formats", type=click.Choice(FORMATS), multiple=True, help="csv or gpkg; both by default.")
@click.option(
    "--departement",
    "departements",
    multiple=True,
    help="Only the communes of this département (repeatable); every département whose communes are ingested by "
    "default, those with no OCS GE being left out and named.",
)
@click.option("--methode", type=click.Choice(["ign", "decree", "matrix"]), help="As the artificialisation process.")
@click.option(
    "--out", type=click.Path(file_okay=False, path_type=Path), default=Path("build/export"), show_default=True
)
def export_command(
    store: str,
    levels: tuple[Level, ...],
    indicators: tuple[Indicator, ...],
    formats: tuple[str, ...],
    departements: tuple[str, ...],
    methode: str | None,
    out: Path,
) -> None:
    """Write the artificialisation and imperméabilisation figures per commune, EPCI, SCoT, département and région
    with the official tool's (sparte) file and column names: artif_commune.csv, imper_epci.gpkg, ... in EPSG:4326."""
    target = open_store(store)
    try:
        communes = store_communes(target, departements or None, methode, lambda line: click.echo(line, err=True))
        out.mkdir(parents=True, exist_ok=True)
        for level in levels or LEVELS:
            names = land_names(target, level)
            for indicator in indicators or INDICATORS:
                frame = export_frame(communes, level, indicator, names)
                for fmt in formats or FORMATS:
                    path = write_export(frame, out, level, indicator, fmt)
                    click.echo(f"{path}: {len(frame)} {level}")
    except OcsgeError as err:
        raise click.ClickException(str(err)) from None
    finally:
        target.close()
