"""The one policy for every request the server makes on a client's behalf (segmentation ``href`` and ``wms.url``, job
subscriber callbacks).

A URL is parsed once (:mod:`.urls` refuses anything two parsers could read differently), its host resolved once,
every address it resolves to checked (:mod:`.addresses`), and the connection made to an address that was checked,
never to a second DNS answer: the request goes to the IP with the Host header, TLS SNI and certificate check on the
name. Redirects are never followed and proxies from the environment never used.

Private destinations: a trusted host (``trusted_hosts``) or ``allow_internal`` skips only the address-class check
(loopback, private, link-local, transition addresses); every parsing check, the unspecified/multicast/reserved
check, the single resolution and the pinned connection still apply. ``OCSGE_OUTBOUND_LOOPBACK_ONLY=1`` (set by the
tests' and the fuzzer's servers) refuses every address that is not loopback, so no test can reach the outside.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Collection, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import requests
import urllib3
from requests.adapters import HTTPAdapter

from ..errors import InvalidInputError
from .addresses import internal_reason, never_reason
from .urls import IPAddress, OutboundURL, parse

__all__ = ["Destination", "OutboundURL", "check", "parse", "request"]


class Resolver(Protocol):
    """getaddrinfo's signature as called here: (host, port, family, type) → [(family, type, proto, name, sockaddr)],
    the address first in ``sockaddr``."""

    def __call__(
        self, host: str, port: int, family: int, type: int, /
    ) -> Iterable[tuple[object, object, object, object, tuple[object, ...]]]: ...


@dataclass(frozen=True)
class Destination:
    """A checked URL and the addresses, all checked, that requests to it may connect to (in resolver order)."""

    url: OutboundURL
    addresses: tuple[IPAddress, ...]


def loopback_only() -> bool:
    """Whether this process may only call loopback addresses (tests and fuzzing)."""
    return os.environ.get("OCSGE_OUTBOUND_LOOPBACK_ONLY", "") not in ("", "0", "false", "no")


def check(
    url: object,
    trusted_hosts: Collection[str] = (),
    allow_internal: bool = False,
    resolve: Resolver = socket.getaddrinfo,
) -> Destination:
    """``url`` parsed, resolved and checked, or InvalidInputError saying why it is refused."""
    parsed = parse(url)
    internal_ok = allow_internal or parsed.host in {host.lower() for host in trusted_hosts}
    addresses = (parsed.literal,) if parsed.literal else _resolve(parsed, resolve)
    for address in addresses:
        never = never_reason(address)
        if never:
            raise InvalidInputError(f"{parsed.host} resolves to {address}, {never}, which the server never calls")
        reason = None if internal_ok else internal_reason(address)
        if reason:
            raise InvalidInputError(
                f"{parsed.host} resolves to a private or local address ({address}, {reason}); "
                "the server only calls public addresses"
            )
        if loopback_only() and not address.is_loopback:
            raise InvalidInputError(
                f"{parsed.host} resolves to {address}, not a loopback address; this server "
                "is configured to call loopback addresses only (OCSGE_OUTBOUND_LOOPBACK_ONLY)"
            )
    return Destination(parsed, addresses)


def request(
    method: str,
    destination: Destination,
    timeout: float,
    *,
    params: Mapping[str, str | int] | None = None,
    json: object = None,
    stream: bool = False,
    verify: bool | str = True,
    headers: Mapping[str, str] | None = None,
) -> requests.Response:
    """``method`` on ``destination``, connected to its checked addresses in turn until one accepts the connection;
    ``params``, ``json``, ``stream``, ``verify`` (a CA bundle) and ``headers`` (``Range``...) as
    ``requests.request``, the Host header always the checked one; redirects never followed."""
    url = destination.url
    headers = {**(headers or {}), "Host": url.host_header}
    for index, address in enumerate(destination.addresses, start=1):
        session = requests.Session()
        session.trust_env = False  # no proxy or .netrc from the environment: the connection goes where we checked
        adapter = _PinnedAdapter(url.host if url.scheme == "https" and url.literal is None else None)
        session.mount("http://", adapter)
        session.mount("https://", adapter)
        try:
            return session.request(
                method,
                url.at(address),
                params=params,
                json=json,
                headers=headers,
                timeout=timeout,
                allow_redirects=False,
                stream=stream,
                verify=verify,
            )
        except requests.ConnectionError as err:
            if index == len(destination.addresses) or not _not_connected(err):
                raise
    raise AssertionError("a Destination always has an address")


class _PinnedAdapter(HTTPAdapter):
    """Connects to the IP in the URL while TLS sends and verifies ``server_name`` (the host name checked)."""

    def __init__(self, server_name: str | None) -> None:
        self.server_name = server_name
        super().__init__(max_retries=0)

    # Any: urllib3's pool options, as HTTPAdapter declares them (the set depends on the urllib3 version)
    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        if self.server_name:
            pool_kwargs.update(server_hostname=self.server_name, assert_hostname=self.server_name)
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


def _resolve(parsed: OutboundURL, resolve: Resolver) -> tuple[IPAddress, ...]:
    try:
        infos = resolve(parsed.host, parsed.port, 0, socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError, OSError):
        raise InvalidInputError(f"host {parsed.host!r} does not resolve") from None
    addresses = tuple(dict.fromkeys(ipaddress.ip_address(str(info[4][0])) for info in infos))
    if not addresses:
        raise InvalidInputError(f"host {parsed.host!r} does not resolve")
    return addresses


def _not_connected(err: requests.ConnectionError) -> bool:
    """Whether ``err`` happened before anything was sent (the next address may be tried)."""
    reason = getattr(err.args[0] if err.args else None, "reason", None)
    return isinstance(reason, urllib3.exceptions.ConnectTimeoutError)
