"""``pki.json``, the PKI's index (certificates by serial and key id, revocations, CRL numbers,
agency names), and the files it points to: PEM certificates, PKCS#8 keys, DER CRLs."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from cryptography import x509

from docex.signing import keys
from docex.signing.errors import PkiError
from docex.signing.keys import KeyStoreError
from docex.signing.pki.profiles import _REASONS, INDEX_FILE, INDEX_VERSION, CaName, PrivateKey, Role


@dataclass(frozen=True)
class CertRecord:
    """One certificate the PKI issued, as listed in ``pki.json``."""

    serial: int
    role: Role
    key_id: str
    """``seal:<code>``, ``person:<username>``, ``ca:root``, ``ca:issuing``, ``tsa`` or ``ocsp``."""
    issuer: CaName | None
    """The CA that signed it; ``None`` for the self-signed root."""
    cert: str
    """Path of the PEM certificate, relative to the PKI directory."""
    key: str
    """Path of the PKCS#8 private key, relative to the PKI directory; empty when the key is
    held elsewhere (a PKCS#11 token) and only its public half was certified here."""
    subject: str
    """RFC 4514 string of the subject, for people and logs."""
    not_before: datetime
    not_after: datetime
    superseded_at: datetime | None = None
    """Set when a newer key replaced this one; the certificate is kept for verification."""

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": format(self.serial, "x"),
            "role": self.role,
            "key_id": self.key_id,
            "issuer": self.issuer,
            "cert": self.cert,
            "key": self.key,
            "subject": self.subject,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "superseded_at": self.superseded_at.isoformat() if self.superseded_at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CertRecord:
        superseded = data.get("superseded_at")
        return cls(
            serial=int(data["serial"], 16),
            role=data["role"],
            key_id=data["key_id"],
            issuer=data["issuer"],
            cert=data["cert"],
            key=data["key"],
            subject=data["subject"],
            not_before=datetime.fromisoformat(data["not_before"]),
            not_after=datetime.fromisoformat(data["not_after"]),
            superseded_at=datetime.fromisoformat(superseded) if superseded else None,
        )


@dataclass(frozen=True)
class Revocation:
    """A revoked certificate: what the CRL and the OCSP responder report."""

    serial: int
    reason: x509.ReasonFlags
    revoked_at: datetime
    issuer: CaName


@dataclass(frozen=True)
class PkiLayout:
    """Where :func:`build_pki` put things (all paths absolute)."""

    directory: Path
    index: Path
    base_url: str
    root_cert: Path
    issuing_cert: Path
    chain: Path
    tsa_cert: Path
    ocsp_cert: Path
    crls: Mapping[str, Path]
    """``root`` and ``issuing`` → DER CRL file."""
    certificates: Mapping[str, Path]
    """Current certificate of each signing key id (``seal:…``, ``person:…``)."""
    encrypted: bool


@dataclass(frozen=True)
class _Index:
    base_url: str
    encrypted: bool
    records: tuple[CertRecord, ...]
    revocations: tuple[Revocation, ...]
    crl_numbers: Mapping[str, int]
    agencies: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": INDEX_VERSION,
            "base_url": self.base_url,
            "encrypted": self.encrypted,
            "agencies": dict(self.agencies),
            "certificates": [r.to_json() for r in self.records],
            "revocations": [
                {
                    "serial": format(r.serial, "x"),
                    "reason": r.reason.name,
                    "revoked_at": r.revoked_at.isoformat(),
                    "issuer": r.issuer,
                }
                for r in self.revocations
            ],
            "crl_numbers": dict(self.crl_numbers),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Index:
        if data.get("version") != INDEX_VERSION:
            raise PkiError(f"unsupported {INDEX_FILE} version {data.get('version')!r}")
        return cls(
            base_url=data["base_url"],
            encrypted=bool(data["encrypted"]),
            records=tuple(CertRecord.from_json(r) for r in data["certificates"]),
            revocations=tuple(
                Revocation(
                    serial=int(r["serial"], 16),
                    reason=_REASONS[r["reason"]],
                    revoked_at=datetime.fromisoformat(r["revoked_at"]),
                    issuer=r["issuer"],
                )
                for r in data["revocations"]
            ),
            crl_numbers={str(k): int(v) for k, v in data["crl_numbers"].items()},
            agencies={str(k): str(v) for k, v in data.get("agencies", {}).items()},
        )


# -- files -----------------------------------------------------------------------------------


def _ensure_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def load_private_key(path: Path, passphrase: str | None) -> PrivateKey:
    """Load a PKCS#8 key written by this module; :class:`PkiError` if it cannot be decrypted."""
    try:
        return keys.load_private_key(path, passphrase)
    except KeyStoreError as exc:
        raise PkiError(str(exc)) from exc


def load_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError as exc:
        raise PkiError(f"no certificate at {path}") from exc


def _read_crl(path: Path) -> x509.CertificateRevocationList | None:
    try:
        return x509.load_der_x509_crl(path.read_bytes())
    except FileNotFoundError:
        return None
