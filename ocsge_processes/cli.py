"""The ``ocsge`` command: one group, subcommands over the same library functions."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn, TypeVar

import click
from tqdm import tqdm

from . import __version__
from .cli_options import STORE_OPTION
from .errors import OcsgeError
from .generate.command import generate_command
from .ingest.territories_command import ingest_territories_command
from .ingest.versions_command import versions_command
from .styles import DEFAULT_BASE_URL
from .workflows.export_command import export_command
from .workflows.segmentation_change_command import segment_change_command
from .workflows.segmentation_publish_command import publish_command

if TYPE_CHECKING:
    from .ingest import Batch
    from .jobs.fanout import Fanout, KeyState
    from .layers import Layer
    from .segmentation import ModelSpec
    from .segmentation.mosaic import Mosaic, Territory
    from .stores import FeatureStore
    from .workflows.segmentation_run import RunOptions, RunSummary

#: A click command function, before or after click has wrapped it.
_Command = TypeVar("_Command", bound=Callable[..., object] | click.Command)


def _path_option(name: str, default: str, help_text: str | None = None) -> Callable[[_Command], _Command]:
    """An option naming a file or folder, with its default shown in ``--help``."""
    return click.option(name, default=default, show_default=True, type=click.Path(path_type=Path), help=help_text)


@click.group()
@click.version_option(__version__)
@click.option("-v", "--verbose", is_flag=True, help="Log what happens.")
def main(verbose: bool) -> None:
    """OCS GE OGC API server: ingest deliveries, generate data, configure the server."""
    logging.basicConfig(level=logging.INFO if verbose else logging.WARNING, format="%(levelname)s %(message)s")


@main.command()
@click.argument("paths", nargs=-1, type=click.Path(exists=True, path_type=Path))
@STORE_OPTION
@click.option("--departement", help="Département code for files that name none (e.g. 33).")
@click.option(
    "--strict",
    is_flag=True,
    help="Refuse an OCCUPATION_SOL or ARTIF layer whose polygons overlap or leave holes (of over 0.01 m²).",
)
@click.option("--geoplateforme", "zone", help="Download this zone (D033, D02A, D971) from the Géoplateforme first.")
@click.option("--millesime", type=int, help="With --geoplateforme: this millésime and the DIFF that ends at it.")
@click.option(
    "--produit",
    "produits",
    multiple=True,
    type=click.Choice(["OCSGE", "OCSGE-ARTIFICIALISATION"]),
    help="With --geoplateforme: the product(s) to download (repeat it; default OCSGE).",
)
@click.option(
    "--geoplateforme-url",
    envvar="OCSGE_GEOPLATEFORME_URL",
    default="https://data.geopf.fr/telechargement",
    show_default=True,
    help="Base URL of the Géoplateforme download service. Env: OCSGE_GEOPLATEFORME_URL.",
)
@_path_option("--download-dir", "data/geoplateforme", "Where downloads are kept (a new run resumes them).")
@click.option(
    "--correctif",
    is_flag=True,
    help="The deliveries are corrective patches (IGN's Patch correctif; a name holding 'correctif' or 'patch' says "
    "so too): each becomes the new version of its millésime, the replaced rows kept in the -remplacee collections.",
)
def ingest(
    paths: tuple[Path, ...],
    store: str,
    departement: str | None,
    strict: bool,
    zone: str | None,
    millesime: int | None,
    produits: tuple[str, ...],
    geoplateforme_url: str,
    download_dir: Path,
    correctif: bool,
) -> None:
    """Load IGN OCS GE deliveries (7z, GPKG, SHP, folders) and commune contours into the store.

    Every file is read and checked before anything is written, so a bad file leaves the store as it was: finite
    coordinates inside the CRS's area of use and the département's communes, and for OCCUPATION_SOL and ARTIF a
    line on their overlaps and gaps. Re-ingesting a delivery replaces its rows (per layer, département and
    millésime): it is idempotent. With --geoplateforme, the zone's editions are downloaded (resumed after an
    interruption, checked by MD5 or length and CRCs) and ingested with the PATHS given.
    """
    from .ingest import read_delivery
    from .ingest.checks import check_batches
    from .ingest.versions import delivery_of, write_batch
    from .stores import open_store
    from .workflows.geoplateforme_download import fetch_editions

    if not paths and zone is None:
        raise click.UsageError("give delivery PATHS, or a zone with --geoplateforme")
    try:
        if zone is not None:
            with tqdm(desc="downloading", unit="B", unit_scale=True, disable=None) as bar:
                fetched = fetch_editions(
                    geoplateforme_url, zone, produits or ("OCSGE",), millesime, download_dir, bar.update
                )
            for item in fetched:
                tqdm.write(f"{item.edition.name}: {item.received} bytes received, resumed from {item.resumed_from}")
            paths = (*paths, *(item.archive for item in fetched))
        batches: list[Batch] = []
        origins = []
        for path in tqdm(paths, desc="reading", unit="file", disable=len(paths) < 2):
            read = list(read_delivery(path, departement=departement))
            batches.extend(read)
            origins.extend([delivery_of(path, correctif)] * len(read))
        target = open_store(store)
        for line, clean in check_batches(batches, _stored_communes(target, batches), strict=strict):
            tqdm.write(f"{'partition' if clean else 'not a partition'}: {line}")
        with tqdm(total=sum(len(b.frame) for b in batches), desc="writing", unit="feature") as bar:
            for batch, origin in zip(batches, origins, strict=True):
                written = write_batch(target, batch, origin)
                bar.update(written)
                tqdm.write(
                    f"{batch.layer.collection_id}: {written} features from {batch.source} "
                    f"({', '.join(f'{k}={v}' for k, v in batch.slice.items())})"
                    + (" as a corrective patch" if origin.correctif else "")
                )
        _refresh_tiles(target, batches)
    except OcsgeError as err:
        raise click.ClickException(str(err)) from err


def _refresh_tiles(target: FeatureStore, batches: list[Batch]) -> None:
    """Rebuild the cached tiles the ingest made stale, for the layers whose zoomed-out tiles are cached."""
    # Each (layer, EPSG) once; a Layer holds dicts, so it cannot be a key itself.
    layers = {(batch.layer.collection_id, batch.epsg): (batch.layer, batch.epsg) for batch in batches}
    for layer, epsg in layers.values():
        _refresh_layer_tiles(target, layer, epsg, "the ingest")


def _refresh_layer_tiles(target: FeatureStore, layer: Layer, epsg: int, writer: str) -> None:
    """Rebuild the cached tiles of ``layer`` that a write made stale (``replace_slice`` marked them), if any are
    cached: until then they are built live, so this is for speed, not correctness."""
    from .tiles.pyramid import refresh_pyramid

    with tqdm(desc=f"tiles of {layer.collection_id}", unit="tile", disable=None) as bar:
        report = refresh_pyramid(target, layer, epsg, partial(_advance, bar))
    if report is not None:
        tqdm.write(f"{layer.collection_id}: {report.built} cached tiles rebuilt over what {writer} replaced")


def _stored_communes(target: FeatureStore, batches: list[Batch]) -> dict[str, tuple[float, float, float, float]]:
    """Extent of the stored communes of each département the batches feed (the département-extent check)."""
    from .layers import COMMUNES
    from .stores import table_name

    tables = target.tables()
    extents: dict[str, tuple[float, float, float, float]] = {}
    wanted = {(batch.epsg, str(batch.slice["departement"])) for batch in batches if "departement" in batch.slice}
    for epsg, departement in sorted(wanted):
        if table_name(COMMUNES, epsg) in tables:
            communes = target.read_frame(COMMUNES, epsg, equals={"departement": departement})
            if len(communes):
                x0, y0, x1, y1 = (float(bound) for bound in communes.total_bounds)
                extents[departement] = (x0, y0, x1, y1)
    return extents


@main.command()
@STORE_OPTION
@click.option(
    "--departement",
    "departements",
    required=True,
    multiple=True,
    help="Département whose communes are computed (e.g. 33); repeat it or separate codes with commas (33,40,47).",
)
@click.option(
    "--methode",
    type=click.Choice(["ign", "decree", "matrix"]),
    help="Default: ign when IGN's ARTIF layer is ingested, else decree.",
)
@click.option(
    "--broker",
    help="Redis URL of the `ocsge worker`s (server.manager.broker): one task per département goes to them. "
    "Without it the départements are computed here, one after the other.",
)
@click.option(
    "--stale-after",
    default=60.0,
    show_default=True,
    type=click.FloatRange(min=1),
    help="Seconds without a heartbeat after which a département's worker is reported lost.",
)
def artificialisation(
    store: str, departements: tuple[str, ...], methode: str | None, broker: str | None, stale_after: float
) -> None:
    """Compute every commune of each département, every pair of millésimes, into the `artificialisation-communes`
    collection. A pair whose inputs did not change since it was computed is skipped: run it again after an
    interruption and it resumes."""
    from .jobs.fanout import DONE, Fanout, run_key
    from .layers import ARTIFICIALISATION_COMMUNES
    from .stores import open_store
    from .territory import departement_epsg, normalise_departement
    from .workflows.batch import SCOPE

    try:
        codes = list(dict.fromkeys(normalise_departement(c) for v in departements for c in v.replace(",", " ").split()))
        fanout = Fanout(open_store(store), SCOPE, codes)
        fanout.queue()
    except OcsgeError as err:
        raise click.ClickException(str(err)) from err
    options = {"methode": methode} if methode else {}
    beat_s = stale_after / 4  # four beats per stale period: one late beat never reports a live worker lost
    if broker:
        from .jobs.distributed import make_app

        fanout.send(make_app(broker), DEPARTEMENT_TASK, store, options, beat_s)
        states = _follow(fanout, stale_after)
    else:
        states = {}
        for code in codes:
            with tqdm(total=100, desc=code, unit="%", bar_format=_BAR) as bar:
                states[code] = run_key(
                    store, SCOPE, code, fanout.run_id, options, beat_s, _departement_work, partial(_percent, bar)
                )
            click.echo(f"{code}: {states[code].message}")
    try:
        for epsg in sorted({departement_epsg(code) for code in codes}):
            _refresh_layer_tiles(open_store(store), ARTIFICIALISATION_COMMUNES, epsg, "the computation")
    except OcsgeError as err:
        raise click.ClickException(str(err)) from err
    failed = [f"{code}: {state.message}" for code, state in states.items() if state.state != DONE]
    if failed:
        raise click.ClickException("not computed (run again to resume):\n" + "\n".join(failed))


#: The Celery task of one département of `ocsge artificialisation` (registered by `ocsge worker`).
DEPARTEMENT_TASK = "ocsge.artificialisation_departement"
_BAR = "{desc}: {percentage:3.0f}%|{bar}| {elapsed}"


def _departement_work(
    store: FeatureStore, departement: str, options: Mapping[str, object], progress: Callable[[float], None]
) -> str:
    """The fan-out's work for one département: the batch, then what it did in a line."""
    from .workflows.batch import departement_batch

    methode = options.get("methode")
    done = departement_batch(store, departement, str(methode) if methode else None, progress)
    computed = [d for d in done if d.rows is not None]
    pairs = ", ".join(f"{d.pair[0]}→{d.pair[1]}" for d in computed) or "none"
    return f"{len(computed)} of {len(done)} pairs computed ({pairs}), {sum(d.rows or 0 for d in computed)} rows"


