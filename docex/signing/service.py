"""The node's signature services: PAdES validation on intake (``validate``), the signing service
(``sign``, ``sign_with_key``), and, when the node hosts the demo PKI, its public OCSP responder,
CRLs and RFC 3161 time-stamping authority (``HostedPki``).

``NodeSignatures`` builds nothing: its trust roots, key store, time-stamper, revocation contexts,
hosted PKI and audit recorder are given, built once by ``docex.signing.wiring.build_signatures``
(called by ``create_app`` and by the CLI), so a node can use an outside RFC 3161 authority or a
PKCS#11 token by configuration, and a test can hand it what it needs.

Guarantees: validation runs in bounded worker processes (``sandbox.ValidatorPool``) against the
configured trust roots only, under the Decree 30 policy (signer and seal of the sending agency,
hard-fail revocation, nothing but DSS/timestamps after the last signature). A node that trusts
no root accepts no document. Signing uses only keys of the key store, B-LT (revocation data
embedded) when the node hosts the PKI, so a recipient validates without the network. The names
on a signature's stamp are the certificate's (its holder and organisation), whoever asks: the
API and the CLI stamp the same names for the same key. Every signed PDF is an audit event
(``signing:pdf:signed``), recorded before the document is handed back.

Neither path parses an uploaded PDF in this process. Validation runs whole in a worker. Signing
is split (``pades``: plan, prepare, complete): the worker parses the document and returns the
digest to sign; this process, which holds the keys, signs that digest and writes the CMS into
the placeholder, a seek and a write. Keys never enter a worker.

Errors: everything raised is a ``docex.signing.errors.SigningServiceError``.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import BinaryIO, Literal, Protocol

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.x509.oid import NameOID

from docex.signing.attribution import certificate_agency_code
from docex.signing.errors import SigningError
from docex.signing.keystore import KeyStore
from docex.signing.ocsp import OcspResponder, crl_bytes
from docex.signing.pades import (
    PreparedSignature,
    RevocationContexts,
    SignatureRequest,
    SigningRole,
    sign_pdf,
)
from docex.signing.pki import CRL_NAMES, Pki, person_key_id, seal_key_id
from docex.signing.sandbox import ValidatorPool
from docex.signing.timestamps import TimeStampAuthority, TimeStamper
from docex.signing.validation import (
    STRICT_DECREE_30,
    Indication,
    TrustConfig,
    ValidationReport,
)


@dataclass(frozen=True)
class ValidationLimits:
    workers: int = 2
    timeout_s: float = 20.0
    memory_bytes: int = 512 * 1024 * 1024


@dataclass(frozen=True)
class SignedPdf:
    """A PDF signed once more, and what its new signature says."""

    data: bytes
    key_id: str
    role: SigningRole
    signer_name: str
    """The name on the stamp: the holder of a personal certificate, the agency for a seal."""
    agency_name: str
    """The organisation on the stamp (the certificate's organizationName)."""
    agency_code: str | None
    """The agency the certificate speaks for (``docex.signing.attribution``)."""
    level: Literal["PAdES B-LT", "PAdES B-T"]
    certificate_sha256: str
    certificate_serial: str
    """The signing certificate's serial number, hexadecimal."""
    source_sha256: str
    """SHA-256 of the PDF as it was before this signature (what the signer was shown)."""

    @property
    def sha256(self) -> str:
        """SHA-256 of the signed PDF handed back."""
        return hashlib.sha256(self.data).hexdigest()


class SigningAudit(Protocol):
    """Where signing a PDF is recorded (``docex.audit.signing.DatabaseSigningAudit``)."""

    def pdf_signed(self, signed: SignedPdf, *, actor_id: str | None, at: datetime) -> None:
        """Record ``signed``; raising stops the signed PDF from being handed back."""
        ...


@dataclass(frozen=True)
class HostedPki:
    """The demo PKI this node hosts, and the public services it answers with."""

    pki: Pki
    authority: TimeStampAuthority
    responder: OcspResponder

    def ocsp(self, request_der: bytes) -> bytes:
        return self.responder.respond(request_der)

    def crl(self, name: str) -> bytes | None:
        return crl_bytes(self.pki, name) if name in CRL_NAMES else None

    def timestamp(self, request_der: bytes) -> bytes:
        return self.authority.respond(request_der)


def stamp_names(certificate: x509.Certificate, role: SigningRole) -> tuple[str, str]:
    """(signer name, agency name) for the stamp of a signature made with ``certificate``: the
    organisation, and the holder's whole name (surname and given names, since the commonName
    may be shortened) for a person, the organisation again for a seal."""

    def first(oid: x509.ObjectIdentifier) -> str:
        values = certificate.subject.get_attributes_for_oid(oid)
        value = values[0].value if values else ""
        return value if isinstance(value, str) else value.decode()

    agency = first(NameOID.ORGANIZATION_NAME) or first(NameOID.COMMON_NAME)
    if role == "seal":
        return agency, agency
    surname, given = first(NameOID.SURNAME), first(NameOID.GIVEN_NAME)
    if surname and given:
        person = surname if surname == given else f"{surname} {given}"
    else:
        person = first(NameOID.COMMON_NAME)
    return person, agency


def role_of_key(key_id: str) -> SigningRole:
    """``seal:<agency code>`` signs as the agency's seal, ``person:<username>`` as a signer."""
    if key_id.startswith("seal:"):
        return "seal"
    if key_id.startswith("person:"):
        return "signer"
    raise SigningError("unknown_key", "a signing key is seal:<agency code> or person:<username>")


class NodeSignatures:
    def __init__(
        self,
        *,
        trust: TrustConfig | None,
        key_store: KeyStore | None,
        timestamper: TimeStamper | None,
        revocation: RevocationContexts | None,
        hosted: HostedPki | None,
        audit: SigningAudit,
        limits: ValidationLimits = ValidationLimits(),
        pool: ValidatorPool | None = None,
        spool_dir: Path | None = None,
        on_validated: Callable[[float], object] | None = None,
    ) -> None:
        """``revocation``: B-LT validation contexts (None: B-T only). ``pool``: a validator pool
        to share, else one is forked on first use and closed with this object. ``spool_dir``:
        where a PDF being signed is written for the worker that prepares it (the system's
        temporary directory by default); removed as soon as it is signed. ``on_validated``:
        told the seconds each validation took (the node's metrics)."""
        self._on_validated = on_validated
        self.trust = trust
        self.key_store = key_store
        self.timestamper = timestamper
        self.hosted = hosted
        self.limits = limits
        self.spool_dir = spool_dir
        self._revocation = revocation
        self._audit = audit
        self._pool = pool
        self._own_pool = pool is None
        self._lock = threading.Lock()

    @property
    def pki(self) -> Pki | None:
        return self.hosted.pki if self.hosted is not None else None

    # -- validation ------------------------------------------------------------------------

    def validate(self, path: Path, *, sender_agency: str, now: datetime) -> ValidationReport:
        if self.trust is None:
            return ValidationReport(
                indication=Indication.UNTRUSTED_SIGNER,
                detail="this node trusts no certification authority "
                "(set DOCEX_SIGNATURES__TRUST_ROOTS)",
                detail_vi="nút chưa được cấu hình chứng thư số gốc tin cậy",
            )
        started = time.monotonic()
        try:
            return self._validators().validate(
                path,
                sender_agency=sender_agency,
                trust=self.trust,
                policy=STRICT_DECREE_30,
                now=now,
            )
        finally:
            if self._on_validated is not None:
                self._on_validated(time.monotonic() - started)

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
        role: SigningRole,
        agency_id: str,
        username: str | None,
        now: datetime,
        actor_id: str | None = None,
    ) -> SignedPdf:
        """One more PAdES signature for a principal: their own key (``signer``) or their
        agency's seal."""
        if role == "signer":
            if username is None:
                raise SigningError("unknown_key", "only a person signs as signer")
            key_id = person_key_id(username)
        else:
            key_id = seal_key_id(agency_id)
        return self.sign_with_key(source, key_id=key_id, now=now, actor_id=actor_id)

    def sign_with_key(
        self,
        source: BinaryIO,
        *,
        key_id: str,
        now: datetime,
        long_term: bool = True,
        actor_id: str | None = None,
    ) -> SignedPdf:
        """Sign with ``key_id`` of the key store: PAdES B-LT (revocation data embedded), or
        B-T when ``long_term`` is False or the node has no revocation contexts. The PDF is
        parsed in a bounded worker only (``resource_limit`` when it hits a limit)."""
        role = role_of_key(key_id)
        if self.key_store is None or self.timestamper is None:
            raise SigningError("unknown_key", "this node holds no signing keys")
        if not self.key_store.has(key_id):
            raise SigningError("unknown_key", f"no {role} key {key_id!r} on this node")
        certificate = self.key_store.certificate(key_id)
        signer_name, agency_name = stamp_names(certificate, role)
        source_sha256 = _sha256_of(source)
        pool = self._validators()

        def prepare_in_worker(
            source: BinaryIO, output: BinaryIO, request: SignatureRequest
        ) -> PreparedSignature:
            return pool.prepare_signature(source, output, request, spool_dir=self.spool_dir)

        context = self._revocation.current() if long_term and self._revocation else None
        data = sign_pdf(
            source,
            key_store=self.key_store,
            key_id=key_id,
            role=role,
            timestamper=self.timestamper,
            validation_context=context,
            signer_name=signer_name,
            agency_name=agency_name,
            now=now,
            preparer=prepare_in_worker,
        )
        signed = SignedPdf(
            data=data,
            key_id=key_id,
            role=role,
            signer_name=signer_name,
            agency_name=agency_name,
            agency_code=certificate_agency_code(certificate),
            level="PAdES B-LT" if context is not None else "PAdES B-T",
            certificate_sha256=certificate.fingerprint(hashes.SHA256()).hex(),
            certificate_serial=format(certificate.serial_number, "x"),
            source_sha256=source_sha256,
        )
        self._audit.pdf_signed(signed, actor_id=actor_id, at=now)
        return signed

    # -- public PKI services (demo PKI only) -----------------------------------------------

    def ocsp(self, request_der: bytes) -> bytes | None:
        return self.hosted.ocsp(request_der) if self.hosted else None

    def crl(self, name: str) -> bytes | None:
        return self.hosted.crl(name) if self.hosted else None

    def timestamp(self, request_der: bytes) -> bytes | None:
        return self.hosted.timestamp(request_der) if self.hosted else None

    def close(self) -> None:
        with self._lock:
            if self._pool is not None and self._own_pool:
                self._pool.close()
            self._pool = None
            if self.key_store is not None:
                self.key_store.close()


def _sha256_of(source: BinaryIO) -> str:
    """SHA-256 of a seekable stream, read from where it stands; the stream is put back there."""
    start = source.tell()
    digest = hashlib.sha256()
    for chunk in iter(lambda: source.read(1 << 20), b""):
        digest.update(chunk)
    source.seek(start)
    return digest.hexdigest()
