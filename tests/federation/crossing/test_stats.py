"""Statistics collected at the hub over the federation (the ``stats`` kind): the hub's rows for
Nghệ An's agencies equal Nghệ An's own; a replayed statement changes nothing; a second push
carries only what changed; a statement about another node's agency, or not signed by its
node, is refused and nothing stored."""

from __future__ import annotations

import dataclasses
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from docex.errors import DocexError
from docex.federation.statements import unverified_claims
from docex.kit.samplepdf import sample_pdf
from docex.stats.collection import STATS_TYPE, push
from docex.stats.models import CollectedDay
from docex.stats.query import agency_rows, vietnam_day
from tests.federation.crossing.conftest import Member, Network
from tests.helpers import C1, C2, G22, H26, H41, auth, envelope, pdf, send

PROVINCE = [H41, C1, C2]


def _send(network: Network, node: str, sender: str, recipients: list[str], **fields: Any) -> str:
    response = send(
        network[node].client,
        auth(network.credentials, sender),
        envelope(recipients, **fields),
        pdf(),
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _answer(network: Network, node: str, agency: str, document_id: str) -> None:
    response = network[node].client.post(
        f"/api/v1/documents/{document_id}/statuses",
        json={"code": "03"},
        headers=auth(network.credentials, agency),
    )
    assert response.status_code == 201, response.text


def _rows(member: Member, start: date, end: date) -> dict[str, dict[str, Any]]:
    with member.node.db.read() as session:
        found = agency_rows(session, start=start, end=end, here=member.id)
    return {row.agency_id: row.as_json() for row in found if row.agency_id in PROVINCE}


def _push(member: Member, now: datetime) -> str | None:
    with member.node.db.write() as session:
        pushed = push(session, member.node.signer, now=now)
    return pushed.transfer_id if pushed else None


def _collected(member: Member) -> list[tuple[Any, ...]]:
    with member.node.db.read() as session:
        return [
            (
                r.node_id,
                r.agency_id,
                r.day,
                r.sent,
                r.received,
                r.accepted,
                r.overdue,
                r.to_03,
                r.updated_at,
            )
            for r in session.scalars(select(CollectedDay).order_by(CollectedDay.agency_id))
        ]


def _exchange(network: Network) -> tuple[str, datetime]:
    """Within Nghệ An, across to the hub and back, a failure, a refusal, an overdue flash
    document; returns the flash document (still unanswered) and when the sweep ran."""
    hub, nghean = network["hub"], network["nghean"]
    local = _send(network, "nghean", C1, [H41])
    assert nghean.deliver() == 1
    _answer(network, "nghean", H41, local)
    up = _send(network, "nghean", C1, [G22])
    nghean.deliver()
    network.carry("nghean", "hub")
    assert hub.deliver() == 1
    network.carry("hub", "nghean")  # the 01
    _answer(network, "hub", G22, up)
    network.carry("hub", "nghean")  # the 03
    flash = _send(network, "hub", G22, [H41], urgency="flash")
    hub.deliver()
    network.carry("hub", "nghean")
    assert nghean.deliver() == 1
    network.carry("nghean", "hub")  # the 01
    _send(network, "nghean", C2, [H26])
    nghean.deliver()
    network.fail("nghean", "hub", "connection refused", final=True)  # gave up: C2's fails
    refused = send(nghean.client, auth(network.credentials, C1), envelope([H41]), sample_pdf("x"))
    assert refused.status_code == 422
    swept_at = nghean.node.clock.now() + timedelta(hours=1, minutes=1)
    assert nghean.node.overdue.run_once(swept_at) == 1
    return flash, swept_at


def test_the_hub_s_rows_for_a_province_equal_the_province_s_own_and_a_replay_changes_nothing(
    network: Network,
) -> None:
    hub, nghean = network["hub"], network["nghean"]
    flash, swept_at = _exchange(network)
    start = vietnam_day(hub.node.clock.now())
    end = vietnam_day(swept_at)
    own = _rows(nghean, start, end)
    assert own[C1]["sent"] == 2
    assert own[C1]["signature_refusals"] == 1
    assert own[C2]["failed"] == 1
    assert (own[H41]["received"], own[H41]["accepted"], own[H41]["overdue"]) == (2, 1, 1)
    assert own[C1]["median_to_01_s"] is not None
    assert all(row["sent"] == 0 and row["received"] == 0 for row in _rows(hub, start, end).values())

    transfer_id = _push(nghean, swept_at)
    assert transfer_id is not None
    [queued] = nghean.queued(kind="stats")
    assert (queued.id, queued.peer) == (transfer_id, "hub")
    inbound = network.inbound(nghean, transfer_id)
    [accepted] = network.carry("nghean", "hub")
    assert accepted.detail["written"] == accepted.detail["days"] > 0
    assert _rows(hub, start, end) == own

    before = _collected(hub)
    again = network.receive(hub, inbound)  # the same statement again
    assert again.detail["written"] == 0
    assert _collected(hub) == before
    assert _rows(hub, start, end) == own

    # Nothing changed: no push. Then H41 answers the flash document late: only its row moves.
    assert _push(nghean, swept_at) is None
    _answer(network, "nghean", H41, flash)
    network.carry("nghean", "hub")  # the 03 back to the hub
    later = nghean.node.clock.now()
    second = _push(nghean, max(later, swept_at))
    assert second is not None
    claims = unverified_claims(network.inbound(nghean, second).manifest["statement"])
    assert [d["agency_id"] for d in claims["days"]] == [H41]
    network.carry("nghean", "hub")
    end = max(end, vietnam_day(later))
    assert _rows(hub, start, end) == _rows(nghean, start, end)
    assert _rows(hub, start, end)[H41]["accepted"] == 2


@pytest.mark.parametrize("forgery", ["not_hosted", "wrong_key"])
def test_a_statement_about_another_node_s_agency_or_signed_by_another_is_refused(
    network: Network, forgery: str
) -> None:
    hub, nghean = network["hub"], network["nghean"]
    _send(network, "nghean", C1, [H41])
    nghean.deliver()
    transfer_id = _push(nghean, nghean.node.clock.now())
    assert transfer_id is not None
    inbound = network.inbound(nghean, transfer_id)
    claims = unverified_claims(inbound.manifest["statement"])
    if forgery == "not_hosted":
        claims["days"][0]["agency_id"] = G22
        token = nghean.node.signer.sign(claims, typ=STATS_TYPE)
    else:
        token = hub.node.signer.sign(claims, typ=STATS_TYPE)  # iss says nghean
    forged = dataclasses.replace(inbound, manifest={**inbound.manifest, "statement": token})
    with pytest.raises(DocexError) as refused:
        network.receive(hub, forged)
    assert refused.value.code == "stats_statement_invalid"
    assert _collected(hub) == []
