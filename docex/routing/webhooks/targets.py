"""Where a webhook may be sent: an ``http``/``https`` URL whose host resolves only to public
addresses. Anything else could turn the node into a proxy into its own network (SSRF): its
database, its metrics, a cloud's metadata service at 169.254.169.254.

A target is checked when it is registered and again at every send (DNS can change in between),
and the send connects to the very address that was checked (the host name still goes in the
``Host`` header and the TLS SNI, and the certificate is verified against it), so a name that
resolves to a public address for the check and a private one for the connection (DNS
rebinding) reaches nothing. Redirects are never followed. An address is public when
``ipaddress`` says it is global and not multicast; an IPv4 address written as IPv6
(``::ffff:10.0.0.1``) is judged as the IPv4 one. The operator may allow non-public targets
(``DOCEX_WEBHOOKS__ALLOW_PRIVATE_TARGETS=true``): integrators on the node's own network.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import SplitResult, urlsplit

from docex.errors import Unprocessable, WebhookTargetForbidden

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Resolver = Callable[[str, int], Sequence[IPAddress]]
MAX_URL = 2000


@dataclass(frozen=True)
class Target:
    """A checked target: connect to ``address`` and present ``host`` (Host header, SNI)."""

    url: str
    scheme: str
    host: str
    port: int
    address: IPAddress
    path: str  # path and query, as given

    @property
    def pinned_url(self) -> str:
        """The URL with the checked address in place of the host name."""
        literal = f"[{self.address}]" if self.address.version == 6 else str(self.address)
        return f"{self.scheme}://{literal}:{self.port}{self.path}"

    @property
    def host_header(self) -> str:
        name = f"[{self.host}]" if ":" in self.host else self.host
        default = 443 if self.scheme == "https" else 80
        return name if self.port == default else f"{name}:{self.port}"


def system_resolver(host: str, port: int) -> list[IPAddress]:
    infos: list[tuple[Any, ...]] = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    found: list[IPAddress] = []
    for info in infos:
        address = ipaddress.ip_address(str(info[4][0]).split("%", 1)[0])
        if address not in found:
            found.append(address)
    return found


def is_public(address: IPAddress) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def parse(url: str) -> SplitResult:
    """The URL's parts; ``invalid_webhook_url`` unless it is an absolute http(s) URL with a host
    and no credentials in it."""
    if len(url) > MAX_URL or any(c.isspace() or ord(c) < 0x20 for c in url):
        raise Unprocessable("the webhook URL is too long or has spaces", code="invalid_webhook_url")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 (raises ValueError on a bad port)
    except ValueError:
        raise Unprocessable("the webhook URL does not parse", code="invalid_webhook_url") from None
    if parts.scheme not in ("http", "https"):
        raise WebhookTargetForbidden("a webhook URL is http:// or https://")
    if not parts.hostname:
        raise Unprocessable("the webhook URL has no host", code="invalid_webhook_url")
    if parts.username is not None or parts.password is not None:
        raise Unprocessable(
            "put no credentials in the webhook URL: the signature authenticates the node",
            code="invalid_webhook_url",
        )
    return parts


def check(url: str, *, allow_private: bool, resolve: Resolver = system_resolver) -> Target:
    """The target ``url`` names, once its host resolves and every address it resolves to may be
    reached. Raises ``WebhookTargetForbidden`` (or ``invalid_webhook_url``,
    ``webhook_target_unresolvable``)."""
    parts = parse(url)
    host = str(parts.hostname)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    try:
        addresses = [ipaddress.ip_address(host)]
    except ValueError:
        try:
            addresses = list(resolve(host, port))
        except (OSError, UnicodeError, ValueError):
            addresses = []
        if not addresses:
            raise Unprocessable(
                f"the host {host!r} does not resolve", code="webhook_target_unresolvable"
            ) from None
    if not allow_private:
        refused = [a for a in addresses if not is_public(a)]
        if refused:
            raise WebhookTargetForbidden(
                f"{host} resolves to a non-public address ({refused[0]}); the node's operator "
                "may allow such targets (DOCEX_WEBHOOKS__ALLOW_PRIVATE_TARGETS)"
            )
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(
        url=url, scheme=parts.scheme, host=host, port=port, address=addresses[0], path=path
    )
