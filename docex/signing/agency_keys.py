"""Data keys wrapped for recipient agencies: how a confidential document stays readable only by
the agencies it is addressed to, not by the nodes that carry it.

Each agency has an encryption key pair, X25519. For a document classified above ``normal``, the
sending node wraps the blob's data key (DEK, ``docex.storage.encryption``) for the public key of
every recipient agency and of the sender, with HPKE (RFC 9180) in base mode, single-shot:

    suite 0x01 = DHKEM(X25519, HKDF-SHA256) / HKDF-SHA256 / AES-256-GCM
                 (KEM 0x0020, KDF 0x0001, AEAD 0x0002)

Wrapped key (``wrap_for_agency``, 101 bytes)::

     0   4  magic   b"DXA1"
     4   1  suite   0x01
     5  16  key id  SHA-256(raw 32-byte X25519 public key)[:16] of the recipient key
    21  32  enc     HPKE encapsulated key
    53  48  ct      HPKE ciphertext of the 32-byte DEK (with its 16-byte tag)

    HPKE info = SHA-256(b"docex agency dek v1" ‖ bytes 0..21 above
                        ‖ len(agency id) (4, BE) ‖ agency id (UTF-8)
                        ‖ len(context) (4, BE) ‖ context)

The info enters the HPKE key schedule, so the wrapped key opens only with the agency's private key
*and* the same agency id *and* the same context (the caller passes the document's metadata, e.g.
``encryption.associated_data(document_id, file_id, classification)``). A wrapped key moved to
another document fails with ``UnwrapError``; moved to another agency's entry, it names a key that
agency does not hold (``KeyLocked``).

What this guarantees: once the document has left the sending node, reading it needs a recipient
agency's private key. Relaying nodes (the hub) receive only the encrypted blob and these
agency-wrapped keys, never a DEK wrapped by their own KEK, so a node's KEK, its disks or its
bucket reveal nothing of a confidential document it relays. HPKE base mode gives IND-CCA2
confidentiality of the DEK towards anyone without the private key; it does not authenticate the
sender (that is the envelope signature's job).

What it does not: the sending node knows the DEK while it encrypts. Custodial keys
(``AgencyKeyStore``, the receiving node keeps the agency's private key, PKCS#8 encrypted with the
node passphrase) can be used by whoever holds that key store and its passphrase: an agency that
must exclude its node's operator keeps its private key itself and decrypts in its own system. X25519
is not post-quantum: the suite byte lets a hybrid KEM (ML-KEM-768 + X25519) replace it later.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hpke, serialization
from cryptography.hazmat.primitives.asymmetric import x25519

from docex.kit.files import create_exclusively
from docex.signing.keks import KeyLocked, KeyUnavailable, UnwrapError

MAGIC = b"DXA1"
SUITE_X25519_SHA256_AES256GCM = 1
KEY_ID_SIZE = 16
DEK_SIZE = 32
_ENC_SIZE = 32
_HEAD_SIZE = len(MAGIC) + 1 + KEY_ID_SIZE
WRAPPED_SIZE = _HEAD_SIZE + _ENC_SIZE + DEK_SIZE + 16
_SUITE = hpke.Suite(hpke.KEM.X25519, hpke.KDF.HKDF_SHA256, hpke.AEAD.AES_256_GCM)
_INFO_LABEL = b"docex agency dek v1"
_AGENCY_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)

__all__ = [
    "AgencyKeyStore",
    "KeyLocked",
    "KeyUnavailable",
    "UnwrapError",
    "agency_key_id",
    "generate_agency_keypair",
    "unwrap_for_agency",
    "wrap_for_agency",
]


def generate_agency_keypair(passphrase: str | None = None) -> tuple[bytes, bytes]:
    """A new X25519 key pair as ``(private PEM, public PEM)``.

    The private key is PKCS#8, encrypted with ``passphrase`` when one is given; the public key is
    SubjectPublicKeyInfo, the form published in the agency registry.
    """
    key = x25519.X25519PrivateKey.generate()
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    return private_pem, _public_pem(key.public_key())


def agency_key_id(public_pem: bytes) -> str:
    """The 16-byte key id (hex) of an agency public key, as written in each wrapped key."""
    return _key_id(_load_public(public_pem)).hex()


def wrap_for_agency(dek: bytes, public_pem: bytes, *, agency_id: str, context: bytes) -> bytes:
    """Wrap ``dek`` for the agency holding the private half of ``public_pem``.

    ``agency_id`` is the agency's official code; ``context`` the document metadata to bind.
    """
    if len(dek) != DEK_SIZE:
        raise ValueError(f"a data key is {DEK_SIZE} bytes, not {len(dek)}")
    public = _load_public(public_pem)
    head = MAGIC + bytes([SUITE_X25519_SHA256_AES256GCM]) + _key_id(public)
    sealed = _SUITE.encrypt(dek, public, info=_info(head, agency_id, context))
    return head + sealed


def unwrap_for_agency(
    blob: bytes,
    private_pem: bytes,
    *,
    agency_id: str,
    context: bytes,
    passphrase: str | None = None,
) -> bytes:
    """The data key inside ``blob``, if key, agency id and context all match.

    ``KeyLocked`` when the private key does not load (wrong or missing passphrase), or is not
    the key ``blob`` was wrapped for (the right key is elsewhere); ``UnwrapError`` when the
    wrapped key itself fails: not a wrapped key, or altered, or for another agency or context.
    """
    if len(blob) != WRAPPED_SIZE or blob[:4] != MAGIC:
        raise UnwrapError("not a docex agency-wrapped key")
    if blob[4] != SUITE_X25519_SHA256_AES256GCM:
        raise UnwrapError(f"agency-wrapped key uses unknown suite {blob[4]}")
    private = _load_private(private_pem, passphrase)
    head = blob[:_HEAD_SIZE]
    if head[5:] != _key_id(private.public_key()):
        raise KeyLocked("the key was wrapped for another agency key")
    try:
        dek = _SUITE.decrypt(blob[_HEAD_SIZE:], private, info=_info(head, agency_id, context))
    except InvalidTag:
        raise UnwrapError(
            "agency-wrapped key does not open: other agency id or document context, or altered"
        ) from None
    if len(dek) != DEK_SIZE:
        raise UnwrapError("agency-wrapped key does not hold a data key")
    return dek


class AgencyKeyStore:
    """Custodial agency key pairs: ``<directory>/<agency code>.pem`` (private, 0600, in 0700).

    An agency may take its private key over (``export`` then ``release``): the node's copy is
    deleted and ``<agency code>.released`` left in its place, so that the node can tell an
    agency that holds its key itself (``released``) from a key file that is missing (not yet
    restored from a backup: ``KeyUnavailable``).

    The private PEM is encrypted with ``passphrase`` when one is given (the node passphrase), as
    PKCS#8 (PBES2, PBKDF2-HMAC-SHA256 with the 2048 iterations ``cryptography`` uses: the
    passphrase has to be strong; the same holds for the node signing key).
    Public keys are derived from the private ones, so the two never disagree.
    """

    def __init__(self, directory: Path, passphrase: str | None = None) -> None:
        self.directory = directory
        self._passphrase = passphrase or None

    def __repr__(self) -> str:
        return f"AgencyKeyStore(directory={str(self.directory)!r})"

    def has(self, agency_id: str) -> bool:
        return self._path(agency_id).is_file()

    def create(self, agency_id: str) -> bytes:
        """Create the agency's key pair and return its public PEM.

        Raises ``FileExistsError`` if it has one: replacing a key would orphan every data key
        wrapped for it.
        """
        path = self._path(agency_id)
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.directory, 0o700)
        if path.exists():
            raise FileExistsError(f"agency {agency_id} already has a key pair")
        private_pem, public_pem = generate_agency_keypair(self._passphrase)
        try:
            create_exclusively(path, private_pem)  # never replaces an existing key
        except FileExistsError:
            raise FileExistsError(f"agency {agency_id} already has a key pair") from None
        return public_pem

    def released(self, agency_id: str) -> bool:
        """Whether the agency took its private key over (``release``) and holds none here."""
        return not self.has(agency_id) and self._marker(agency_id).is_file()

    def export(self, agency_id: str) -> bytes:
        """The private PEM to hand to the agency (encrypted with the store's passphrase, if it
        has one); ``KeyUnavailable`` if this node holds none."""
        return self.private_pem(agency_id)

    def release(self, agency_id: str) -> None:
        """Delete the node's copy of the agency's private key, for good: from now on only the
        agency reads what is wrapped for it. The marker is written first, so a crash leaves a
        released agency, never a missing key. ``KeyUnavailable`` if there is no key here."""
        path = self._path(agency_id)
        if not path.is_file():
            raise KeyUnavailable(f"no key pair for agency {agency_id} on this node")
        marker = self._marker(agency_id)
        if not marker.exists():
            create_exclusively(marker, b"released: the agency holds its private key\n")
        path.unlink()

    def _marker(self, agency_id: str) -> Path:
        return self._path(agency_id).with_suffix(".released")

    def private_pem(self, agency_id: str) -> bytes:
        """The stored private PEM (encrypted with the store's passphrase, if it has one)."""
        try:
            return self._path(agency_id).read_bytes()
        except FileNotFoundError:
            raise KeyUnavailable(f"no key pair for agency {agency_id} on this node") from None

    def public_pem(self, agency_id: str) -> bytes:
        return _public_pem(
            _load_private(self.private_pem(agency_id), self._passphrase).public_key()
        )

    def unwrap(self, agency_id: str, blob: bytes, context: bytes) -> bytes:
        """``unwrap_for_agency`` with this agency's custodial key."""
        return unwrap_for_agency(
            blob,
            self.private_pem(agency_id),
            agency_id=agency_id,
            context=context,
            passphrase=self._passphrase,
        )

    def _path(self, agency_id: str) -> Path:
        if not _AGENCY_ID.fullmatch(agency_id) or ".." in agency_id:
            raise ValueError(f"invalid agency code {agency_id!r}")
        return self.directory / f"{agency_id}.pem"


def _info(head: bytes, agency_id: str, context: bytes) -> bytes:
    agency = agency_id.encode("utf-8")
    return hashlib.sha256(
        _INFO_LABEL
        + head
        + len(agency).to_bytes(4, "big")
        + agency
        + len(context).to_bytes(4, "big")
        + context
    ).digest()


def _key_id(public: x25519.X25519PublicKey) -> bytes:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).digest()[:KEY_ID_SIZE]


def _public_pem(public: x25519.X25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _load_public(public_pem: bytes) -> x25519.X25519PublicKey:
    try:
        key = serialization.load_pem_public_key(public_pem)
    except ValueError as exc:
        raise ValueError("not a PEM public key") from exc
    if not isinstance(key, x25519.X25519PublicKey):
        raise ValueError("agency encryption keys are X25519")
    return key


def _load_private(private_pem: bytes, passphrase: str | None) -> x25519.X25519PrivateKey:
    try:
        key = serialization.load_pem_private_key(
            private_pem, password=passphrase.encode() if passphrase else None
        )
    except (ValueError, TypeError):
        raise KeyLocked(
            "agency private key cannot be loaded: wrong or missing passphrase"
        ) from None
    if not isinstance(key, x25519.X25519PrivateKey):
        raise KeyLocked("agency private key is not an X25519 key")
    return key