def _percent(bar: tqdm[NoReturn], done: float) -> None:
    bar.update(round(100 * done) - bar.n)


def _follow(fanout: Fanout, stale_after: float) -> dict[str, KeyState]:
    """Bars of the départements the workers run, until each is done or failed; a line as each ends."""
    from .jobs.fanout import DONE, FAILED, QUEUED

    overall = tqdm(total=len(fanout.keys), desc="départements", unit="dep", position=0)
    bars: dict[str, tqdm[NoReturn]] = {}
    ended: dict[str, KeyState] = {}
    while len(ended) < len(fanout.keys):
        for code, state in fanout.states(stale_after).items():
            if code in ended or state.state == QUEUED:
                continue
            bar = bars.setdefault(code, tqdm(total=100, desc=code, unit="%", bar_format=_BAR, leave=False))
            _percent(bar, state.done)
            if state.state in (DONE, FAILED):
                ended[code] = state
                bars.pop(code).close()
                overall.update()
                overall.write(f"{code}: {state.state}: {state.message}")
        time.sleep(0.5)
    overall.close()
    return ended


@main.command()
@click.argument("image", required=False, type=click.Path(exists=True, path_type=Path))
@click.option("--irc", type=click.Path(exists=True, path_type=Path), help="BD ORTHO IRC image (NIR, R, G).")
@click.option(
    "--elevation",
    type=click.Path(exists=True, path_type=Path),
    help="Elevation band (nDSM / 0.2 m, 8-bit, FLAIR's encoding) for models that read E.",
)
@click.option("--out", required=True, type=click.Path(path_type=Path), help="Classification COG to write.")
@click.option("--vectors", type=click.Path(path_type=Path), help="Also write OCS GE polygons (GPKG or GeoJSON).")
@click.option(
    "--model",
    help="Registry model (config/models.yml). Default: `default`, or with --bands the "
    "FLAIR-INC 15-class model reading those bands.",
)
@click.option(
    "--checkpoint",
    type=click.Path(exists=True, path_type=Path),
    help="Weights file (.pth, Lightning .ckpt or .safetensors) instead of the registry's.",
)
@click.option("--bands", help="Bands of the checkpoint, e.g. R,G,B,NIR,E (picks the matching FLAIR-INC model).")
@click.option("--device", type=click.Choice(["auto", "cuda", "cpu"]), default="auto", show_default=True)
@click.option("--window", type=click.IntRange(32), help="Window side in px (default: 1024, or less for a small image).")
@click.option("--margin", type=click.IntRange(0), help="Context cropped on each side, px (default: 128, IGN's).")
@click.option("--batch", type=click.IntRange(1), help="Windows per batch (default: 8 on CUDA, 1 on the CPU).")
@click.option(
    "--territoire",
    help="With BD ORTHO dalles (IMAGE a folder, a .txt list, a .7z archive, a VRT): the territory to segment, a "
    "commune, EPCI or département code (communes from --store) or minx,miny,maxx,maxy[,CRS]. --out is then the run "
    "folder: run again to resume.",
)
@click.option("--block-side", type=click.IntRange(32), help="Block side in px (default: from the window).")
@click.option(
    "--wms",
    help="Instead of IMAGE, with --territoire: a WMS 1.3.0 (the Géoplateforme's https://data.geopf.fr/wms-r/wms) "
    "read at 0.2 m in 800 m cells of its ORTHOIMAGERY.ORTHOPHOTOS(.IRC) layers, cached in the run folder.",
)
@click.option(
    "--broker",
    help="With dalles: Redis URL of the `ocsge worker`s; one task per block goes to their gpu queue (the run "
    "folder must be theirs too). Without it the blocks run here, one after the other.",
)
@click.option(
    "--publish",
    is_flag=True,
    help="With dalles: once every block is finished, publish the run (named after its folder) into --store's "
    "ocsge-segmentation collection and its class COG into the job database (OCSGE_JOBS), served under OCSGE_URL.",
)
@STORE_OPTION
def segment(
    image: Path | None,
    irc: Path | None,
    elevation: Path | None,
    out: Path,
    vectors: Path | None,
    model: str | None,
    checkpoint: Path | None,
    bands: str | None,
    device: str,
    window: int | None,
    margin: int | None,
    batch: int | None,
    territoire: str | None,
    block_side: int | None,
    wms: str | None,
    broker: str | None,
    publish: bool,
    store: str,
) -> None:
    """Classify an orthophoto into OCS GE couverture (a COG on the image's grid), and optionally polygons; or BD
    ORTHO dalles over a territory, block by block, resumable."""
    from .layers import AI_COUVERTURE_NOTICE
    from .segmentation import get_model, models
    from .segmentation.engine import segment_files
    from .segmentation.vectorise import vectorise_file
    from .segmentation.windows import TilingChoice
    from .workflows.segmentation_run import RunOptions

    try:
        name = model or (_model_for_bands(models(), bands) if bands else "default")
        spec = get_model(name)
        if bands and tuple(bands.split(",")) != spec.bands:
            raise click.ClickException(f"model {name} reads {','.join(spec.bands)}, not {bands}")
        if (image is None) == (wms is None):
            raise click.UsageError("give IMAGE or --wms (with --territoire), not both")
        if image is None or territoire or image.is_dir() or image.suffix.lower() in (".txt", ".7z"):
            if vectors or irc or elevation:
                raise click.ClickException(
                    "with dalles, --irc and --elevation come from the dalles themselves, and the polygons are "
                    "polygons.gpkg in the run folder (--out)"
                )
            options = RunOptions(name, checkpoint, device, TilingChoice(window, margin, batch), block_side)
            _segment_dalles(image or wms or "", out, territoire, store, options, broker, publish)
            return
        with tqdm(desc=f"segment ({name})", unit="window") as bar:
            result = segment_files(
                image,
                out,
                model=spec,
                checkpoint=checkpoint,
                irc=irc,
                elevation=elevation,
                tiling=TilingChoice(window, margin, batch),
                device=device,
                progress=lambda done, total: _advance(bar, done, total),
            )
        click.echo(f"{out}: {result.windows} windows on {result.device} in {result.seconds:.1f} s")
        click.echo(AI_COUVERTURE_NOTICE)
        if vectors:
            polygons = vectorise_file(out)
            polygons.to_file(vectors)
            click.echo(f"{vectors}: {len(polygons)} polygons")
    except OcsgeError as err:
        raise click.ClickException(str(err)) from err


