"""Crash points for fault-injection tests: ``DOCEX_FAULT_INJECT=<point>`` makes the process die
with SIGKILL semantics (``os._exit``, no cleanup, no flush) when it reaches that point.

The points sit where a crash is most damaging (after a side effect, before it is recorded), so
tests with real processes can prove that nothing accepted is lost and nothing is done twice.
Unset in production; reading one environment variable is the whole cost.
"""

from __future__ import annotations

import os

INTAKE_AFTER_BLOBS = "intake:after_blobs"  # blobs durable, rows not yet committed
DISPATCHER_AFTER_CLAIM = "dispatcher:after_claim"  # leases taken, nothing delivered
WEBHOOK_AFTER_SEND = "webhook:after_send"  # a receiver said 2xx, not yet recorded


def crash_point(point: str) -> None:
    if os.environ.get("DOCEX_FAULT_INJECT") == point:
        os._exit(137)
