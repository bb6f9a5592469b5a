"""What the Géoplateforme download service (Atom, RFC 4287) lists for OCS GE, and which archives to take.

The service answers three levels: ``/resource/{produit}?zone=D033&page=&limit=`` lists the editions of a product
(one ``<entry>`` per edition, its name in ``<title>``, ``gpf_dl:zone``, ``gpf_dl:format``, ``gpf_dl:editionDate``
and a link to its sub-feed); the sub-feed lists the files of an edition (the 7z archive, split volumes
``.7z.001``… with ``rel="section"``, and a ``.md5`` file; the archive's length in ``gpf_dl:length`` and, on some
feeds, its MD5 in ``<content>``); ``/download/...`` serves the bytes. Pages hold at most 50 entries; the feed root
says how many pages there are (``gpf_dl:pagecount``). This module only reads feeds and names: fetching is the
caller's (through ``outbound``), so the rules here are tested on bytes.

Names are irregular (MTES-MCT/sparte ``airflow/include/data/ocsge/sources.json``): a double underscore before
the format, DIFF spelt three ways, ``D971`` in OCSGE archives but ``D0971`` in ARTIFICIALISATION ones, and one
publication date written ``2025-11_04``. Names are therefore read token by token, never with one fixed template.
"""

from __future__ import annotations

import logging
import re
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..errors import DeliveryError, UnknownCodeError
from ..territory import TERRITORY_CRS, normalise_departement
from .names import departement_token, single_year, year_pair

log = logging.getLogger(__name__)

#: The products (``resourceName``) that hold OCS GE deliveries.
PRODUITS = ("OCSGE", "OCSGE-ARTIFICIALISATION")
#: Largest ``limit`` the service accepts (documented: 50; 10 by default).
PAGE_LIMIT = 50
ATOM = "http://www.w3.org/2005/Atom"
GPF_DL = "https://data.geopf.fr/annexes/ressources/xsd/gpf_dl.xsd"
ARCHIVE_TYPE = "application/x-7z-compressed"
_NS = {"atom": ATOM, "gpf_dl": GPF_DL}
#: The publication date that ends a name: ``_2021-01-01``, and the malformed ``_2025-11_04``.
_DATE = re.compile(r"_((?:19|20)\d{2})-(\d{2})[-_](\d{2})$")
_MD5 = re.compile(r"\b([0-9a-fA-F]{32})\b")
_FORMATS = ("GPKG", "SHP")


@dataclass(frozen=True)
class FeedPage:
    """One page of a feed: its entries and where it stands in the paging."""

    entries: tuple[ElementTree.Element, ...]
    page: int
    pagecount: int
    total: int | None


@dataclass(frozen=True)
class Edition:
    """One downloadable edition of a product for one département, as its feed entry and name describe it."""

    produit: str
    name: str
    #: The sub-feed listing its files.
    href: str
    departement: str
    #: ``GPKG`` or ``SHP`` (from ``gpf_dl:format``, else the name).
    format: str
    #: One millésime, or the two of a DIFF (earlier first).
    millesimes: tuple[int, ...]
    #: Publication date as written (``gpf_dl:editionDate``, else the end of the name), for choosing the latest.
    edition_date: str

    @property
    def is_diff(self) -> bool:
        """Whether the edition holds the changes between two millésimes."""
        return len(self.millesimes) == 2


@dataclass(frozen=True)
class ArchiveFile:
    """One file of an edition's archive (the whole 7z, or one volume of a split one)."""

    name: str
    href: str
    #: Bytes, from ``gpf_dl:length``; None when the feed does not say.
    length: int | None
    #: MD5 from the entry's ``<content>``, when the feed gives one.
    md5: str | None


@dataclass(frozen=True)
class EditionFiles:
    """What an edition's sub-feed offers: the archive (its volumes in order) and the ``.md5`` file, if any."""

    parts: tuple[ArchiveFile, ...]
    checksum_href: str | None


def zone_token(value: str) -> str:
    """The zone the service filters on (``D033``, ``D02A``, ``D971``) from ``33``, ``D033``, ``D0971``...; an
    unknown zone is an UnknownCodeError that names it and lists what exists."""
    try:
        code = normalise_departement(value)
    except UnknownCodeError:
        overseas = ", ".join(f"D{code}" for row in TERRITORY_CRS for code in row.departements)
        raise UnknownCodeError(
            f"unknown Géoplateforme zone {value!r}: expected a département token D001…D095, D02A, D02B or {overseas}"
        ) from None
    return f"D{code:0>3}"


def zone_spellings(zone: str) -> tuple[str, ...]:
    """The zone as feeds may spell it: an overseas ``D971`` is also ``D0971`` in ARTIFICIALISATION names."""
    code = zone[1:]
    return (zone, f"D0{code}") if len(code) == 3 and code.startswith("97") else (zone,)


def feed_params(zone: str, page: int) -> dict[str, str | int]:
    """Query of one page of a product's feed for ``zone``."""
    return {"zone": zone, "page": page, "limit": PAGE_LIMIT}


def parse_feed(content: bytes, source: str) -> FeedPage:
    """A feed page, or DeliveryError naming ``source`` when it is not an Atom feed."""
    if b"<!DOCTYPE" in content[:4096].upper():  # Atom has no DTD; refusing one rules out entity expansion
        raise DeliveryError(f"{source}: a document type declaration in an Atom feed; refused")
    try:
        root = ElementTree.fromstring(content)
    except ElementTree.ParseError as exc:
        raise DeliveryError(f"{source}: not an Atom feed ({exc})") from None
    if root.tag != f"{{{ATOM}}}feed":
        raise DeliveryError(f"{source}: not an Atom feed (root element {root.tag})")
    total = root.get(f"{{{GPF_DL}}}totalentries")
    return FeedPage(
        tuple(root.findall("atom:entry", _NS)),
        _integer(root.get(f"{{{GPF_DL}}}page"), 1, source),
        _integer(root.get(f"{{{GPF_DL}}}pagecount"), 1, source),
        _integer(total, 0, source) if total is not None else None,
    )


