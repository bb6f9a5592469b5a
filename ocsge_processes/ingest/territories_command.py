"""``ocsge ingest-territoires``: the command line of ``ingest.territories``."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli_options import STORE_OPTION
from ..errors import OcsgeError
from ..stores import open_store
from .territories import ingest_territories

#: Where ``make web`` installs the official geography (web/package.json pins the package's version).
DEFAULT_PACKAGE = Path("web/node_modules/@etalab/decoupage-administratif")


@click.command("ingest-territoires")
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@STORE_OPTION
def ingest_territories_command(paths: tuple[Path, ...], store: str) -> None:
    """Load the names and members of EPCI, régions, départements and SCoT into the store.

    PATHS: the package @etalab/decoupage-administratif (or its data folder; default: the copy `make web`
    installs, web/node_modules/@etalab/decoupage-administratif) for EPCI, régions and départements, and CSV tables
    `scot_code,scot_nom,commune_code` (or `epci_code,epci_nom,commune_code`), one row per member commune, for SCoT
    perimeters. Each kind given replaces the one held; everything is read and checked before anything is written.
    """
    if not paths:
        if not DEFAULT_PACKAGE.is_dir():
            raise click.UsageError(f"give PATHS, or run `make web` to install {DEFAULT_PACKAGE}")
        paths = (DEFAULT_PACKAGE,)
    try:
        tables = ingest_territories(open_store(store), list(paths))
    except OcsgeError as err:
        raise click.ClickException(str(err)) from err
    for table in tables:
        click.echo(f"{table.kind}: {len(table.records)} territories from {table.source}")
