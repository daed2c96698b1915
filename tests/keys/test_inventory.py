"""The expiry rule of the console's certificate list: valid, expiring within 30 days, expired,
not yet valid; and the list itself read from the node's PKI and its receipt certificate."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from docex.config import Settings
from docex.keys.inventory import EXPIRY_WARNING, Expiry, certificates, expiry
from docex.keys.paths import KeyPaths
from docex.signing.pki import Pki

START = datetime(2026, 1, 1, tzinfo=UTC)
END = datetime(2027, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("now", "expected"),
    [
        (START - timedelta(seconds=1), Expiry.NOT_YET_VALID),
        (START, Expiry.VALID),
        (END - EXPIRY_WARNING - timedelta(seconds=1), Expiry.VALID),
        (END - EXPIRY_WARNING, Expiry.EXPIRING),
        (END - timedelta(seconds=1), Expiry.EXPIRING),
        (END, Expiry.EXPIRED),
        (END + timedelta(days=400), Expiry.EXPIRED),
    ],
)
def test_expiry_warns_thirty_days_before_the_end(now: datetime, expected: Expiry) -> None:
    assert expiry(START, END, now) is expected


def test_the_inventory_lists_the_node_certificate_and_the_pkis_in_use(
    keys_template: Settings,
) -> None:
    paths = KeyPaths.of(keys_template)
    pki = Pki.open(paths.pki_dir, None)
    now = datetime.now(UTC)
    lines = certificates(pki, paths.node_certificate, now)
    by_key = {line.key_id: line for line in lines}
    assert lines[0].key_id == "node"
    assert by_key["node"].agency_id is None
    seal = by_key["seal:000.00.00.G22"]
    assert (seal.role, seal.agency_id, seal.expiry) == ("seal", "000.00.00.G22", Expiry.VALID)
    assert by_key["person:lanhdao.vpcp"].agency_id == "000.00.00.G22"
    assert {"ca:root", "ca:issuing"} <= set(by_key)
    assert seal.days_left == (seal.not_after - now) // timedelta(days=1)
    later = certificates(pki, paths.node_certificate, seal.not_after)
    assert {line.key_id: line for line in later}["seal:000.00.00.G22"].expiry is Expiry.EXPIRED


def test_a_node_without_a_pki_lists_nothing(tmp_path: Path) -> None:
    assert certificates(None, tmp_path / "node.pem", datetime.now(UTC)) == []
