"""The node's own key stores, opened from the paths of ``docex.keys.paths``: the receipt-signing
key (a file or on the PKCS#11 token), the token itself, the KEK ring and the agencies' custodial
keys. ``create_app``, ``docex init`` and the ``docex`` commands open them here, nowhere else.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from docex.config import Settings
from docex.keys.paths import KeyPaths
from docex.kit.files import create_exclusively
from docex.signing.agency_keys import AgencyKeyStore
from docex.signing.errors import KeyStoreError
from docex.signing.jws import EcdsaKey, NodeSigner
from docex.signing.keks import KekRing
from docex.signing.keys import create_node_key, load_node_key

if TYPE_CHECKING:
    from docex.signing.hsm import Pkcs11KeyStore


def open_token(settings: Settings) -> Pkcs11KeyStore | None:
    """The node's PKCS#11 key store when ``DOCEX_SIGNING__KEY_STORE=pkcs11``, else None."""
    signing = settings.signing
    if signing.key_store != "pkcs11":
        return None
    from docex.signing.hsm import Pkcs11KeyStore

    module, label, pin = signing.pkcs11_module, signing.pkcs11_token, signing.pkcs11_pin
    if module is None or label is None or pin is None:
        raise ValueError("key_store 'pkcs11' needs a module, a token label and a PIN")
    chain_file = KeyPaths.of(settings).ca_chain
    chain = x509.load_pem_x509_certificates(chain_file.read_bytes()) if chain_file.exists() else []
    return Pkcs11KeyStore(module, label, pin.get_secret_value(), chain=chain)


def node_key(
    settings: Settings, token: Pkcs11KeyStore | None
) -> EcdsaKey | ec.EllipticCurvePrivateKey:
    """The node's receipt-signing key: on the token, or the file made by ``docex init``."""
    if token is not None:
        return token.node_key()
    return load_node_key(KeyPaths.of(settings).node_key, settings.passphrase)


def has_node_key_file(settings: Settings) -> bool:
    return KeyPaths.of(settings).node_key.exists()


def ensure_node_key(settings: Settings) -> bool:
    """Create the node's receipt key if it has none (on the token or as a file); True if it
    was created."""
    token = open_token(settings)
    if token is None:
        return create_node_key(KeyPaths.of(settings).node_key, settings.passphrase)
    try:
        created = not token.has_node_key()
        token.node_key()
        return created
    finally:
        token.close()


def node_signer(settings: Settings, key: EcdsaKey | ec.EllipticCurvePrivateKey) -> NodeSigner:
    """What signs the node's receipts (JWS) with ``key`` (:func:`node_key`), with the key's
    certificate chain once the node's PKI has certified it (``x5c``)."""
    chain_file = KeyPaths.of(settings).node_certificate
    chain = x509.load_pem_x509_certificates(chain_file.read_bytes()) if chain_file.exists() else []
    return NodeSigner(key, settings.node_id, chain=chain)


def kek_ring(settings: Settings) -> KekRing:
    """The node's key-encryption keys (``keys/kek/``)."""
    return KekRing(KeyPaths.of(settings).kek_dir, settings.passphrase)


def agency_key_store(settings: Settings) -> AgencyKeyStore:
    """The custodial decryption keys of the agencies hosted here (``keys/agencies/``)."""
    return AgencyKeyStore(KeyPaths.of(settings).agency_keys_dir, settings.passphrase)


def witness_key(settings: Settings) -> ed25519.Ed25519PrivateKey:
    """The node's witness key (Ed25519, c2sp.org/tlog-cosignature: it cosigns its peers' audit
    checkpoints), created on first use beside the node key, encrypted with the node
    passphrase like it; KeyStoreError if it cannot be read."""
    path = KeyPaths.of(settings).witness_key
    secret = settings.passphrase
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        encryption: serialization.KeySerializationEncryption = (
            serialization.BestAvailableEncryption(secret.encode())
            if secret
            else serialization.NoEncryption()
        )
        pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
        )
        # Another process of this node may make it first: then use that one.
        with contextlib.suppress(FileExistsError):
            create_exclusively(path, pem, 0o600)
    try:
        key = serialization.load_pem_private_key(
            path.read_bytes(), password=secret.encode() if secret else None
        )
    except (OSError, ValueError, TypeError) as exc:
        raise KeyStoreError(f"{path.name} cannot be loaded: {exc}") from exc
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise KeyStoreError(f"{path.name} is not an Ed25519 key")
    return key
