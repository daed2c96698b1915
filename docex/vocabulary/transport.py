"""Where a delivery stands in the node's machinery, apart from its business status (01–16).

``queued``: accepted, waiting for the routing worker; ``delivered``: in the recipient's inbox (the
node issued status 01); ``failed``: given up on, with a reason the sender sees; ``forwarded``: on
a relay node (the hub), handed to the next node on the recipient's way (docex.federation) — the
relay's part is done; the sender's node keeps its delivery ``queued`` until the 01 comes back.
"""

from __future__ import annotations

QUEUED = "queued"
DELIVERED = "delivered"
FAILED = "failed"
FORWARDED = "forwarded"
TRANSPORT_STATES = (QUEUED, DELIVERED, FAILED, FORWARDED)

# Kinds of job in the outbound queue (docex/queue), one transport each (docex/routing/worker.py).
JOB_DELIVERY = "delivery"  # to an agency this node hosts
JOB_WEBHOOK = "webhook"  # an event to an endpoint an agency registered (routing/webhooks)
JOB_TRANSFER = "transfer"  # to a peer node: a document or a status (docex/federation)
JOB_ALERT_WEBHOOK = "alert_webhook"  # a raised alert to the operator's webhook (docex/alerts)
JOB_ALERT_MAIL = "alert_mail"  # a raised alert by e-mail over SMTP (docex/alerts)