def _segment_dalles(
    source: Path | str,
    run_dir: Path,
    territoire: str | None,
    store: str,
    options: RunOptions,
    broker: str | None,
    publish: bool = False,
) -> None:
    """``ocsge segment`` over dalles: the plan of blocks run here or fanned out, then assembled (class COG,
    stitched polygons) and published when asked, its summary printed as JSON."""
    import json
    import os

    from .layers import AI_COUVERTURE_NOTICE
    from .segmentation import get_model
    from .stores import open_store
    from .workflows.segmentation_assembly import finish, publisher
    from .workflows.segmentation_run import prepare, run_blocks, store_territory, territory_from_text

    territory = None
    if territoire:
        territory = territory_from_text(territoire, lambda spec: store_territory(open_store(store), spec))
    run_dir.mkdir(parents=True, exist_ok=True)
    bands = get_model(options.model).bands
    if isinstance(source, str):  # --wms
        mosaic = _wms_mosaic(source, territory, bands, run_dir)
    else:
        mosaic = prepare(source, source if source.is_dir() else source.parent, run_dir / "mosaic", bands, territory)
    for line in mosaic.missing:
        click.echo(f"missing: {line}", err=True)
    with _cancel_on_signals() as stop:
        if broker:
            summary = _fan_out_blocks(mosaic, run_dir.resolve(), options, store, broker, stop)
        else:
            with tqdm(desc="segment", unit="block") as bar:
                summary = run_blocks(
                    mosaic, run_dir, options, lambda done, total, _km2, _all: _advance(bar, done, total), stop.is_set
                )
    jobs, url = os.environ.get("OCSGE_JOBS", "build/jobs.sqlite"), os.environ.get("OCSGE_URL", "http://127.0.0.1:5000")
    summary = finish(run_dir, mosaic, summary, run_dir.resolve().name, publisher(store, jobs, url) if publish else None)
    click.echo(json.dumps({**summary, "avertissement": AI_COUVERTURE_NOTICE}, indent=1))
    left = summary["blocks"] - summary["computed"] - summary["reused"]
    if left:
        cancelled = "cancelled: " if summary["cancelled"] else ""
        raise click.ClickException(f"{cancelled}{left} block(s) not finished; run again to resume")


