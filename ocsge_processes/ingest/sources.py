"""The vector files of a delivery as given: a 7z archive (extracted to a temporary folder), a folder, or one file."""

from __future__ import annotations

import logging
import lzma
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from glob import escape as glob_escape
from pathlib import Path, PurePosixPath

import py7zr
from py7zr.exceptions import AbsolutePathError, ArchiveError

from ..errors import DeliveryError

log = logging.getLogger(__name__)

#: Files that hold layers; GeoJSON is for commune contours (Admin Express extracts).
VECTOR_SUFFIXES = (".gpkg", ".shp", ".geojson")
#: Files a shapefile needs beside the .shp.
_SIDECAR_SUFFIXES = (".shx", ".dbf", ".prj", ".cpg")
ARCHIVE_SUFFIX = ".7z"


@dataclass(frozen=True)
class SourceFile:
    """One vector file of a delivery, readable on disk."""

    path: Path
    #: How messages name it: ``archive.7z!inner/path.gpkg``.
    label: str
    #: The file's stem, then its folders and archive, innermost first: where IGN names carry their tokens.
    names: tuple[str, ...]


@contextmanager
def open_sources(path: Path) -> Iterator[list[SourceFile]]:
    """The vector files of ``path``; archives are extracted into a temporary folder removed on exit."""
    if not path.exists():
        raise DeliveryError(f"{path}: no such file or folder")
    with tempfile.TemporaryDirectory(prefix="ocsge-ingest-") as scratch:
        sources = _collect(path, Path(scratch))
        for source in sources:
            _refuse_incomplete_shapefile(source)
        yield sources


def list_archive(archive: Path) -> list[str]:
    """Names of the vector files inside a 7z archive, read from its header without extracting anything."""
    try:
        with py7zr.SevenZipFile(archive) as opened:
            names = opened.getnames()
    except (ArchiveError, lzma.LZMAError, EOFError, ValueError) as exc:
        raise DeliveryError(f"{archive.name}: not a readable 7z archive (corrupt or truncated?): {exc}") from exc
    return [name for name in names if PurePosixPath(name).suffix.lower() in VECTOR_SUFFIXES]


def _collect(path: Path, scratch: Path) -> list[SourceFile]:
    suffix = path.suffix.lower()
    if path.is_dir():
        return _folder_sources(path, scratch)
    if suffix == ARCHIVE_SUFFIX:
        return _archive_sources(path, scratch, label=path.name)
    if suffix in VECTOR_SUFFIXES:
        return [SourceFile(path, path.name, (path.stem,))]
    raise DeliveryError(
        f"{path.name}: not an OCS GE delivery; expected a 7z archive, a folder, or a GPKG, SHP or GeoJSON file"
    )


def _folder_sources(folder: Path, scratch: Path) -> list[SourceFile]:
    sources: list[SourceFile] = []
    for file in sorted(p for p in folder.rglob("*") if p.is_file()):
        relative = file.relative_to(folder)
        label = f"{folder.name}/{relative.as_posix()}"
        suffix = file.suffix.lower()
        if suffix == ARCHIVE_SUFFIX:
            sources.extend(_archive_sources(file, scratch, label=label))
        elif suffix in VECTOR_SUFFIXES:
            sources.append(SourceFile(file, label, _names(relative, folder.name)))
    return sources


def _archive_sources(archive: Path, scratch: Path, *, label: str) -> list[SourceFile]:
    """Extract only what the layers need (IGN archives also hold PDFs and checksums), then list the layers."""
    target = scratch / f"{len(list(scratch.iterdir()))}-{archive.stem}"
    try:
        with py7zr.SevenZipFile(archive) as opened:
            wanted = [
                name
                for name in opened.getnames()
                if PurePosixPath(name).suffix.lower() in VECTOR_SUFFIXES + _SIDECAR_SUFFIXES
            ]
            _refuse_unsafe(wanted, label)
            if wanted:
                opened.extract(path=target, targets=wanted)
    except (ArchiveError, AbsolutePathError, lzma.LZMAError, EOFError, ValueError) as exc:
        raise DeliveryError(f"{label}: cannot extract the 7z archive (corrupt or truncated?): {exc}") from exc
    files = sorted(p for p in target.rglob("*") if p.is_file() and p.suffix.lower() in VECTOR_SUFFIXES)
    sources = []
    for file in files:
        relative = file.relative_to(target)
        sources.append(SourceFile(file, f"{label}!{relative.as_posix()}", _names(relative, archive.stem)))
    log.info("%s: extracted %d vector file(s)", label, len(sources))
    return sources


def _refuse_incomplete_shapefile(source: SourceFile) -> None:
    """A .shp without its .dbf opens as a layer without fields: say which file is missing instead."""
    if source.path.suffix.lower() != ".shp":
        return
    beside = {p.suffix.lower() for p in source.path.parent.glob(f"{glob_escape(source.path.stem)}.*")}
    missing = [suffix for suffix in (".dbf", ".shx") if suffix not in beside]
    if missing:
        names = " and ".join(f"{source.path.stem}{suffix}" for suffix in missing)
        raise DeliveryError(
            f"{source.label}: {names} {'is' if len(missing) == 1 else 'are'} missing beside the .shp; a shapefile "
            "keeps its fields (codes, millésime) in the .dbf and its index in the .shx: deliver all of its files"
        )


def _refuse_unsafe(names: list[str], label: str) -> None:
    for name in names:
        posix = PurePosixPath(name)
        if posix.is_absolute() or ".." in posix.parts:
            raise DeliveryError(f"{label}: refusing archive member {name!r} that points outside the archive")


def _names(relative: Path, outer: str) -> tuple[str, ...]:
    return (relative.stem, *reversed(relative.parent.parts), outer)
