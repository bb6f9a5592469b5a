"""Find a département's OCS GE editions in the Géoplateforme download feeds, download them (resuming) and check
them, so that ``ocsge ingest --geoplateforme D033`` reads the same 7z archives as a manual download.

Every request goes through ``outbound``: the base URL is the operator's setting, so its host is trusted (a
loopback stand-in in the tests); links in the feeds to any other host are held to the public-address policy.
What is checked: the MD5 the feed gives (``<content>`` of the archive entry, else the edition's ``.md5`` file);
without one, the length the feed announces and the archive's own CRCs (every member decompressed once).
"""

from __future__ import annotations

import logging
import lzma
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import py7zr
from py7zr.exceptions import ArchiveError

from ..errors import DeliveryError
from ..ingest.geoplateforme import (
    ArchiveFile,
    Edition,
    available,
    edition_files,
    editions,
    feed_params,
    md5_of_listing,
    parse_feed,
    select,
    zone_spellings,
    zone_token,
)
from ..outbound import parse
from ..outbound.download import DownloadError, download, fetch, md5sum

log = logging.getLogger(__name__)

#: The service allows 10 requests a second from one address; feed requests are spaced to stay under it.
_MIN_INTERVAL_S = 0.1
#: A feed with more pages than this is not an OCS GE listing of one zone (about ten editions each).
_MAX_PAGES = 100


@dataclass
class _Client:
    """Feed requests to one service, spaced by ``_MIN_INTERVAL_S``."""

    base_url: str
    trusted: frozenset[str]
    last: float = field(default=0.0)

    def get(self, url: str, params: dict[str, str | int] | None = None) -> bytes:
        wait = self.last + _MIN_INTERVAL_S - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        try:
            return fetch(url, params=params, trusted_hosts=self.trusted)
        finally:
            self.last = time.monotonic()


@dataclass(frozen=True)
class Fetched:
    """One edition on disk, ready for ``read_delivery``."""

    edition: Edition
    archive: Path
    #: How it was checked: ``md5`` or ``length and 7z CRCs``.
    checked: str
    resumed_from: int
    received: int


def fetch_editions(
    base_url: str,
    zone: str,
    produits: Sequence[str],
    millesime: int | None,
    folder: Path,
    progress: Callable[[int], object] | None = None,
) -> list[Fetched]:
    """The chosen editions of ``zone`` (see ``ingest.geoplateforme.select``) downloaded under ``folder`` and
    checked; a partial file there from an earlier run is resumed."""
    token = zone_token(zone)
    client = _Client(base_url.rstrip("/"), frozenset({parse(base_url).host}))
    chosen: list[Edition] = []
    for produit in produits:
        found = _list(client, produit, token)
        picked = select(found, millesime)
        if not picked:
            wanted = f" for millésime {millesime}" if millesime is not None else ""
            raise DeliveryError(
                f"the Géoplateforme ({client.base_url}) lists no {produit} edition of zone {token}{wanted}; "
                f"it lists: {available(found)}"
            )
        chosen.extend(picked)
    folder.mkdir(parents=True, exist_ok=True)
    return [_fetch_edition(client, edition, folder, progress) for edition in chosen]


def _list(client: _Client, produit: str, zone: str) -> list[Edition]:
    """Every edition of ``zone`` in ``produit``'s feed, page by page; an overseas zone is asked for under both
    its spellings (``D971``, ``D0971``), since names use both."""
    url = f"{client.base_url}/resource/{produit}"
    found: dict[str, Edition] = {}
    for spelling in zone_spellings(zone):
        page, pagecount = 1, 1
        while page <= min(pagecount, _MAX_PAGES):
            feed = parse_feed(client.get(url, feed_params(spelling, page)), f"{url}?zone={spelling}&page={page}")
            if not feed.entries:
                break
            found.update((edition.name, edition) for edition in editions(produit, feed.entries, zone))
            pagecount, page = feed.pagecount, page + 1
    return list(found.values())


def _fetch_edition(
    client: _Client, edition: Edition, folder: Path, progress: Callable[[int], object] | None
) -> Fetched:
    files = edition_files(parse_feed(client.get(edition.href), edition.href).entries, edition.href)
    listing = client.get(files.checksum_href).decode("utf-8", "replace") if files.checksum_href else ""
    target = folder / edition.name
    target.mkdir(exist_ok=True)
    resumed = received = 0
    checked = "md5"
    for part in files.parts:
        done = download(
            part.href, target / part.name, length=part.length, trusted_hosts=client.trusted, progress=progress
        )
        resumed, received = resumed + done.resumed_from, received + done.received
        expected = part.md5 or md5_of_listing(listing, part.name)
        if expected is None:
            checked = "length and 7z CRCs"
        else:
            _check_md5(done.path, expected, part)
    archive = _joined(target, edition, files.parts, fresh=received > 0)
    if checked != "md5":
        _check_crcs(archive)
    log.info("%s: %s (checked: %s)", edition.name, archive, checked)
    return Fetched(edition, archive, checked, resumed, received)


def _check_md5(path: Path, expected: str, part: ArchiveFile) -> None:
    actual = md5sum(path)
    if actual != expected:
        path.unlink()  # corrupt: the next run downloads it afresh
        raise DownloadError(f"{part.href}: MD5 {actual} where the Géoplateforme publishes {expected}; file removed")


def _joined(target: Path, edition: Edition, parts: Sequence[ArchiveFile], *, fresh: bool) -> Path:
    """The archive as one file: split volumes (``.7z.001``...) are byte ranges of it, joined in order (again when
    a volume was received in this run)."""
    if len(parts) == 1:
        return target / parts[0].name
    archive = target / f"{edition.name}.7z"
    if fresh or not archive.exists():
        staging = archive.with_name(archive.name + ".joining")
        with staging.open("wb") as out:
            for part in parts:
                with (target / part.name).open("rb") as volume:
                    shutil.copyfileobj(volume, out)
        staging.replace(archive)
    return archive


def _check_crcs(archive: Path) -> None:
    try:
        with py7zr.SevenZipFile(archive) as opened:
            bad = opened.testzip()
    except (ArchiveError, lzma.LZMAError, EOFError, ValueError) as exc:
        raise DownloadError(f"{archive.name}: not a readable 7z archive: {exc}") from None
    if bad is not None:
        raise DownloadError(f"{archive.name}: member {bad} fails its CRC check")
