"""One function says who the client is: the socket peer, unless the peer is a configured proxy,
and then only as far as trusted proxies wrote the forwarding header."""

from __future__ import annotations

from typing import Any

import pytest

from docex.config import Settings
from docex.kit.proxies import ProxyHeader, TrustedProxies, client_address

PROXIES = ["10.0.0.0/8", "2001:db8:ffff::/48", "192.0.2.1"]


def scope(peer: str | None, *headers: tuple[str, str]) -> dict[str, Any]:
    return {
        "type": "http",
        "client": (peer, 51234) if peer is not None else None,
        "headers": [(k.lower().encode(), v.encode("latin-1")) for k, v in headers],
    }


XFF = "X-Forwarded-For"


@pytest.mark.parametrize(
    ("peer", "headers", "trusted", "expected"),
    [
        # No proxy configured: the peer, whatever the headers say.
        ("198.51.100.7", [(XFF, "6.6.6.6")], [], "198.51.100.7"),
        ("198.51.100.7", [("Forwarded", "for=6.6.6.6")], [], "198.51.100.7"),
        # A peer that is not a trusted proxy cannot speak for anyone.
        ("198.51.100.7", [(XFF, "6.6.6.6")], PROXIES, "198.51.100.7"),
        # A trusted proxy names its client.
        ("10.1.2.3", [(XFF, "203.0.113.9")], PROXIES, "203.0.113.9"),
        # A client's own prefix is skipped: the hop the proxy added is the client.
        ("10.1.2.3", [(XFF, "6.6.6.6, 203.0.113.9")], PROXIES, "203.0.113.9"),
        # Through two trusted proxies, leftwards to the first untrusted hop.
        ("10.1.2.3", [(XFF, "6.6.6.6, 203.0.113.9, 10.9.9.9")], PROXIES, "203.0.113.9"),
        # The same, over repeated header lines (joined in order).
        ("10.1.2.3", [(XFF, "6.6.6.6"), (XFF, "203.0.113.9, 10.9.9.9")], PROXIES, "203.0.113.9"),
        # Every hop trusted: the leftmost, the client is itself a proxy.
        ("10.1.2.3", [(XFF, "10.5.5.5, 10.9.9.9")], PROXIES, "10.5.5.5"),
        # A trusted proxy that says nothing: itself.
        ("10.1.2.3", [], PROXIES, "10.1.2.3"),
        ("10.1.2.3", [(XFF, "")], PROXIES, "10.1.2.3"),
        # Garbage ends the walk at the proxy that reported it, never recorded as an address.
        ("10.1.2.3", [(XFF, "6.6.6.6, <script>")], PROXIES, "10.1.2.3"),
        ("10.1.2.3", [(XFF, "203.0.113.9, unknown, 10.9.9.9")], PROXIES, "10.9.9.9"),
        ("10.1.2.3", [(XFF, "x" * 10_000)], PROXIES, "10.1.2.3"),
        # Ports and brackets as proxies write them; addresses normalised.
        ("10.1.2.3", [(XFF, "203.0.113.9:4711")], PROXIES, "203.0.113.9"),
        ("10.1.2.3", [(XFF, "[2001:DB8::0001]:443")], PROXIES, "2001:db8::1"),
        ("10.1.2.3", [(XFF, "2001:0db8:0:0::7")], PROXIES, "2001:db8::7"),
        ("::ffff:10.1.2.3", [(XFF, "203.0.113.9")], PROXIES, "203.0.113.9"),
        ("2001:db8:ffff::5", [(XFF, "203.0.113.9")], PROXIES, "203.0.113.9"),
        ("::ffff:198.51.100.7", [], [], "198.51.100.7"),
        # A single address in the list, not a block.
        ("192.0.2.1", [(XFF, "203.0.113.9")], PROXIES, "203.0.113.9"),
        ("192.0.2.2", [(XFF, "203.0.113.9")], PROXIES, "192.0.2.2"),
        # X-Forwarded-For is the configured header: Forwarded, sent by the client, is ignored.
        ("10.1.2.3", [("Forwarded", "for=6.6.6.6")], PROXIES, "10.1.2.3"),
    ],
)
def test_client_address(
    peer: str, headers: list[tuple[str, str]], trusted: list[str], expected: str
) -> None:
    assert client_address(scope(peer, *headers), TrustedProxies(trusted)) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("for=203.0.113.9", "203.0.113.9"),
        ('for="[2001:db8:cafe::17]:4711";proto=https', "2001:db8:cafe::17"),
        ("for=6.6.6.6, for=203.0.113.9;by=10.0.0.1", "203.0.113.9"),
        ("For=203.0.113.9;Proto=http, for=10.9.9.9", "203.0.113.9"),
        ("for=_hidden, for=10.9.9.9", "10.9.9.9"),
        ("proto=https", "10.1.2.3"),
    ],
)
def test_forwarded_header_rfc_7239(value: str, expected: str) -> None:
    proxies = TrustedProxies(PROXIES, "forwarded")
    assert client_address(scope("10.1.2.3", ("Forwarded", value)), proxies) == expected
    # ...and X-Forwarded-For, not the configured header, is then ignored.
    assert client_address(scope("10.1.2.3", (XFF, "6.6.6.6")), proxies) == "10.1.2.3"


def test_no_peer_and_a_peer_that_is_no_address() -> None:
    assert client_address(scope(None, (XFF, "6.6.6.6")), TrustedProxies(PROXIES)) == "unknown"
    assert client_address(scope("testclient"), TrustedProxies(PROXIES)) == "testclient"


def test_trusted_proxies_setting_takes_a_comma_list_or_json_and_refuses_garbage(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("DOCEX_TRUSTED_PROXIES", "10.0.0.0/8, 192.0.2.1 ,")
    assert Settings().trusted_proxies == ["10.0.0.0/8", "192.0.2.1"]
    monkeypatch.setenv("DOCEX_TRUSTED_PROXIES", '["::1"]')
    assert Settings().trusted_proxies == ["::1"]
    monkeypatch.delenv("DOCEX_TRUSTED_PROXIES")
    assert Settings().trusted_proxies == []
    monkeypatch.setenv("DOCEX_TRUSTED_PROXIES", "10.0.0.0/8, the-proxy")
    with pytest.raises(ValueError, match="the-proxy"):
        Settings()
    header: ProxyHeader = "forwarded"
    monkeypatch.setenv("DOCEX_TRUSTED_PROXIES", "10.0.0.0/8")
    monkeypatch.setenv("DOCEX_FORWARDED_HEADER", header)
    assert Settings().forwarded_header == header