def editions(produit: str, entries: Iterable[ElementTree.Element], zone: str) -> list[Edition]:
    """The editions of ``zone`` among a product feed's entries; an entry whose name says no millésime, or
    another département, is skipped with a log line."""
    wanted = normalise_departement(zone)
    found = []
    for entry in entries:
        name = (entry.findtext("atom:title", "", _NS) or "").strip()
        href = _link(entry, "application/atom+xml")
        departement = departement_token([name, _zone_term(entry)])
        millesimes = _millesimes(name)
        if not name or href is None or departement != wanted or millesimes is None:
            log.info("%s: skipped (département %s, millésimes %s)", name or "untitled entry", departement, millesimes)
            continue
        found.append(
            Edition(
                produit,
                name,
                href,
                departement,
                _format(entry, name),
                millesimes,
                (entry.findtext("gpf_dl:editionDate", "", _NS) or "").strip() or _name_date(name),
            )
        )
    return found


def select(found: Sequence[Edition], millesime: int | None) -> list[Edition]:
    """One edition per product and millésime(s): GeoPackage before Shapefile, then the latest publication.

    With ``millesime``, its own edition and the DIFF that ends at it (the changes up to it).
    """
    best: dict[tuple[str, tuple[int, ...]], Edition] = {}
    for edition in found:
        if millesime is not None and edition.millesimes[-1] != millesime:
            continue
        key = (edition.produit, edition.millesimes)
        current = best.get(key)
        if current is None or _rank(edition) > _rank(current):
            best[key] = edition
    return sorted(best.values(), key=lambda e: (e.produit, e.millesimes[-1], len(e.millesimes)))


def available(found: Sequence[Edition]) -> str:
    """The millésimes found, for the message that says a requested one is missing."""
    one = sorted({e.millesimes[0] for e in found if not e.is_diff})
    diffs = sorted({e.millesimes for e in found if e.is_diff})
    parts = [", ".join(map(str, one)) or "none"]
    if diffs:
        parts.append("DIFF " + ", ".join(f"{a}-{b}" for a, b in diffs))
    return "; ".join(parts)


def edition_files(entries: Iterable[ElementTree.Element], source: str) -> EditionFiles:
    """The archive volumes (in name order) and the ``.md5`` file of an edition's sub-feed."""
    parts = []
    checksum = None
    for entry in entries:
        for link in entry.findall("atom:link", _NS):
            href = link.get("href") or ""
            name = href.rstrip("/").rsplit("/", 1)[-1]
            if link.get("type") == ARCHIVE_TYPE or re.search(r"\.7z(\.\d{3})?$", name):
                content = (entry.findtext("atom:content", "", _NS) or "").strip()
                md5 = _MD5.fullmatch(content)
                length = link.get(f"{{{GPF_DL}}}length")
                parts.append(ArchiveFile(name, href, _integer(length, 0, source) if length else None, _lower(md5)))
            elif name.lower().endswith(".md5"):
                checksum = href
    if not parts:
        raise DeliveryError(f"{source}: the edition lists no 7z archive")
    return EditionFiles(tuple(sorted(parts, key=lambda part: part.name)), checksum)


def md5_of_listing(text: str, name: str) -> str | None:
    """The MD5 a ``.md5`` file gives for ``name`` (``hash  file`` lines, or a lone hash)."""
    lines = [line for line in text.splitlines() if line.strip()]
    for line in lines:
        match = _MD5.search(line)
        if match and (name in line or len(lines) == 1):
            return match.group(1).lower()
    return None


def _rank(edition: Edition) -> tuple[bool, str]:
    return edition.format == "GPKG", edition.edition_date


def _millesimes(name: str) -> tuple[int, ...] | None:
    """The millésime(s) a name announces: the years of a DIFF, else the year of its ``YYYY-01-01`` date."""
    if re.search(r"(?<![A-Za-z])DII?FF(?![A-Za-z])", name.upper()):
        return year_pair([name])
    year = single_year([name])
    return (year,) if year is not None else None


def _name_date(name: str) -> str:
    match = _DATE.search(name)
    return "-".join(match.groups()) if match else ""


def _format(entry: ElementTree.Element, name: str) -> str:
    element = entry.find("gpf_dl:format", _NS)
    term = (element.get("term") or "").upper() if element is not None else ""
    if term in _FORMATS:
        return term
    return next((token for token in _FORMATS if re.search(rf"(?<![A-Z]){token}(?![A-Z])", name.upper())), term)


def _zone_term(entry: ElementTree.Element) -> str:
    element = entry.find("gpf_dl:zone", _NS)
    return (element.get("term") or "") if element is not None else ""


def _link(entry: ElementTree.Element, kind: str) -> str | None:
    for link in entry.findall("atom:link", _NS):
        if link.get("type") == kind and link.get("href"):
            return link.get("href")
    return None


def _integer(text: str | None, default: int, source: str) -> int:
    if text is None or text == "":
        return default
    try:
        return int(text)
    except ValueError:
        raise DeliveryError(f"{source}: {text!r} where the feed should give a whole number") from None


def _lower(match: re.Match[str] | None) -> str | None:
    return match.group(1).lower() if match else None
