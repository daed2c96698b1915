"""The node's signature services, built once by ``create_app``: PAdES validation on intake
(``validate``), the signing service (``sign``), and, when the node hosts the demo PKI, its
public OCSP responder, CRLs and RFC 3161 time-stamping authority.

Guarantees: validation runs in bounded worker processes (``sandbox.ValidatorPool``) against the
configured trust roots only, under the Decree 30 policy (signer and seal of the sending agency,
hard-fail revocation, nothing but DSS/timestamps after the last signature). A node that trusts
no root accepts no document. Signing uses only keys of the key store, B-LT (revocation data
embedded) when the node hosts the PKI, so a recipient validates without the network.

Neither path parses an uploaded PDF in this process. Validation runs whole in a worker. Signing
is split (``pades``: plan, prepare, complete): the worker parses the document and returns the
digest to sign; this process, which holds the keys, signs that digest and writes the CMS into
the placeholder, a seek and a write. Keys never enter a worker.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Literal

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from docex.signing.keys import KeyStoreError
from docex.signing.keystore import FileKeyStore, KeyStore
from docex.signing.ocsp import OcspResponder, crl_bytes
from docex.signing.pades import (
    PreparedSignature,
    RevocationContexts,
    SignatureRequest,
    SigningError,
    sign_pdf,
)
from docex.signing.pki import Pki, person_key_id, seal_key_id
from docex.signing.sandbox import ValidatorPool
from docex.signing.timestamps import InProcessTimeStamper, TimeStampAuthority, authority_from_pki
from docex.signing.validation import (
    STRICT_DECREE_30,
    Indication,
    TrustConfig,
    ValidationReport,
)

PKI_DIR = "pki"


class NoTrustRoots(RuntimeError):
    """The node trusts no certification authority, so no signature can be valid."""


@dataclass(frozen=True)
class ValidationLimits:
    workers: int = 2
    timeout_s: float = 20.0
    memory_bytes: int = 512 * 1024 * 1024


class NodeSignatures:
    def __init__(
        self,
        data_dir: Path,
        *,
        passphrase: str | None,
        key_store: KeyStore | None = None,
        trust_roots: Sequence[Path] = (),
        limits: ValidationLimits = ValidationLimits(),
        pool: ValidatorPool | None = None,
        spool_dir: Path | None = None,
    ) -> None:
        """``spool_dir``: where a PDF being signed is written for the worker that prepares it
        (the system's temporary directory by default); removed as soon as it is signed."""
        pki_dir = data_dir / PKI_DIR
        self.pki: Pki | None = (
            Pki.open(pki_dir, passphrase) if (pki_dir / "pki.json").exists() else None
        )
        roots = [_der(path.read_bytes()) for path in trust_roots]
        if self.pki is not None:
            roots.append(self.pki.root_certificate.public_bytes(serialization.Encoding.DER))
        self.trust: TrustConfig | None = TrustConfig(roots=tuple(roots)) if roots else None
        self.limits = limits
        self.spool_dir = spool_dir
        self._pool = pool
        self._own_pool = pool is None
        self._lock = threading.Lock()
        # Signing keys: the given store (a PKCS#11 token), else the PKI directory's files.
        self.key_store: KeyStore | None = key_store
        if key_store is None and self.pki is not None:
            self.key_store = FileKeyStore(pki_dir, passphrase)
        self._contexts = RevocationContexts(self.pki) if self.pki else None
        self._tsa: TimeStampAuthority | None = authority_from_pki(self.pki) if self.pki else None
        self._ocsp = OcspResponder(self.pki) if self.pki else None

    # -- validation ------------------------------------------------------------------------

    def validate(self, path: Path, *, sender_agency: str, now: datetime) -> ValidationReport:
        if self.trust is None:
            return ValidationReport(
                indication=Indication.UNTRUSTED_SIGNER,
                detail="this node trusts no certification authority "
                "(set DOCEX_SIGNATURES__TRUST_ROOTS)",
                detail_vi="nút chưa được cấu hình chứng thư số gốc tin cậy",
            )
        return self._validators().validate(
            path, sender_agency=sender_agency, trust=self.trust, policy=STRICT_DECREE_30, now=now
        )

    def _validators(self) -> ValidatorPool:
        with self._lock:
            if self._pool is None:  # forked on first use: a node that never validates pays nothing
                self._pool = ValidatorPool(
                    self.limits.workers,
                    timeout_s=self.limits.timeout_s,
                    memory_bytes=self.limits.memory_bytes,
                )
            return self._pool

    # -- signing service -------------------------------------------------------------------

    def sign(
        self,
        source: BinaryIO,
        *,
        role: Literal["signer", "seal"],
        agency_id: str,
        username: str | None,
        signer_name: str,
        agency_name: str,
        now: datetime,
    ) -> bytes:
        """One more PAdES signature: the person's own key (``signer``) or the agency seal."""
        if role == "signer":
            if username is None:
                raise SigningError("unknown_key", "only a person signs as signer")
            key_id = person_key_id(username)
        else:
            key_id = seal_key_id(agency_id)
        return self.sign_with_key(
            source,
            key_id=key_id,
            role=role,
            signer_name=signer_name,
            agency_name=agency_name,
            now=now,
        )

    def sign_with_key(
        self,
        source: BinaryIO,
        *,
        key_id: str,
        role: Literal["signer", "seal"],
        signer_name: str,
        agency_name: str,
        now: datetime,
        long_term: bool = True,
    ) -> bytes:
        """Sign with ``key_id`` of the key store: PAdES B-LT (revocation data embedded), or
        B-T when ``long_term`` is False. The PDF is parsed in a bounded worker only
        (``resource_limit`` when it hits a limit). Raises ``SigningError``."""
        if self.key_store is None or self._tsa is None or self._contexts is None:
            raise SigningError("unknown_key", "this node holds no signing keys")
        try:
            known = self.key_store.has(key_id)
        except KeyStoreError as exc:
            raise SigningError("key_unavailable", str(exc)) from exc
        if not known:
            raise SigningError("unknown_key", f"no {role} key {key_id!r} on this node")
        pool = self._validators()

        def prepare_in_worker(
            source: BinaryIO, output: BinaryIO, request: SignatureRequest
        ) -> PreparedSignature:
            return pool.prepare_signature(source, output, request, spool_dir=self.spool_dir)

        return sign_pdf(
            source,
            key_store=self.key_store,
            key_id=key_id,
            role=role,
            timestamper=InProcessTimeStamper(self._tsa),
            validation_context=self._contexts.current() if long_term else None,
            signer_name=signer_name,
            agency_name=agency_name,
            now=now,
            preparer=prepare_in_worker,
        )

    # -- public PKI services (demo PKI only) -----------------------------------------------

    def ocsp(self, request_der: bytes) -> bytes | None:
        return self._ocsp.respond(request_der) if self._ocsp else None

    def crl(self, name: str) -> bytes | None:
        if self.pki is None or name not in ("root", "issuing"):
            return None
        return crl_bytes(self.pki, name)

    def timestamp(self, request_der: bytes) -> bytes | None:
        return self._tsa.respond(request_der) if self._tsa else None

    def close(self) -> None:
        with self._lock:
            if self._pool is not None and self._own_pool:
                self._pool.close()
            self._pool = None
            if self.key_store is not None:
                self.key_store.close()


def _der(data: bytes) -> bytes:
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    return data
