"""Where every key of a node lives on disk: the one place that spells these paths.

Layout, under the node's data directory::

    keys/                          0700
      node-signing-key.pem         the node's receipt-signing key (ECDSA P-256, PKCS#8, 0600)
      witness-key.pem              the node's witness key (Ed25519): it cosigns peers' audit
                                   checkpoints (docex.federation.witnessing)
      kek/v0001.key ...            the key-encryption keys (docex.signing.keks)
      agencies/<code>.pem          custodial agency decryption keys (docex.signing.agency_keys);
      agencies/<code>.released     an agency that took its key over
    pki/                           the node's PKI (docex.signing.pki owns the inside: CAs, TSA,
                                   OCSP, seals, personal keys; pki.json is its index)
      certs/chain.pem              issuing CA + root: the chain of keys kept on a PKCS#11 token
      certs/node.pem               the receipt key's certificate chain (x5c)

With ``DOCEX_SIGNING__KEY_STORE=pkcs11`` the node key, the seals and the personal keys are on the
token instead; the KEKs and the agencies' decryption keys stay files here.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Final

from docex.config import Settings
from docex.signing.pki import INDEX_FILE, NODE_CERT_FILE

NODE_KEY_FILE: Final = "node-signing-key.pem"
WITNESS_KEY_FILE: Final = "witness-key.pem"
KEK_DIR: Final = "kek"
AGENCY_KEYS_DIR: Final = "agencies"
PKI_DIR: Final = "pki"


@dataclass(frozen=True)
class KeyPaths:
    """The key files and directories of one node (nothing is created by building this)."""

    keys_dir: Path
    pki_dir: Path

    @classmethod
    def of(cls, settings: Settings) -> KeyPaths:
        return cls(keys_dir=settings.keys_dir, pki_dir=settings.data_dir / PKI_DIR)

    @property
    def node_key(self) -> Path:
        return self.keys_dir / NODE_KEY_FILE

    @property
    def witness_key(self) -> Path:
        return self.keys_dir / WITNESS_KEY_FILE

    @property
    def kek_dir(self) -> Path:
        return self.keys_dir / KEK_DIR

    @property
    def agency_keys_dir(self) -> Path:
        return self.keys_dir / AGENCY_KEYS_DIR

    @property
    def pki_index(self) -> Path:
        """Present once the node has a PKI of its own (``docex pki init``, ``--demo``)."""
        return self.pki_dir / INDEX_FILE

    @property
    def ca_chain(self) -> Path:
        return self.pki_dir / "certs" / "chain.pem"

    @property
    def node_certificate(self) -> Path:
        return self.pki_dir / "certs" / NODE_CERT_FILE
