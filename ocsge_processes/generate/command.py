"""``ocsge generate``: generated OCS GE for some communes, written as an IGN delivery."""

from __future__ import annotations

from pathlib import Path

import click

from ..errors import InvalidInputError, UnknownCodeError
from ..territory import normalise_departement
from .communes import departement_of_communes, read_communes
from .dataset import check_millesimes, generate
from .delivery import write_delivery
from .exemptions import write_exemptions
from .zoning import generate_zoning, write_zoning


def _codes(_ctx: click.Context, _param: click.Parameter, value: str | None) -> list[str] | None:
    if value is None:
        return None
    codes = [code.strip() for code in value.split(",") if code.strip()]
    if not codes:
        raise click.BadParameter("give INSEE codes separated by commas, e.g. 33005,33009")
    return codes


def _departement(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    try:
        return None if value is None else normalise_departement(value)
    except UnknownCodeError as error:
        raise click.BadParameter(str(error)) from None


def _millesimes(_ctx: click.Context, _param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        return check_millesimes(value.split(","))
    except InvalidInputError as error:
        raise click.BadParameter(str(error)) from None


@click.command("generate")
@click.option(
    "--communes",
    "communes_path",
    required=True,
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Commune contours: Admin Express GeoJSON or a GeoPackage layer with an INSEE code field.",
)
@click.option("--codes", callback=_codes, help="Comma-separated INSEE codes to generate (default: all in the file).")
@click.option(
    "--departement", callback=_departement, help="Département to generate (default: the one of the communes selected)."
)
@click.option(
    "--millesimes",
    default="2021,2024",
    show_default=True,
    callback=_millesimes,
    help="The millésimes, increasing: two, or three as IGN delivers for some départements (each evolves from the "
    "one before; a DIFF per consecutive pair).",
)
@click.option(
    "--cell-size",
    "cell_size_m",
    type=float,
    default=100.0,
    show_default=True,
    help="Seed spacing outside built-up zones, in metres.",
)
@click.option(
    "--urban-cell-size",
    "urban_cell_size_m",
    type=float,
    default=25.0,
    show_default=True,
    help="Seed spacing inside built-up zones, in metres.",
)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True, help="Random seed.")
@click.option("--no-archive", is_flag=True, help="Write the delivery folders unpacked instead of 7z archives.")
@click.option(
    "--exemptions",
    is_flag=True,
    help="Also write a generated 'Artificialisation avec exemptions' sample per millésime (decree thresholds, public "
    "park claims; not IGN data).",
)
@click.option(
    "--zonage",
    is_flag=True,
    help="Also write a generated urban zoning of the communes (CNIG ZONE_URBA layout, not a real plan).",
)
@click.option(
    "--out",
    "out_dir",
    required=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder that receives the deliveries.",
)
def generate_command(
    communes_path: Path,
    codes: list[str] | None,
    departement: str | None,
    millesimes: tuple[int, ...],
    cell_size_m: float,
    urban_cell_size_m: float,
    seed: int,
    no_archive: bool,
    exemptions: bool,
    zonage: bool,
    out_dir: Path,
) -> None:
    """Generate OCS GE-like data (marked as generated, not IGN data) in IGN's delivery layout."""
    try:
        communes = read_communes(communes_path, codes, departement)
        departement = departement or departement_of_communes(communes)
    except UnknownCodeError as error:
        raise click.BadParameter(str(error), param_hint="--codes") from None
    except InvalidInputError as error:
        raise click.BadParameter(str(error), param_hint="--communes/--departement") from None
    try:
        generated = generate(
            communes,
            departement=departement,
            millesimes=millesimes,
            cell_size_m=cell_size_m,
            urban_cell_size_m=urban_cell_size_m,
            seed=seed,
        )
    except InvalidInputError as error:
        raise click.UsageError(str(error)) from None
    for path in write_delivery(generated, out_dir, archive=not no_archive):
        click.echo(path)
    for path in write_exemptions(generated, out_dir, archive=not no_archive) if exemptions else []:
        click.echo(path)
    if zonage:
        click.echo(write_zoning(generate_zoning(communes, generated), generated, out_dir))
    changed = ", ".join(f"{len(diff)} changed between {a} and {b}" for (a, b), diff in generated.diffs.items())
    click.echo(
        f"{len(communes)} communes, {len(generated.occupation[generated.millesimes[0]])} polygons per millésime, "
        f"{changed}",
        err=True,
    )
