"""The node signing key: ECDSA P-256, created once by ``docex init``, kept in the data directory
(where exactly: ``docex.keys.paths``).

Guarantees: the private key file is created with mode 0600 inside a 0700 directory, written
atomically (never half a key on disk), and encrypted with the node passphrase when one is
configured (PKCS#8, BestAvailableEncryption). The key never leaves this package: callers get a
``NodeSigner`` that can sign and publish the public half.
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from docex.kit.files import atomic_write, create_exclusively
from docex.signing.errors import KeyStoreError

__all__ = [
    "KeyStoreError",
    "create_node_key",
    "load_node_key",
    "load_private_key",
    "write_private_key",
]


def write_private_key(
    path: Path, key: ec.EllipticCurvePrivateKey, passphrase: str | None, *, exclusive: bool = False
) -> None:
    """Write ``key`` as PKCS#8 PEM, encrypted with ``passphrase`` when there is one (PBES2, the
    best ``cryptography`` offers), mode 0600, atomically; with ``exclusive``, never over an
    existing file (``FileExistsError``)."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )
    (create_exclusively if exclusive else atomic_write)(path, pem, 0o600)


def load_private_key(path: Path, passphrase: str | None) -> ec.EllipticCurvePrivateKey:
    """Load an EC key written by :func:`write_private_key`; :class:`KeyStoreError` if it is
    missing, cannot be decrypted or is not an EC key."""
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyStoreError(f"no private key at {path}") from exc
    try:
        key = serialization.load_pem_private_key(
            data, password=passphrase.encode() if passphrase else None
        )
    except (ValueError, TypeError) as exc:
        raise KeyStoreError(f"{path.name} cannot be loaded: wrong or missing passphrase") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyStoreError(f"{path.name} is not an EC key")
    return key


def create_node_key(path: Path, passphrase: str | None = None) -> bool:
    """Create the node key at ``path`` if there is none (its directory 0700). Returns True if a
    key was created."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path.parent, 0o700)
    try:
        write_private_key(path, ec.generate_private_key(ec.SECP256R1()), passphrase, exclusive=True)
    except FileExistsError:
        return False
    return True


def load_node_key(path: Path, passphrase: str | None = None) -> ec.EllipticCurvePrivateKey:
    if not path.exists():
        raise KeyStoreError(f"no node key at {path}; run `docex init` first")
    return load_private_key(path, passphrase)