def _wms_mosaic(url: str, territory: Territory | None, bands: tuple[str, ...], run_dir: Path) -> Mosaic:
    """The mosaic of ``ocsge segment --wms``: its cells cached in the run folder; the WMS's host is trusted (the
    operator named it), every other check of the outbound policy still applies."""
    from . import outbound
    from .workflows.images import ImagePolicy
    from .workflows.segmentation_wms import WmsSource, wms_mosaic

    if territory is None:
        raise click.UsageError("--wms needs --territoire: the WMS covers the whole country")
    policy = ImagePolicy(trusted_hosts=frozenset({outbound.parse(url).host}))
    with tqdm(desc="WMS", unit="cell") as bar:
        return wms_mosaic(
            WmsSource(url), territory, bands, policy, run_dir / "wms-cache", run_dir / "mosaic", partial(_advance, bar)
        )


@contextmanager
def _cancel_on_signals() -> Iterator[threading.Event]:
    """Ctrl-C (SIGINT) or SIGTERM sets the event instead of stopping the command, which then cancels its run and
    says what is finished; a second signal stops it at once."""
    stop = threading.Event()

    def handler(_signal: int, _frame: object) -> None:
        if stop.is_set():
            raise KeyboardInterrupt
        stop.set()

    previous = {number: signal.signal(number, handler) for number in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stop
    finally:
        for number, before in previous.items():
            signal.signal(number, before)


def _fan_out_blocks(
    mosaic: Mosaic, run_dir: Path, options: RunOptions, store: str, broker: str, stop: threading.Event
) -> RunSummary:
    """One task per block not finished yet on the workers' gpu queue, with a bar (``segmentation_fanout``); once
    ``stop`` is set the run is cancelled and the summary comes once the workers have let go."""
    from .server.processes.segmentation_fanout import fan_out_blocks

    with tqdm(desc="segment", unit="block") as bar:

        def stopping() -> bool:  # asked until it says yes
            if stop.is_set():
                bar.write("cancelled: the workers stop their blocks; run again to resume")
            return stop.is_set()

        return fan_out_blocks(
            mosaic,
            run_dir,
            options,
            store,
            broker,
            lambda done, total, _km2, _all: _advance(bar, done, total),
            stopping,
            on_failed=lambda key, message: bar.write(f"{key}: {message}"),
        )


def _model_for_bands(registry: dict[str, ModelSpec], bands: str) -> str:
    wanted = tuple(bands.split(","))
    matches = [
        name
        for name, spec in registry.items()
        if spec.bands == wanted and name.startswith("FLAIR-INC") and name.endswith("15cl")
    ]
    if not matches:
        raise click.ClickException(f"no FLAIR-INC 15-class model reads {bands}; give --model")
    return matches[0]


@main.command()
@click.option(
    "--rgb", "rgb", required=True, type=click.Path(exists=True, path_type=Path), help="BD ORTHO RVB image (R, G, B)."
)
@click.option("--irc", type=click.Path(exists=True, path_type=Path), help="BD ORTHO IRC image (NIR, R, G).")
@click.option(
    "--lidar",
    multiple=True,
    required=True,
    type=click.Path(exists=True, path_type=Path),
    help="Classified LiDAR HD tiles (LAS/LAZ) over the image; repeat for several.",
)
@click.option("--model", default="default", show_default=True, help="Registry entry whose network is trained.")
@click.option(
    "--out",
    required=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="Weights file to write (.pt); its held-out scores go beside it as .json.",
)
@click.option("--overwrite", is_flag=True, help="Replace --out (and its .json) if they exist, e.g. the shipped model.")
@click.option("--steps", default=600, show_default=True, type=click.IntRange(1))
@click.option("--seed", default=0, show_default=True)
def train(
    rgb: Path,
    irc: Path | None,
    lidar: tuple[Path, ...],
    model: str,
    out: Path,
    overwrite: bool,
    steps: int,
    seed: int,
) -> None:
    """Train a small model on an orthophoto with labels derived from classified LiDAR (how the default is made).

    The weights go to a file of the caller's choosing, never by default over the tracked config/models/default.pt:
    replacing an existing file (the shipped model included) takes --overwrite, checked before the training starts.
    """
    if out.suffix != ".pt":
        raise click.BadParameter(
            f"{out} must end in .pt (its scores are written beside it as .json)", param_hint="--out"
        )
    scores_path = out.with_suffix(".json")
    existing = [str(path) for path in (out, scores_path) if path.exists()]
    if existing and not overwrite:
        verb = "exists" if len(existing) == 1 else "exist"
        raise click.ClickException(
            f"{' and '.join(existing)} already {verb}: choose another --out, or give --overwrite to replace it"
        )
    import json

    import numpy as np
    import torch

    from .segmentation.bands import assemble, open_reader
    from .segmentation.lidar import labels_and_elevation, read_points
    from .segmentation.registry import get_model
    from .segmentation.training import train as fit

    try:
        spec = get_model(model)
        stack = assemble(rgb, spec.bands, irc=irc)
        with open_reader(stack) as read:
            from rasterio.windows import Window

            image = read(Window(0, 0, stack.width, stack.height))
        named = dict(zip(stack.bands, image, strict=True))
        if "NIR" not in named:
            raise click.ClickException("labels split ground by NDVI: give --irc, or train a model that reads NIR")
        labels, _ = labels_and_elevation(
            read_points(list(lidar)), stack.transform, (stack.height, stack.width), named["R"], named["NIR"]
        )
        with tqdm(total=steps, desc=f"training {model}", unit="step") as bar:

            def step_done(_step: int, _total: int, loss: float) -> None:
                bar.update(1)
                bar.set_postfix(loss=f"{loss:.3f}")

            trained = fit(spec, image, labels, steps=steps, seed=seed, progress=step_done)
    except OcsgeError as err:
        raise click.ClickException(str(err)) from err
    out.parent.mkdir(parents=True, exist_ok=True)
    torch.save(trained.model.state_dict(), out)
    scores = {
        "pixel_accuracy": trained.pixel_accuracy,
        "iou": trained.iou,
        "train_pixels": trained.train_pixels,
        "heldout_pixels": trained.heldout_pixels,
        "steps": steps,
        "seed": seed,
        "labels": {name: int(np.sum(labels == i)) for i, name in enumerate(c.name for c in spec.classes)},
    }
    scores_path.write_text(json.dumps(scores, indent=2) + "\n", encoding="utf-8")
    click.echo(
        f"{out}: held-out pixel accuracy {trained.pixel_accuracy:.3f}, IoU "
        + ", ".join(f"{k} {v:.2f}" for k, v in trained.iou.items() if v is not None)
    )


@main.command()
@STORE_OPTION
@_path_option("--template", "pygeoapi-config.yml", "The pygeoapi configuration template.")
@_path_option("--out", "build/pygeoapi-config.yml")
@_path_option(
    "--openapi", "build/openapi.yml", "Where to write the OpenAPI document generated from that configuration."
)
def config(store: str, template: Path, out: Path, openapi: Path) -> None:
    """Write the runtime pygeoapi configuration (the collections the store holds) and its OpenAPI document."""
    from .server.config import build_config, load_template, write_config, write_openapi

    try:
        runtime = build_config(load_template(template), store)
    except OcsgeError as err:
        raise click.ClickException(str(err)) from err
    write_config(runtime, out)
    write_openapi(runtime, openapi)
    kinds = {
        kind: [name for name, r in runtime["resources"].items() if r.get("type") == kind]
        for kind in ("collection", "process")
    }
    click.echo(
        f"{out}: {len(kinds['collection'])} collections ({', '.join(kinds['collection'])}), "
        f"processes {', '.join(kinds['process'])}"
    )


@main.command()
@_path_option("--out", "schemas")
def schemas(out: Path) -> None:
    """Write the JSON Schema of every collection (the files in schemas/)."""
    from .schema import write_schemas

    for path in write_schemas(out):
        click.echo(path)


@main.command()
@_path_option("--out", "styles")
@click.option(
    "--base-url",
    default=DEFAULT_BASE_URL,
    show_default=True,
    help="Root of the OGC API server whose tiles the styles load.",
)
def styles(out: Path, base_url: str) -> None:
    """Write the MapLibre style of every map (the files in styles/), colours and labels from the nomenclature."""
    from .styles import write_styles

    try:
        paths = write_styles(out, base_url)
    except OcsgeError as err:
        raise click.ClickException(str(err)) from err
    for path in paths:
        click.echo(path)


@main.group()
def tiles() -> None:
    """Vector tiles of the collections, made ahead of requests."""


@tiles.command("export")
@STORE_OPTION
@click.option("--collection", required=True, help="Collection whose tiles are exported, e.g. ocsge-occupation-sol.")
@click.option("--millesime", type=int, help="Only this millésime (layers with a `millesime` field); default: all.")
@click.option("--zooms", default="0-14", show_default=True, help="Zoom or range of zooms (0 to 16).")
@click.option("--format", "format_", type=click.Choice(["pmtiles"]), default="pmtiles", show_default=True)
@click.option("--overwrite", is_flag=True, help="Replace OUT if it exists.")
@click.argument("out", type=click.Path(dir_okay=False, path_type=Path))
def tiles_export(
    store: str, collection: str, millesime: int | None, zooms: str, format_: str, overwrite: bool, out: Path
) -> None:
    """Write a collection's vector tiles, the ones the server serves, to OUT: a PMTiles archive that MapLibre (pmtiles
    protocol) or GDAL reads without a server, for static maps."""
    from .server.config import generated_millesimes
    from .stores import open_store
    from .styles import ATTRIBUTION
    from .tiles.pmtiles import ExportRequest, export_pmtiles, parse_zooms

    if out.exists() and not overwrite:
        raise click.ClickException(f"{out} already exists: choose another OUT, or give --overwrite to replace it")
    if not out.parent.is_dir():
        raise click.ClickException(f"{out.parent} is not a folder: create it first")
    try:
        layer, epsg = _collection(collection)
        equals: dict[str, object] = {}
        if millesime is not None:
            if "millesime" not in layer.fields:
                raise click.ClickException(f"{collection} has no millesime field: --millesime does not apply")
            equals["millesime"] = millesime
        target = open_store(store)
        generated = [year for year in generated_millesimes(target, layer, epsg) if millesime in (None, year)]
        description = layer.description + (
            f" Contient des données GÉNÉRÉES par `ocsge generate` (millésimes {', '.join(map(str, generated))}) : "
            "ce ne sont pas des données IGN."
            if generated
            else ""
        )
        request = ExportRequest(target, layer, epsg, parse_zooms(zooms), equals, description, ATTRIBUTION)
        with tqdm(desc=f"{collection} → {out.name}", unit="tile") as bar:
            stats = export_pmtiles(request, out, progress=partial(_advance, bar))
    except OcsgeError as err:
        raise click.ClickException(str(err)) from err
    per_zoom = " ".join(f"z{z}: {n}" for z, n in sorted(stats.tiles.items()))
    click.echo(
        f"{out}: {sum(stats.tiles.values())} tiles ({per_zoom}) in {stats.size / 1e6:.1f} MB; "
        f"{stats.contents} distinct; {stats.empty} empty tiles left out"
    )


@tiles.command("build")
@STORE_OPTION
@click.option(
    "--collection",
    "collections",
    multiple=True,
    help="Collection whose zoomed-out tiles are built (repeat for several); default: every collection with tiles.",
)
@click.option(
    "--zooms",
    default="0-16",  # tiles.pyramid.DEFAULT_ZOOMS, not imported here: the command line starts without the tile stack
    show_default=True,
    help="Cached zooms, served from the store: generalised up to 14, every polygon beyond; the zooms above stay live.",
)
def tiles_build(store: str, collections: tuple[str, ...], zooms: str) -> None:
    """Build the cached zooms of collections into the store's tile cache: generalised tiles (classes dissolved,
    simplified per zoom) that the server serves instead of every polygon, then the tiles of the exact zooms as
    a request would build them, so that no request waits for an encoding. Resumable: tiles already built from the
    current data are kept; after an ingest only what it replaced is rebuilt (ingest does it itself)."""
    from .layers import LAYERS
    from .stores import open_store, table_name
    from .territory import METROPOLE_EPSG
    from .tiles.pmtiles import parse_zooms
    from .tiles.pyramid import build_pyramid

    try:
        wanted = [_collection(c) for c in collections] or [
            (layer, METROPOLE_EPSG) for layer in LAYERS.values() if layer.tiles
        ]
        span = parse_zooms(zooms)
        target = open_store(store)
        tables = target.tables()
        for layer, epsg in wanted:
            if table_name(layer, epsg) not in tables:
                tqdm.write(f"{layer.collection_id}: not in the store, no tiles to build")
                continue
            with tqdm(desc=f"{layer.collection_id} z{span.start}-{span.stop - 1}", unit="tile") as bar:
                report = build_pyramid(target, layer, epsg, (span.start, span.stop - 1), partial(_advance, bar))
            tqdm.write(f"{layer.collection_id}: {report.built} tiles built, {report.kept} kept (already current)")
    except OcsgeError as err:
        raise click.ClickException(str(err)) from err


def _collection(collection: str) -> tuple[Layer, int]:
    """The layer and territory CRS of a collection id (``ocsge-occupation-sol``, ``ocsge-occupation-sol-reunion``)."""
    from .layers import LAYERS
    from .territory import METROPOLE_EPSG, overseas, territories

    for territory in territories():
        suffix = "" if territory.epsg == METROPOLE_EPSG else f"-{territory.name}"
        for layer in LAYERS.values():
            if collection == layer.collection_id + suffix:
                return layer, territory.epsg
    raise click.BadParameter(
        f"unknown collection {collection!r}; collections: {', '.join(LAYERS)} "
        f"(followed by {' or '.join(f'-{t.name}' for t in overseas())} for overseas territories)",
        param_hint="--collection",
    )


@main.command(context_settings={"ignore_unknown_options": True, "help_option_names": []})
@click.argument("celery_options", nargs=-1, type=click.UNPROCESSED)
def worker(celery_options: tuple[str, ...]) -> None:
    """Run a Celery worker for the jobs of the configuration PYGEOAPI_CONFIG names; every option goes to `celery
    worker` (e.g. -Q cpu,gpu --concurrency 1 -n w1@%h; --help lists them)."""
    from .jobs.fanout import register
    from .jobs.worker import create_app, run_worker
    from .workflows.segmentation_worker import BLOCK_TASK, block_work

    try:
        app = create_app()
    except (ValueError, OSError) as err:
        raise click.ClickException(f"cannot start the worker: {err}") from err
    register(app, DEPARTEMENT_TASK, _departement_work)  # the fan-out of `ocsge artificialisation --broker`
    register(app, BLOCK_TASK, block_work)  # the fan-out of `ocsge segment --broker`
    run_worker(app, celery_options)


main.add_command(generate_command)
main.add_command(export_command)
main.add_command(versions_command)
main.add_command(ingest_territories_command)
main.add_command(publish_command)
main.add_command(segment_change_command)


def _advance(bar: tqdm[NoReturn], done: int, total: int) -> None:
    """Move a progress bar to ``done`` of ``total`` steps."""
    bar.total = total
    bar.update(done - bar.n)
