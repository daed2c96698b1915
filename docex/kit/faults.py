"""Crash points for fault-injection tests: ``DOCEX_FAULT_INJECT=<point>`` makes the process die
with SIGKILL semantics (``os._exit``, no cleanup, no flush) when it reaches that point;
``DOCEX_FAULT_STALL=<point>`` makes the thread that reaches it wait forever instead (a worker
stuck on a slow receiver: its other threads, the lease heartbeat among them, carry on), so that
a test can SIGKILL the process while it holds what it took.

The points sit where a crash is most damaging (after a side effect, before it is recorded), so
tests with real processes can prove that nothing accepted is lost and nothing is done twice.
Unset in production; reading one environment variable is the whole cost.
"""

from __future__ import annotations

import os
import threading

INTAKE_AFTER_BLOBS = "intake:after_blobs"  # blobs durable, rows not yet committed
DISPATCHER_AFTER_CLAIM = "dispatcher:after_claim"  # leases taken, nothing delivered
# Deliveries made (inbox, 01 receipts, audit events) and their jobs completed, all written to
# the database but not committed: the effect and the completion must stand or fall together.
DELIVERY_BEFORE_COMMIT = "delivery:before_commit"
WEBHOOK_AFTER_SEND = "webhook:after_send"  # a receiver said 2xx, not yet recorded
# Federation: a transfer stored by the receiving node (blobs, rows, receipt) but not committed;
# and a peer's signed receipt in the sending node's hands, not yet recorded.
TRANSFER_RECEIVED_BEFORE_COMMIT = "transfer:received:before_commit"
TRANSFER_AFTER_SEND = "transfer:after_send"


def crash_point(point: str) -> None:
    if os.environ.get("DOCEX_FAULT_INJECT") == point:
        os._exit(137)
    if os.environ.get("DOCEX_FAULT_STALL") == point:
        threading.Event().wait()
