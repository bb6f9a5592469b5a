"""Which IP addresses the server may connect to on a client's behalf.

Python's ``is_global`` is not enough on its own: in 3.12 it calls multicast, 6to4, NAT64 and IPv4-mapped addresses
global, though each can reach the server's own network (an IPv4-mapped ``::ffff:127.0.0.1`` is the loopback on a
dual-stack socket; a NAT64 or 6to4 address carries an IPv4 address that a gateway translates).
"""

from __future__ import annotations

import ipaddress

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

#: IPv6 ranges that embed an IPv4 address a gateway or the kernel reaches on the IPv4 side.
_TRANSITION = [
    (ipaddress.IPv6Network("64:ff9b::/96"), "NAT64"),
    (ipaddress.IPv6Network("64:ff9b:1::/48"), "NAT64"),
    (ipaddress.IPv6Network("2002::/16"), "6to4"),
    (ipaddress.IPv6Network("2001::/32"), "Teredo"),
]
#: The IPv4-compatible range ::a.b.c.d (deprecated), less :: and ::1 themselves.
_V4_COMPATIBLE = ipaddress.IPv6Network("::/96")
#: IANA special-purpose ranges that are not globally reachable but that this Python's ``is_global`` still accepts.
_NOT_GLOBAL = [
    ipaddress.ip_network(net)
    for net in ("192.0.0.0/24", "192.88.99.0/24", "100::/64", "2001::/23", "3fff::/20", "5f00::/16")
]
#: "This network": 0.0.0.0 reaches the local host on Linux.
_THIS_NETWORK = ipaddress.IPv4Network("0.0.0.0/8")


def never_reason(address: IPAddress) -> str | None:
    """Why ``address`` is no destination at all, trusted or not: unspecified, multicast, reserved IPv4 (also
    IPv4-mapped), zoned."""
    if isinstance(address, ipaddress.IPv6Address) and address.scope_id:
        return "an address with a zone id"
    mapped = address.ipv4_mapped if isinstance(address, ipaddress.IPv6Address) else None
    for candidate in (address, mapped) if mapped else (address,):
        if candidate.is_unspecified or candidate.is_multicast:
            return "an unspecified or multicast address"
        if isinstance(candidate, ipaddress.IPv4Address) and (candidate in _THIS_NETWORK or candidate.is_reserved):
            return "a reserved IPv4 address (0.0.0.0/8, 240.0.0.0/4 or broadcast)"
    return None


def internal_reason(address: IPAddress) -> str | None:
    """What kind of non-public address ``address`` is (loopback, private, NAT64 embedding …), or None when it is a
    public unicast address."""
    embedded = _embedded(address)
    if embedded and isinstance(address, ipaddress.IPv6Address):  # only IPv6 transition addresses embed one
        return f"{_transition_kind(address)} address embedding {embedded[0]}"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link-local"
    if isinstance(address, ipaddress.IPv6Address) and address.is_site_local:
        return "site-local"
    if address.is_private or not address.is_global or any(address in net for net in _NOT_GLOBAL):
        return "private"
    return None


def _embedded(address: IPAddress) -> list[ipaddress.IPv4Address]:
    """The IPv4 address(es) an IPv6 transition address carries (empty for anything else)."""
    if not isinstance(address, ipaddress.IPv6Address):
        return []
    if address.ipv4_mapped:
        return [address.ipv4_mapped]
    if address.teredo:
        return list(address.teredo)
    if address.sixtofour:
        return [address.sixtofour]
    value = int(address)
    if address in _TRANSITION[0][0] or address in _TRANSITION[1][0]:
        return [ipaddress.IPv4Address(value & 0xFFFFFFFF)]
    if address in _V4_COMPATIBLE and value > 1:
        return [ipaddress.IPv4Address(value)]
    return []


def _transition_kind(address: ipaddress.IPv6Address) -> str:
    if address.ipv4_mapped:
        return "IPv4-mapped IPv6"
    for network, kind in _TRANSITION:
        if address in network:
            return kind
    return "IPv4-compatible IPv6"
