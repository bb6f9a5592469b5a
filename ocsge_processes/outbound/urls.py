"""Parse an outbound URL once, and refuse every URL that two parsers could read differently.

The host a check sees must be the host the HTTP client connects to. Python's ``urllib.parse``, urllib3 and requests
disagree on backslashes, user information, whitespace, odd IPv4 spellings and zone ids, so such URLs are refused
outright rather than interpreted, and the result is cross-checked against urllib3's and requests' own parsing.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

import requests
import urllib3.util

from ..errors import InvalidInputError

#: Longest URL accepted (browsers and servers commonly stop near 2 000 characters).
MAX_URL_CHARS = 2048
DEFAULT_PORTS = {"http": 80, "https": 443}
#: One DNS label: letters, digits, hyphens (not at the ends) and underscores (found in real names).
_LABEL = re.compile(r"[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?")
#: A label that URL parsers and inet_aton read as a number (decimal, octal or hex): 2130706433, 0x7f, 017.
_NUMERIC = re.compile(r"(?:0x[0-9a-f]*|[0-9]+)")

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address


@dataclass(frozen=True)
class OutboundURL:
    """An http(s) URL that every parser reads the same way: its scheme, host (lower-case name or canonical IP
    literal, IPv6 without brackets), port and the rest (path and query, as given)."""

    url: str
    scheme: str
    host: str
    port: int
    rest: str
    literal: IPAddress | None

    @property
    def host_header(self) -> str:
        """The Host header (and the authority the client believes it talks to)."""
        host = f"[{self.host}]" if isinstance(self.literal, ipaddress.IPv6Address) else self.host
        return host if self.port == DEFAULT_PORTS[self.scheme] else f"{host}:{self.port}"

    def at(self, address: IPAddress) -> str:
        """The same URL with its host replaced by ``address``: where the connection really goes."""
        host = f"[{address}]" if isinstance(address, ipaddress.IPv6Address) else str(address)
        return f"{self.scheme}://{host}:{self.port}{self.rest}"


def parse(url: object) -> OutboundURL:
    """``url`` split once, or InvalidInputError saying which construct is refused."""
    if not isinstance(url, str):
        raise InvalidInputError(f"{url!r} is not an absolute http(s) URL (a string is expected)")
    shown = url[:200]
    if len(url) > MAX_URL_CHARS:
        raise InvalidInputError(f"URL {shown!r}… is longer than {MAX_URL_CHARS} characters")
    if not url.isascii():
        raise InvalidInputError(f"URL {shown!r} has non-ASCII characters: percent-encode them (hosts in punycode)")
    if any(char.isspace() or ord(char) < 32 or ord(char) == 127 for char in url):
        raise InvalidInputError(f"URL {shown!r} has whitespace or control characters")
    if "\\" in url:
        raise InvalidInputError(f"URL {shown!r} has a backslash, which URL parsers read differently")
    try:
        parts = urlsplit(url)
    except ValueError:
        raise InvalidInputError(f"URL {shown!r} is malformed (an IPv6 literal must be in brackets)") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not url.lower().startswith(f"{scheme}://") or not parts.netloc:
        raise InvalidInputError(f"{shown!r} is not an absolute http(s) URL")
    if "@" in parts.netloc:
        raise InvalidInputError(f"URL {shown!r} has user information (user:password@); it is refused")
    host, port = _host_and_port(parts.netloc, shown)
    literal = _literal(host, shown)
    result = OutboundURL(
        url,
        scheme,
        str(literal) if literal else host,
        port or DEFAULT_PORTS[scheme],
        urlunsplit(("", "", parts.path, parts.query, "")),
        literal,
    )
    _same_for_every_parser(result)
    return result


def _host_and_port(netloc: str, shown: str) -> tuple[str, int | None]:
    port: str | None
    if netloc.startswith("["):
        host, bracket, after = netloc[1:].partition("]")
        if not bracket or (after and not after.startswith(":")):
            raise InvalidInputError(f"URL {shown!r} has a malformed IPv6 literal")
        port = after[1:] if after else None
    else:
        host, colon, port = netloc.rpartition(":") if ":" in netloc else (netloc, "", None)
        if colon and ":" in host:
            raise InvalidInputError(f"URL {shown!r}: an IPv6 host must be in brackets")
    if port is not None and not (port.isdigit() and 0 < int(port) < 65536):
        raise InvalidInputError(f"URL {shown!r} has an invalid port {port!r}")
    return host.lower(), int(port) if port is not None else None


def _literal(host: str, shown: str) -> IPAddress | None:
    """The IP address a host literal names, or None for a DNS name (checked label by label)."""
    if ":" in host:
        if "%" in host:
            raise InvalidInputError(f"URL {shown!r} has an IPv6 zone id; it is refused")
        try:
            return ipaddress.IPv6Address(host)
        except ValueError:
            raise InvalidInputError(f"URL {shown!r} has an invalid IPv6 literal") from None
    labels = host.split(".")
    if _NUMERIC.fullmatch(labels[-1]):
        try:
            address = ipaddress.IPv4Address(host)
        except ValueError:
            address = None
        if address is None or str(address) != host:
            raise InvalidInputError(
                f"URL {shown!r}: the host {host!r} is a number but not a dotted-quad IPv4 "
                "address (decimal, octal and hex forms are refused)"
            )
        return address
    if not all(_LABEL.fullmatch(label) for label in labels) or len(host) > 253:
        raise InvalidInputError(
            f"URL {shown!r}: {host!r} is not a valid host name (letters, digits, hyphens; no trailing dot)"
        )
    return None


def _same_for_every_parser(parsed: OutboundURL) -> None:
    """urllib3 and requests must find the same scheme, host and port as we did."""
    shown = parsed.url[:200]
    try:
        theirs = urllib3.util.parse_url(parsed.url)
        prepared = requests.PreparedRequest()
        prepared.prepare_url(parsed.url, None)
        again = urlsplit(prepared.url or "")  # None only before prepare_url: then nothing matches ours
        readings = {
            (
                (theirs.scheme or "").lower(),
                _canonical(theirs.host or ""),
                theirs.port or DEFAULT_PORTS.get(theirs.scheme or "", 0),
                theirs.auth,
            ),
            (
                again.scheme,
                _canonical(again.hostname or ""),
                again.port or DEFAULT_PORTS.get(again.scheme, 0),
                again.username,
            ),
        }
    except (ValueError, urllib3.exceptions.HTTPError, requests.RequestException):
        raise InvalidInputError(f"URL {shown!r} is not understood by the HTTP client") from None
    ours = (parsed.scheme, parsed.host, parsed.port, None)
    if readings != {ours}:
        raise InvalidInputError(f"URL {shown!r} is read differently by different URL parsers; it is refused")


def _canonical(host: str) -> str:
    """A parser's host in our spelling: lower case, IPv6 literals compressed and without brackets."""
    host = host.strip("[]").lower()
    try:
        return str(ipaddress.IPv6Address(host)) if ":" in host else host
    except ValueError:
        return host
