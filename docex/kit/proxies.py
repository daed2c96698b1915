"""Who the client is: the one answer that the audit log, sign-in throttling and any per-address
limit share.

Guarantee: the address returned is the socket peer unless that peer is one of the proxies the
operator configured (``DOCEX_TRUSTED_PROXIES``, addresses or CIDR blocks, none by default). Only
then is the forwarding header believed, and only as far as it was written by trusted proxies: the
hops are read from the right (the hop the trusted peer itself added) leftwards, stopping at the
first address that is not a trusted proxy. That address is the client. A client can prepend
whatever it likes to the header; it cannot make the node skip past the hop a trusted proxy wrote.

Which header the proxies write is configured too (``X-Forwarded-For``, the de facto standard, or
``Forwarded``, RFC 7239): a proxy that writes one usually passes the other through unchanged from
the client, so believing both would let a client choose its own address. A hop that is not an IP
address (``unknown``, an obfuscated RFC 7239 identifier, garbage) ends the walk at the proxy that
reported it. Addresses are returned normalised (``ipaddress``'s compressed form, IPv4-mapped IPv6
as IPv4), so one client is one key.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any, Literal

ProxyHeader = Literal["x-forwarded-for", "forwarded"]
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

UNKNOWN = "unknown"  # no socket peer at all (a Unix socket, an in-process test client)
_MAX_HOPS = 32  # a longer chain is not a deployment, it is a client padding the header


class TrustedProxies:
    """The proxies whose forwarding headers are believed, and which header they write."""

    def __init__(self, networks: Iterable[str] = (), header: ProxyHeader = "x-forwarded-for"):
        self.networks = tuple(ipaddress.ip_network(n.strip(), strict=False) for n in networks)
        self.header = header.encode("latin-1")

    def trusts(self, address: IPAddress) -> bool:
        return any(address in network for network in self.networks)


def client_address(scope: Mapping[str, Any], proxies: TrustedProxies) -> str:
    """The client's address for an ASGI connection scope (see the module docstring)."""
    peer = scope.get("client")
    if not peer:
        return UNKNOWN
    current = _parse(str(peer[0]))
    if current is None:
        return str(peer[0])[:64]
    if not proxies.networks:
        return current.compressed
    hops = _hops(scope.get("headers") or (), proxies)
    for raw in reversed(hops[-_MAX_HOPS:]):
        if not proxies.trusts(current):
            break
        hop = _parse(raw)
        if hop is None:
            break
        current = hop
    return current.compressed


def _hops(headers: Iterable[tuple[bytes, bytes]], proxies: TrustedProxies) -> list[str]:
    """Every hop of the configured header, left to right, across repeated header lines."""
    hops: list[str] = []
    for name, value in headers:
        if name.lower() != proxies.header:
            continue
        for element in value.decode("latin-1").split(","):
            if proxies.header == b"forwarded":
                hops.append(_forwarded_for(element))
            else:
                hops.append(element.strip())
    return hops


def _forwarded_for(element: str) -> str:
    """The ``for=`` of one RFC 7239 element (``for=192.0.2.1;proto=https``), or ''."""
    for pair in element.split(";"):
        key, _, value = pair.strip().partition("=")
        if key.strip().lower() == "for":
            return value.strip().strip('"')
    return ""


def _parse(raw: str) -> IPAddress | None:
    """An address as proxies write it: bare, ``[v6]``, ``[v6]:port`` or ``v4:port``."""
    text = raw.strip()
    if text.startswith("["):
        text = text[1:].partition("]")[0]
    elif text.count(":") == 1:
        text = text.partition(":")[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address
