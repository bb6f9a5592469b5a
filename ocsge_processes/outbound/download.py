"""Fetch a small document, or download a large file that resumes where an interrupted download stopped.

A département's OCS GE archive is about a gigabyte; a dropped connection must not cost the bytes already received.
The bytes go to ``<target>.part``; a later call asks only for the rest (HTTP ``Range: bytes=<size>-``) and appends
it when the server answers 206 from that offset, or starts over when it answers 200 (no range support). The file
gets its final name only when its length is the one announced, so a ``.7z`` on disk is always whole.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from pathlib import Path

import requests
import urllib3

from ..errors import OcsgeError
from . import check, request

#: Bytes read per chunk while streaming to disk.
_CHUNK = 1 << 20
_CONTENT_RANGE = re.compile(r"bytes (\d+)-(\d+)/(\d+|\*)")


class DownloadError(OcsgeError):
    """A fetch that failed: refused status, dropped connection, wrong length or checksum; the message says which."""


@dataclass(frozen=True)
class Downloaded:
    """A whole file on disk and how it got there."""

    path: Path
    #: Bytes on disk before this call (a ``.part`` left by an interrupted download), 0 when it started afresh.
    resumed_from: int
    #: Bytes received in this call.
    received: int


def fetch(
    url: str,
    *,
    params: Mapping[str, str | int] | None = None,
    trusted_hosts: Collection[str] = (),
    timeout: float = 60.0,
    max_bytes: int = 16 << 20,
) -> bytes:
    """The body of ``url`` (a feed, a checksum file), at most ``max_bytes``; any status but 200 is a DownloadError."""
    destination = check(url, trusted_hosts)
    try:
        with request("GET", destination, timeout, params=params, stream=True) as response:
            _refuse_status(response, url, (200,))
            body = bytearray()
            for chunk in response.iter_content(_CHUNK):
                body += chunk
                if len(body) > max_bytes:
                    raise DownloadError(f"{url}: larger than {max_bytes} bytes; refused")
            return bytes(body)
    except requests.RequestException as exc:
        raise DownloadError(f"{url}: {_reason(exc)}") from None


def download(
    url: str,
    target: Path,
    *,
    length: int | None = None,
    trusted_hosts: Collection[str] = (),
    timeout: float = 60.0,
    progress: Callable[[int], object] | None = None,
) -> Downloaded:
    """``url`` saved as ``target``, resuming a ``<target>.part`` left by an earlier call; ``length`` (the size the
    listing announces) is checked when given. A ``target`` already whole is not fetched again."""
    if target.exists() and (length is None or target.stat().st_size == length):
        return Downloaded(target, target.stat().st_size, 0)
    partial = target.with_name(target.name + ".part")
    offset = partial.stat().st_size if partial.exists() else 0
    if length is not None and offset > length:
        partial.unlink()  # longer than the file announced: not a prefix of it
        offset = 0
    destination = check(url, trusted_hosts)
    # identity: byte offsets must count the file's bytes, not those of a compressed transfer
    headers = {"Accept-Encoding": "identity", **({"Range": f"bytes={offset}-"} if offset else {})}
    received = 0
    try:
        with request("GET", destination, timeout, headers=headers, stream=True) as response:
            if response.status_code == 416 and offset and offset == length:  # whole, stopped before its rename
                partial.replace(target)
                return Downloaded(target, offset, 0)
            _refuse_status(response, url, (200, 206) if offset else (200,))
            start = _start(response, offset, url)
            total = _announced(response, start, url)
            if length is not None and total is not None and total != length:
                raise DownloadError(f"{url}: the server sends {total} bytes where the listing announces {length}")
            with partial.open("r+b" if start else "wb") as out:
                out.seek(start)
                out.truncate()
                # read1 hands over what has arrived, so bytes before a dropped connection reach the disk
                while chunk := response.raw.read1(_CHUNK, decode_content=False):
                    out.write(chunk)
                    received += len(chunk)
                    if progress is not None:
                        progress(len(chunk))
    except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise DownloadError(
            f"{url}: interrupted after {offset + received} bytes ({_reason(exc)}); "
            f"{partial.name} is kept and the next run resumes from there"
        ) from None
    expected = length if length is not None else total
    size = partial.stat().st_size
    if expected is not None and size != expected:
        raise DownloadError(
            f"{url}: {size} of {expected} bytes received (connection closed early); "
            f"{partial.name} is kept and the next run resumes from there"
        )
    partial.replace(target)
    return Downloaded(target, start, received)


def md5sum(path: Path) -> str:
    """Hex MD5 of a file, read in chunks (the checksum the Géoplateforme publishes)."""
    digest = hashlib.md5(usedforsecurity=False)
    with path.open("rb") as data:
        while chunk := data.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _refuse_status(response: requests.Response, url: str, accepted: tuple[int, ...]) -> None:
    if response.status_code not in accepted:
        raise DownloadError(f"{url}: HTTP {response.status_code} {response.reason or ''}".rstrip())


def _start(response: requests.Response, offset: int, url: str) -> int:
    """Where the body starts in the file: ``offset`` for a 206 from there, 0 for a 200 (the whole file again)."""
    if response.status_code != 206:
        return 0
    match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
    if match is None or int(match.group(1)) != offset:
        raise DownloadError(
            f"{url}: asked for the bytes from {offset}, the server answered the range "
            f"{response.headers.get('Content-Range')!r}"
        )
    return offset


def _announced(response: requests.Response, start: int, url: str) -> int | None:
    """The whole file's length as the response tells it (Content-Range total, else start + Content-Length)."""
    match = _CONTENT_RANGE.fullmatch(response.headers.get("Content-Range", "").strip())
    if match and match.group(3) != "*":
        return int(match.group(3))
    declared = response.headers.get("Content-Length")
    if declared is None:
        return None
    if not declared.isdigit():
        raise DownloadError(f"{url}: Content-Length {declared!r} is not a number")
    return start + int(declared)


def _reason(exc: Exception) -> str:
    return type(exc).__name__ if not str(exc) else f"{type(exc).__name__}: {str(exc)[:200]}"
