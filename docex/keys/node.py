"""The node's own key stores, opened from the paths of ``docex.keys.paths``: the receipt-signing
key (a file or on the PKCS#11 token), the token itself, the KEK ring and the agencies' custodial
keys. ``create_app``, ``docex init`` and the ``docex`` commands open them here, nowhere else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from docex.config import Settings
from docex.keys.paths import KeyPaths
from docex.signing.agency_keys import AgencyKeyStore
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
