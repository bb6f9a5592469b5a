"""``ocsge versions``: the versions of each millésime a store holds (``ingest.versions``), corrective patches
included, and where the replaced ones are kept."""

from __future__ import annotations

import click

from ..cli_options import STORE_OPTION
from ..stores import open_store
from .versions import all_versions


@click.command("versions")
@STORE_OPTION
@click.option("--all", "every", is_flag=True, help="Every slice, not only those a corrective patch replaced.")
def versions_command(store: str, every: bool) -> None:
    """List each slice's versions (layer/département/millésime): number, delivery, edition date, and for a replaced
    one when and by which patch, and the collection that keeps its rows."""
    target = open_store(store)
    try:
        for key, history in all_versions(target).items():
            if len(history) < 2 and not every:
                continue
            click.echo(key)
            for version in history:
                state = "current" if version is history[-1] else f"replaced {version['remplacee_le']} by "
                state += "" if version is history[-1] else str(version["remplacee_par"])
                kept = f", kept in {version['conservee_dans']}" if version["conservee_dans"] else ""
                patch = " (corrective patch)" if version["correctif"] else ""
                click.echo(
                    f"  version {version['version']}: {version['source']}{patch}, "
                    f"edition {version['date'] or 'unknown'}; {state}{kept}"
                )
    finally:
        target.close()
