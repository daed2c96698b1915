"""The node signing key: ECDSA P-256, created once by ``docex init``, kept in the data directory.

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

NODE_KEY_FILE = "node-signing-key.pem"


class KeyStoreError(RuntimeError):
    pass


def _encryption(passphrase: str | None) -> serialization.KeySerializationEncryption:
    if passphrase:
        return serialization.BestAvailableEncryption(passphrase.encode())
    return serialization.NoEncryption()


def create_node_key(keys_dir: Path, passphrase: str | None = None) -> bool:
    """Create the node key if there is none. Returns True if a key was created."""
    keys_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(keys_dir, 0o700)
    path = keys_dir / NODE_KEY_FILE
    if path.exists():
        return False
    key = ec.generate_private_key(ec.SECP256R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, _encryption(passphrase)
    )
    tmp = keys_dir / f".{NODE_KEY_FILE}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(pem)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)
    return True


def load_node_key(keys_dir: Path, passphrase: str | None = None) -> ec.EllipticCurvePrivateKey:
    path = keys_dir / NODE_KEY_FILE
    try:
        data = path.read_bytes()
    except FileNotFoundError as exc:
        raise KeyStoreError(f"no node key at {path}; run `docex init` first") from exc
    try:
        key = serialization.load_pem_private_key(
            data, password=passphrase.encode() if passphrase else None
        )
    except (ValueError, TypeError) as exc:
        raise KeyStoreError("node key cannot be loaded: wrong or missing passphrase") from exc
    if not isinstance(key, ec.EllipticCurvePrivateKey):
        raise KeyStoreError("node key is not an EC key")
    return key
