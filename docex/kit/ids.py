"""Identifiers: time-ordered UUIDv7 (RFC 9562 §5.7) so ids sort by creation and paginate cheaply.

Within one process ids are strictly increasing (RFC 9562 §6.2 method 1: a 12-bit counter in
``rand_a`` when two ids share a millisecond), so "order by id" is "order of creation" here.
"""

from __future__ import annotations

import os
import re
import secrets
import threading
import time
import uuid

# A node's name: lowercase ASCII letters, digits, "." and "-", 1-64 characters, starting and
# ending with a letter or digit (it is written in receipts, traces, certificates and URLs).
NODE_ID_PATTERN = r"^[a-z0-9](?:[a-z0-9.-]{0,62}[a-z0-9])?$"
_NODE_ID = re.compile(NODE_ID_PATTERN[1:-1], re.ASCII)

_lock = threading.Lock()
_last_ms = 0
_seq = 0


def uuid7() -> str:
    global _last_ms, _seq
    with _lock:
        ms = time.time_ns() // 1_000_000
        if ms <= _last_ms:
            ms = _last_ms
            _seq += 1
            if _seq > 0xFFF:  # counter exhausted: borrow the next millisecond
                ms += 1
                _seq = 0
        else:
            _seq = int.from_bytes(os.urandom(2), "big") & 0x3FF  # leave room to count up
        _last_ms = ms
        seq = _seq
    rand_b = int.from_bytes(os.urandom(8), "big") & ((1 << 62) - 1)
    value = (ms & ((1 << 48) - 1)) << 80 | 0x7 << 76 | seq << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))


def token_secret(prefix: str) -> str:
    """A bearer secret with a recognisable prefix (so leaked tokens can be found by scanners)."""
    return f"{prefix}_{secrets.token_urlsafe(32)}"


def is_node_id(value: str) -> bool:
    return _NODE_ID.fullmatch(value) is not None
