"""C2SP signed notes (c2sp.org/signed-note), with the two signature types docex uses.

A note is UTF-8 text ending in a newline, a blank line, then signature lines
``— <key name> base64(4-byte key ID || signature)``. Guarantees of :func:`parse` and
:func:`verify`: control characters other than newline are refused, the text is what was signed
byte for byte, signatures from unknown keys are ignored, a known key's signature must verify,
and a note with no verified signature from a known key is refused.

Signature types:

- ``0x02``, ECDSA as implemented by transparency-dev/witness (and Sigstore's Rekor): signs
  SHA-256(note text) with an ECDSA key, NIST P-256 here, the signature in ASN.1 DER; the key ID
  is SHA-256(DER SubjectPublicKeyInfo)[:4]. This is the type for the node's own key, an ECDSA
  P-256 key that may live on a PKCS#11 token: the log's checkpoints are signed with it, so an
  auditor trusts one key for receipts and checkpoints alike, and nothing new must be guarded.
- ``0x04``, timestamped Ed25519 cosignatures (c2sp.org/tlog-cosignature): the witness signs
  ``cosignature/v1\\ntime <t>\\n`` followed by the checkpoint's note text; the signature is the
  big-endian uint64 ``t`` then the 64-byte Ed25519 signature; key ID =
  SHA-256(name || 0x0A || 0x04 || 32-byte public key)[:4].

A verifier key ("vkey") is ``<name>+<hex key ID>+base64(type || public key)``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from docex.signing.jws import EcdsaKey, ecdsa_key

ECDSA_TYPE = 0x02
COSIGNATURE_TYPE = 0x04
EM_DASH = "—"
MAX_SIGNATURES = 64
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # every ASCII control character but newline


class NoteError(ValueError):
    """Not a well-formed note, or not signed as required."""


@dataclass(frozen=True)
class Signature:
    name: str
    key_id: bytes  # 4 bytes
    signature: bytes

    def line(self) -> str:
        blob = base64.b64encode(self.key_id + self.signature).decode()
        return f"{EM_DASH} {self.name} {blob}\n"


@dataclass(frozen=True)
class Note:
    text: str  # ends with a newline; what the signatures sign
    signatures: tuple[Signature, ...]

    def render(self) -> str:
        return self.text + "\n" + "".join(s.line() for s in self.signatures)


def check_key_name(name: str) -> str:
    if not name or any(c.isspace() or c == "+" for c in name):
        raise NoteError(f"{name!r} is not a key name (non-empty, no spaces, no '+')")
    return name


def b64decode(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NoteError("bad base64") from exc


def parse(note: str) -> Note:
    """Split a note into its text and signature lines; NoteError if malformed."""
    if _CONTROL.search(note):
        raise NoteError("control character in note")
    if not note.endswith("\n"):
        raise NoteError("a note ends with a newline")
    split = note.rfind("\n\n")
    if split < 0:
        raise NoteError("no blank line before the signatures")
    text, lines = note[: split + 1], note[split + 2 :].splitlines()
    if not lines:
        raise NoteError("a note has at least one signature")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError("too many signatures")
    return Note(text, tuple(parse_signature_line(line) for line in lines))


def parse_signature_line(line: str) -> Signature:
    line = line.removesuffix("\n")
    prefix, _, rest = line.partition(" ")
    name, _, blob = rest.partition(" ")
    if prefix != EM_DASH or not name or not blob or " " in blob:
        raise NoteError(f"malformed signature line {line[:80]!r}")
    check_key_name(name)
    raw = b64decode(blob)
    if len(raw) < 5:
        raise NoteError("signature too short")
    return Signature(name, raw[:4], raw[4:])


class Verifier(Protocol):
    name: str
    key_id: bytes

    def verify(self, text: bytes, signature: bytes) -> bool: ...

    def vkey(self) -> str: ...


def verify(note: Note, verifiers: Sequence[Verifier]) -> list[Verifier]:
    """The known keys that signed ``note``. Raises NoteError if a known key's signature fails
    or if no known key signed it."""
    known = {(v.name, v.key_id): v for v in verifiers}
    good: list[Verifier] = []
    for sig in note.signatures:
        verifier = known.get((sig.name, sig.key_id))
        if verifier is None:
            continue  # unknown keys are ignored (c2sp.org/signed-note)
        if not verifier.verify(note.text.encode(), sig.signature):
            raise NoteError(f"signature by {sig.name} does not verify")
        good.append(verifier)
    if not good:
        raise NoteError("no signature by a known key")
    return good


def _vkey(name: str, key_id: bytes, kind: int, key: bytes) -> str:
    return f"{name}+{key_id.hex()}+{base64.b64encode(bytes([kind]) + key).decode()}"


# -- ECDSA (type 0x02): the log's own key ------------------------------------------------------


def _spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class EcdsaVerifier:
    def __init__(self, name: str, public_key: ec.EllipticCurvePublicKey) -> None:
        if not isinstance(public_key.curve, ec.SECP256R1):
            raise NoteError("the log key is an ECDSA P-256 key")
        self.name = check_key_name(name)
        self.public_key = public_key
        self.key_id = hashlib.sha256(_spki(public_key)).digest()[:4]

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            self.public_key.verify(signature, text, ec.ECDSA(hashes.SHA256()))
        except (InvalidSignature, ValueError):
            return False
        return True

    def vkey(self) -> str:
        return _vkey(self.name, self.key_id, ECDSA_TYPE, _spki(self.public_key))


class EcdsaSigner:
    """Signs notes with an ECDSA P-256 key, wherever it lives (file or PKCS#11 token)."""

    def __init__(self, name: str, key: ec.EllipticCurvePrivateKey | EcdsaKey) -> None:
        self._key = ecdsa_key(key)
        self.verifier = EcdsaVerifier(name, self._key.public_key())
        self.name = name

    def sign(self, text: str) -> Signature:
        der = self._key.sign(text.encode(), "sha256")
        return Signature(self.name, self.verifier.key_id, der)


# -- Ed25519 cosignatures (type 0x04): witnesses -------------------------------------------------


def cosigned_message(text: str, timestamp: int) -> bytes:
    return f"cosignature/v1\ntime {timestamp}\n{text}".encode()


def _raw(key: ed25519.Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def cosigner_key_id(name: str, public_key: bytes) -> bytes:
    return hashlib.sha256(name.encode() + b"\n" + bytes([COSIGNATURE_TYPE]) + public_key).digest()[
        :4
    ]


class CosignatureVerifier:
    def __init__(self, name: str, public_key: bytes) -> None:
        if len(public_key) != 32:
            raise NoteError("an Ed25519 public key is 32 bytes")
        self.name = check_key_name(name)
        self.public_key = public_key
        self.key_id = cosigner_key_id(name, public_key)
        self._key = ed25519.Ed25519PublicKey.from_public_bytes(public_key)

    @classmethod
    def from_vkey(cls, vkey: str) -> CosignatureVerifier:
        name, key_id, raw = parse_vkey(vkey)
        if raw[:1] != bytes([COSIGNATURE_TYPE]):
            raise NoteError("not an Ed25519 cosignature key (type 0x04)")
        verifier = cls(name, raw[1:])
        if verifier.key_id != key_id:
            raise NoteError("the vkey's key ID does not match its key")
        return verifier

    def timestamp(self, signature: bytes) -> int:
        if len(signature) != 8 + 64:
            raise NoteError("a cosignature is 8 + 64 bytes")
        (timestamp,) = struct.unpack(">Q", signature[:8])
        if timestamp >= 1 << 63:
            raise NoteError("cosignature timestamp out of range")
        return int(timestamp)

    def verify(self, text: bytes, signature: bytes) -> bool:
        try:
            timestamp = self.timestamp(signature)
            self._key.verify(signature[8:], cosigned_message(text.decode(), timestamp))
        except (InvalidSignature, NoteError, UnicodeDecodeError):
            return False
        return True

    def vkey(self) -> str:
        return _vkey(self.name, self.key_id, COSIGNATURE_TYPE, self.public_key)


class Cosigner:
    """A witness's Ed25519 key, cosigning checkpoints (c2sp.org/tlog-cosignature)."""

    def __init__(self, name: str, key: ed25519.Ed25519PrivateKey) -> None:
        self._key = key
        self.verifier = CosignatureVerifier(name, _raw(key.public_key()))
        self.name = name

    def cosign(self, text: str, timestamp: int) -> Signature:
        signature = self._key.sign(cosigned_message(text, timestamp))
        return Signature(self.name, self.verifier.key_id, struct.pack(">Q", timestamp) + signature)


def parse_vkey(vkey: str) -> tuple[str, bytes, bytes]:
    """(name, key ID, type byte || public key) of a verifier key; NoteError if malformed."""
    parts = vkey.strip().split("+", 2)  # base64 may contain "+" too
    if len(parts) != 3:
        raise NoteError("a vkey is name+keyid+key")
    name, hex_id, blob = parts
    check_key_name(name)
    try:
        key_id = bytes.fromhex(hex_id)
    except ValueError as exc:
        raise NoteError("bad key ID in vkey") from exc
    raw = b64decode(blob)
    if len(key_id) != 4 or len(raw) < 2:
        raise NoteError("malformed vkey")
    return name, key_id, raw


def log_verifier_from_vkey(vkey: str) -> EcdsaVerifier:
    name, key_id, raw = parse_vkey(vkey)
    if raw[0] != ECDSA_TYPE:
        raise NoteError("not an ECDSA note key (type 0x02)")
    try:
        key = serialization.load_der_public_key(raw[1:])
    except ValueError as exc:
        raise NoteError("bad public key in vkey") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise NoteError("not an EC public key")
    verifier = EcdsaVerifier(name, key)
    if verifier.key_id != key_id:
        raise NoteError("the vkey's key ID does not match its key")
    return verifier
