"""The transfer protocol's bytes: what a sending node puts on the wire and what a receiving node
checks, independent of what travels (docs/federation.md, "Transfer protocol", is the contract;
this module is its reference implementation, used by both sides).

- **The body** (:class:`Body`): ``multipart/mixed`` with the boundary
  ``docex-transfer-<transfer id>``; first part ``manifest`` (``application/json``: the
  transfer's manifest bytes exactly), then the kind's parts (files), streamed from their
  sources, never whole in memory. Its framing is fixed, so the same transfer always gives the
  same bytes and the same length.
- **The digest**: ``Content-Digest: sha-256=:<base64>:`` (RFC 9530) over the whole body,
  computed once by streaming it (:func:`content_digest`).
- **The signature** (:func:`sign`, :func:`verify`): HTTP Message Signatures (RFC 9421), with
  the ``http-message-signatures`` library; algorithm ``ecdsa-p256-sha256``, label ``docex``,
  ``keyid`` the sending node's id, ``tag`` ``docex-transfer``, ``created`` the time of the
  attempt, over :data:`COVERED`. The private key signs through its key store
  (:class:`~docex.signing.jws.EcdsaKey`: a file or a PKCS#11 token), never read here.
- **The receipt** (:func:`receipt_claims`, :func:`verify_receipt`): a JWS (ES256) by the
  receiving node's key over the transfer id, kind, both nodes, the body digest and each part's
  SHA-256.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import http_sf
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from http_message_signatures import HTTPMessageSigner, HTTPMessageVerifier, InvalidSignature
from http_message_signatures.algorithms import ECDSA_P256_SHA256
from http_message_signatures.exceptions import HTTPMessageSignaturesException

from docex.federation.kinds import MANIFEST_PART, Part
from docex.signing.jws import EcdsaKey, verify_es256

PATH = "/federation/v1/transfers"
LABEL = "docex"  # the signature's label in Signature-Input / Signature
TAG = "docex-transfer"  # the signed application tag: this signature is a transfer's
ALGORITHM = ECDSA_P256_SHA256.algorithm_id  # "ecdsa-p256-sha256"
HEADER_ID = "docex-transfer-id"
HEADER_KIND = "docex-transfer-kind"
# What the signature covers, in this order.
COVERED = ("@method", "@target-uri", "content-type", "content-digest", HEADER_ID, HEADER_KIND)
RECEIPT_TYPE = "docex-transfer-receipt+jws"
CHUNK = 64 * 1024
TRANSFER_ID = re.compile(r"[0-9A-Za-z][0-9A-Za-z-]{0,35}")
_CRLF = b"\r\n"


def boundary(transfer_id: str) -> str:
    return f"docex-transfer-{transfer_id}"


def content_type(transfer_id: str) -> str:
    return f'multipart/mixed; boundary="{boundary(transfer_id)}"'


def _part_head(transfer_id: str, name: str, media_type: str) -> bytes:
    return (
        f"--{boundary(transfer_id)}\r\n"
        f'Content-Disposition: attachment; name="{name}"\r\n'
        f"Content-Type: {media_type}\r\n\r\n"
    ).encode("ascii")


def _tail(transfer_id: str) -> bytes:
    return f"--{boundary(transfer_id)}--\r\n".encode("ascii")


class BodyChanged(Exception):
    """The body streamed on a retry is not the one whose digest was sent on the first attempt
    (a part's source changed): the request is cut before its last bytes."""


@dataclass
class Body:
    """A transfer's body, streamed: the manifest, then each part from its source."""

    transfer_id: str
    manifest: bytes
    parts: Sequence[Part]
    # Filled while streaming: each part's SHA-256 (hex), the manifest's included.
    hashes: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        names = [MANIFEST_PART, *(p.name for p in self.parts)]
        if len(set(names)) != len(names):
            raise ValueError("part names must be unique (and none may be 'manifest')")
        for name in names:
            if not name or '"' in name or not name.isascii() or not name.isprintable():
                raise ValueError(f"invalid part name {name!r}")

    @property
    def content_type(self) -> str:
        return content_type(self.transfer_id)

    @property
    def length(self) -> int:
        total = len(_part_head(self.transfer_id, MANIFEST_PART, "application/json"))
        total += len(self.manifest) + len(_CRLF)
        for part in self.parts:
            total += len(_part_head(self.transfer_id, part.name, part.content_type))
            total += part.size + len(_CRLF)
        return total + len(_tail(self.transfer_id))

    def chunks(self, *, expect: str | None = None) -> Iterator[bytes]:
        """The body's bytes. With ``expect`` (a Content-Digest), the closing delimiter is sent
        only if everything before it hashes to it: else :class:`BodyChanged` is raised, and a
        request carrying it never completes."""
        whole = hashlib.sha256()
        for piece in self._pieces():
            whole.update(piece)
            yield piece
        tail = _tail(self.transfer_id)
        whole.update(tail)
        if expect is not None and not hmac.compare_digest(_format(whole.digest()), expect):
            raise BodyChanged("the body is not the one first sent (a part's source changed)")
        yield tail

    def _pieces(self) -> Iterator[bytes]:
        self.hashes = {}
        yield _part_head(self.transfer_id, MANIFEST_PART, "application/json")
        yield self.manifest
        self.hashes[MANIFEST_PART] = hashlib.sha256(self.manifest).hexdigest()
        yield _CRLF
        for part in self.parts:
            yield _part_head(self.transfer_id, part.name, part.content_type)
            digest, size = hashlib.sha256(), 0
            for chunk in part.chunks():
                if chunk:
                    digest.update(chunk)
                    size += len(chunk)
                    yield chunk
            if size != part.size:
                raise BodyChanged(f"part {part.name} gave {size} bytes, not {part.size}")
            self.hashes[part.name] = digest.hexdigest()
            yield _CRLF


def _format(sha256: bytes) -> str:
    return f"sha-256=:{base64.b64encode(sha256).decode('ascii')}:"


def content_digest(chunks: Iterator[bytes]) -> str:
    """RFC 9530 ``Content-Digest`` (sha-256) of a streamed body."""
    digest = hashlib.sha256()
    for chunk in chunks:
        digest.update(chunk)
    return _format(digest.digest())


def digest_value(field_value: str) -> bytes | None:
    """The sha-256 member of a ``Content-Digest`` field, or None if it has none or is not a
    well-formed RFC 9530 dictionary."""
    try:
        parsed = http_sf.parse(field_value.encode("ascii"), tltype="dictionary")
    except (ValueError, TypeError, UnicodeEncodeError):
        return None
    member = parsed.get("sha-256") if isinstance(parsed, dict) else None
    if not isinstance(member, tuple) or not isinstance(member[0], bytes):
        return None
    value: bytes = member[0]
    return value if len(value) == 32 else None


# -- signing -----------------------------------------------------------------------------------


@dataclass
class Message:
    """A request as the signature library sees it: method, absolute URL, header fields."""

    method: str
    url: str
    headers: Any  # signing: a dict it writes into; verifying: anything with items()


def headers_for(transfer_id: str, kind: str, body: Body, digest: str) -> dict[str, str]:
    """The request's header fields before the signature."""
    return {
        "Content-Type": body.content_type,
        "Content-Length": str(body.length),
        "Content-Digest": digest,
        "Docex-Transfer-Id": transfer_id,
        "Docex-Transfer-Kind": kind,
    }


def sign(
    key: EcdsaKey, node_id: str, url: str, headers: dict[str, str], *, created: datetime
) -> dict[str, str]:
    """Adds ``Signature-Input`` and ``Signature`` to ``headers`` (POST to ``url``), signed by
    ``key`` for ``node_id`` at ``created``; returns ``headers``."""
    message = Message("POST", url, headers)
    signer = HTTPMessageSigner(signature_algorithm=ECDSA_P256_SHA256)
    prepared = signer.prepare(
        message,
        key_id=node_id,
        created=created,
        label=LABEL,
        tag=TAG,
        covered_component_ids=COVERED,
        use_existing_digest=True,
    )
    raw = ECDSA_P256_SHA256.signature_from_der(key.sign(prepared.signature_base))
    signer.apply(message, prepared, raw)
    return headers


class SignatureMissing(Exception):
    pass


class SignatureInvalid(Exception):
    pass


@dataclass(frozen=True)
class Claimed:
    """What a request's signature claims before it is checked: who (``keyid``) and when."""

    node_id: str
    created: datetime
    expires: datetime | None  # optional in RFC 9421; docex never sets it, a receiver honours it


def claimed(headers: Mapping[str, str]) -> Claimed:
    """The ``docex`` signature's ``keyid`` and ``created``, read (not verified) from the
    headers. Raises :class:`SignatureMissing` without ``Signature``/``Signature-Input``,
    :class:`SignatureInvalid` when they do not parse or lack those parameters."""
    signature_input, signature = headers.get("signature-input"), headers.get("signature")
    if not signature_input or not signature:
        raise SignatureMissing("the request has no Signature and Signature-Input fields")
    try:
        inputs = http_sf.parse(signature_input.encode("ascii"), tltype="dictionary")
    except (ValueError, TypeError, UnicodeEncodeError) as exc:
        raise SignatureInvalid("Signature-Input is not a structured dictionary") from exc
    entry = inputs.get(LABEL) if isinstance(inputs, dict) else None
    if not isinstance(entry, tuple) or not isinstance(entry[0], list):
        raise SignatureInvalid(f"Signature-Input has no {LABEL!r} signature")
    params = entry[1]
    keyid, created = params.get("keyid"), params.get("created")
    if not isinstance(keyid, str) or not keyid or len(keyid) > 64:
        raise SignatureInvalid("the signature has no keyid (the sending node's id)")
    if type(created) is not int:
        raise SignatureInvalid("the signature has no created time")
    expires = params.get("expires")
    if expires is not None and type(expires) is not int:
        raise SignatureInvalid("the signature's expires is not an integer")
    try:
        when = datetime.fromtimestamp(created, tz=UTC)
        until = datetime.fromtimestamp(expires, tz=UTC) if expires is not None else None
    except (OverflowError, OSError, ValueError) as exc:
        raise SignatureInvalid("the signature's created or expires is out of range") from exc
    return Claimed(keyid, when, until)


class _Verifier(HTTPMessageVerifier):
    """The library's verifier, freshness left to the caller (checked against the node's
    clock and ``max_clock_skew_seconds`` before, see docex.federation.inbound)."""

    def validate_created_and_expires(self, sig_input: Any, max_age: Any = None) -> None:
        return None


class _OneKey:
    def __init__(self, node_id: str, key: ec.EllipticCurvePublicKey) -> None:
        self.node_id, self.key = node_id, key

    def resolve_public_key(self, key_id: str) -> ec.EllipticCurvePublicKey | None:
        return self.key if key_id == self.node_id else None

    def resolve_private_key(self, key_id: str) -> Any:
        raise KeyError(key_id)


def public_key(pem: str) -> ec.EllipticCurvePublicKey:
    key = serialization.load_pem_public_key(pem.encode("ascii"))
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("a node's signing key must be an ECDSA P-256 key")
    return key


def verify(
    method: str,
    url: str,
    header_items: Sequence[tuple[str, str]],
    *,
    node_id: str,
    key: ec.EllipticCurvePublicKey,
) -> dict[str, str]:
    """Checks the ``docex`` signature of a request from ``node_id`` with ``key``, at ``url``
    (the receiving node's own URL for the endpoint). Returns the covered components' signed
    values (``"content-digest"``, ``"docex-transfer-id"``, ...). Raises
    :class:`SignatureInvalid`."""
    verifier = _Verifier(
        signature_algorithm=ECDSA_P256_SHA256,
        key_resolver=_OneKey(node_id, key),  # type: ignore[arg-type]
    )
    items = _Items(header_items)
    try:
        results = verifier.verify(
            Message(method, url, items),
            max_age=None,
            expect_tag=TAG,
            expect_label=LABEL,
            require_components=COVERED,
        )
    except (InvalidSignature, HTTPMessageSignaturesException) as exc:
        raise SignatureInvalid(f"the signature does not verify: {exc}"[:300]) from exc
    (result,) = results
    if result.parameters.get("alg", ALGORITHM) != ALGORITHM:
        raise SignatureInvalid(f"the signature's algorithm must be {ALGORITHM}")
    return {name.strip('"'): value for name, value in result.covered_components.items()}


class _Items:
    def __init__(self, items: Sequence[tuple[str, str]]) -> None:
        self._items = list(items)

    def items(self) -> list[tuple[str, str]]:
        return self._items


# -- the receipt ---------------------------------------------------------------------------------


def receipt_claims(
    *,
    transfer_id: str,
    kind: str,
    from_node: str,
    to_node: str,
    digest: str,
    parts: Mapping[str, str],
    received_at: str,
    document_id: str | None,
    accepted: Mapping[str, Any],
) -> dict[str, Any]:
    return {
        "transfer_id": transfer_id,
        "kind": kind,
        "from_node": from_node,
        "to_node": to_node,
        "digest": digest,
        "parts": dict(parts),
        "received_at": received_at,
        "document_id": document_id,
        "accepted": dict(accepted),
    }


class ReceiptInvalid(Exception):
    pass


def verify_receipt(
    token: str,
    *,
    peer_key_pem: str,
    transfer_id: str,
    kind: str,
    from_node: str,
    to_node: str,
    digest: str,
    parts: Mapping[str, str] | None = None,
) -> dict[str, Any]:
    """The claims of a transport receipt, once its signature verifies with the peer's key
    (from the directory) and it binds this transfer: its id, kind, both nodes, the digest sent
    and, when given, each part's SHA-256. Raises :class:`ReceiptInvalid`."""
    try:
        header, payload = verify_es256(token, peer_key_pem)
        claims = json.loads(payload)
    except ValueError as exc:
        raise ReceiptInvalid("the receipt's signature does not verify") from exc
    if header.get("typ") != RECEIPT_TYPE or not isinstance(claims, dict):
        raise ReceiptInvalid(f"the receipt is not a {RECEIPT_TYPE}")
    wanted = {
        "transfer_id": transfer_id,
        "kind": kind,
        "from_node": from_node,
        "to_node": to_node,
        "digest": digest,
    }
    for name, value in wanted.items():
        if claims.get(name) != value:
            raise ReceiptInvalid(f"the receipt's {name} is not this transfer's")
    if parts is not None and claims.get("parts") != dict(parts):
        raise ReceiptInvalid("the receipt's part digests are not those sent")
    return claims


def parse_json_object(data: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    return value if isinstance(value, dict) else None
