"""Webhook signing secrets and signatures, as the Standard Webhooks specification writes them
(standardwebhooks.com, "Signature scheme"), so that a receiver verifies with an existing library.

- A secret is 32 random bytes, shown to its owner once as ``whsec_`` + base64 of those bytes.
- A message is signed with HMAC-SHA256 over ``{webhook-id}.{webhook-timestamp}.{body}`` under
  the secret's bytes; the ``webhook-signature`` header is ``v1,`` + base64 of the MAC.
- At rest the secret is wrapped by the node's current KEK (``docex.signing.keks``, AES-256-GCM),
  bound to the endpoint's id as associated data: a database copy alone does not give it away,
  and a wrapped secret moved onto another endpoint's row does not unwrap. Against someone who
  holds both the database and the key files it protects nothing: the node must sign, so it must
  be able to read the secret.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os

from docex.signing.keks import KekRing, WrappedKey

PREFIX = "whsec_"
SECRET_BYTES = 32  # the specification asks for 24 to 64
_AAD = b"docex:webhook-secret:"


def new_secret() -> bytes:
    return os.urandom(SECRET_BYTES)


def secret_text(secret: bytes) -> str:
    """The secret as its owner is shown it (once) and as verifying libraries take it."""
    return PREFIX + base64.b64encode(secret).decode("ascii")


def wrap(keks: KekRing, endpoint_id: str, secret: bytes) -> WrappedKey:
    return keks.wrap(secret, _AAD + endpoint_id.encode())


def unwrap(keks: KekRing, endpoint_id: str, version: int, blob: bytes) -> bytes:
    return keks.unwrap(WrappedKey(version=version, blob=blob), _AAD + endpoint_id.encode())


def signature(secret: bytes, message_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` header of one send of one message."""
    signed = message_id.encode() + b"." + str(timestamp).encode() + b"." + body
    mac = hmac.new(secret, signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(mac).decode("ascii")
