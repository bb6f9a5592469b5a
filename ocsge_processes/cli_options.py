"""Command-line options every ``ocsge`` command module shares, so each says the same thing in ``--help``."""

from __future__ import annotations

import click

#: The store a command reads or writes: the embedded GeoPackage by default, or a PostGIS URL.
STORE_OPTION = click.option(
    "--store",
    envvar="OCSGE_STORE",
    default="data/ocsge.gpkg",
    show_default=True,
    help="GeoPackage path (embedded store) or postgresql:// URL (PostGIS). Env: OCSGE_STORE.",
)

#: The result store a command reads or writes: the server's job database, where published COGs live.
RESULTS_OPTION = click.option(
    "--results",
    envvar="OCSGE_JOBS",
    default="build/jobs.sqlite",
    show_default=True,
    help="The result store: the server's job database (SQLite path or postgresql:// URL). Env: OCSGE_JOBS.",
)
