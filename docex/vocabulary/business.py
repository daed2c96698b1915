"""What a revoke, an update or a replacement makes of an earlier document, once its recipient
agrees. Pure rules, no I/O; ``routing.receipts.take_effect`` applies them to a delivery.

A document of business type revoke (1), update (2) or replace (3) (DOMAIN.md, edXML
``BussinessDocType``) names in ``refers_to`` an earlier document of the same sender. It takes
effect for one recipient when that recipient accepts it:

- a **revoke** when the recipient answers it with 15 (recall accepted): the earlier document is
  ``recalled`` for that recipient;
- an **update** or a **replacement** when the recipient answers it with 15 (update accepted) or
  registers it in its incoming book with 03 (accepted, with an incoming number): registering the
  new text is accepting it, and after a 03 the transition rules no longer allow a 15. The earlier
  document is then ``updated`` or ``replaced`` for that recipient.

A recall asked on the document itself (13) takes effect when the recipient answers 15: the
document is ``recalled`` for it. A refusal (16) or a rejection (02) changes nothing.

``recalled`` is final: a later update or replacement of a recalled document does not bring it
back. Between ``updated`` and ``replaced`` the latest accepted one wins.
"""

from __future__ import annotations

from typing import Final

from docex.vocabulary.statuses import ACCEPTED, RECALL_ACCEPTED

RECALLED: Final = "recalled"
UPDATED: Final = "updated"
REPLACED: Final = "replaced"
BUSINESS_STATES: Final = (RECALLED, UPDATED, REPLACED)

# Business type of the new document -> what it makes of the one it refers to.
EFFECT: Final[dict[str, str]] = {"revoke": RECALLED, "update": UPDATED, "replace": REPLACED}

# Business type of the new document -> the status codes on it that mean "accepted".
ACCEPTING_CODES: Final[dict[str, frozenset[str]]] = {
    "revoke": frozenset({RECALL_ACCEPTED}),
    "update": frozenset({RECALL_ACCEPTED, ACCEPTED}),
    "replace": frozenset({RECALL_ACCEPTED, ACCEPTED}),
}


def effect_of(business_type: str, code: str) -> str | None:
    """The state a status ``code`` on a document of ``business_type`` gives the document it
    refers to, or None when it gives none."""
    if code in ACCEPTING_CODES.get(business_type, frozenset()):
        return EFFECT[business_type]
    return None


def next_state(current: str | None, new: str) -> str:
    """A delivery's business state after ``new`` takes effect on it: ``recalled`` is final."""
    return RECALLED if current == RECALLED else new
