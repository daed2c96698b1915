"""What an operator does to the node's keys, each an audit event written in the transaction of
the operation, and each through the key store that holds the key (never a file path):

- ``keys:signing_key:rotated``   a seal or personal key replaced (files or token), old
                                 certificate kept for earlier signatures;
- ``keys:certificate:requested`` a key made on the token and a PKCS#10 request for an outside CA;
- ``keys:certificate:installed`` that CA's certificate put on the token;
- ``keys:kek:rotated``           a new key-encryption key, the stored data keys rewrapped;
- ``keys:agency_key:exported``   an agency's custodial decryption key handed to the agency;
- ``keys:agency_key:removed``    the node's copy deleted: only the agency reads what is
                                 wrapped for it from now on.

The file or token operation runs inside the database transaction that records its event: if
it fails, no event is written; if writing the event fails, the command fails and says so.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from cryptography import x509
from cryptography.hazmat.primitives import hashes

from docex.audit import events
from docex.config import Settings
from docex.db import Database
from docex.documents.protection import rotate_data_keys
from docex.keys.directory import signing_subject
from docex.keys.enrolment import (
    install_signing_certificate,
    request_certificate,
    rotate_signing_key,
    token_required,
)
from docex.keys.node import kek_ring
from docex.signing.agency_keys import AgencyKeyStore


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def rotate_key(
    db: Database, settings: Settings, key_id: str, *, now: datetime, actor_id: str | None = None
) -> x509.Certificate:
    """A new key and certificate for ``key_id``; ``PkiError`` / ``KeyStoreError`` if not."""
    with db.write() as session:
        cert = rotate_signing_key(settings, key_id, now=now)
        events.record(
            session,
            events.SIGNING_KEY_ROTATED,
            at=now,
            actor_id=actor_id,
            key_id=key_id,
            serial=format(cert.serial_number, "x"),
            sha256=_fingerprint(cert),
        )
    return cert


def request_key_certificate(
    db: Database,
    settings: Settings,
    key_id: str,
    *,
    rotate: bool,
    now: datetime,
    actor_id: str | None = None,
) -> x509.CertificateSigningRequest:
    """A PKCS#10 request for ``key_id``'s key on the token (made there if it has none, or a
    new one with ``rotate``), its subject from the directory."""
    with token_required(settings, "a certificate request") as token, db.write() as session:
        code, subject = signing_subject(session, settings.node_id, key_id)
        csr = request_certificate(token, key_id, subject, rotate=rotate)
        events.record(
            session,
            events.CERTIFICATE_REQUESTED,
            at=now,
            actor_id=actor_id,
            agency_id=code,
            key_id=key_id,
            subject=csr.subject.rfc4514_string(),
            rotate=rotate,
        )
    return csr


def install_key_certificate(
    db: Database,
    settings: Settings,
    key_id: str,
    certificate: x509.Certificate,
    *,
    now: datetime,
    actor_id: str | None = None,
) -> int:
    """Put ``certificate`` on the token for ``key_id`` once it names the agency the key
    belongs to; returns the key's generation."""
    with token_required(settings, "installing a certificate") as token, db.write() as session:
        code, _ = signing_subject(session, settings.node_id, key_id)
        generation = install_signing_certificate(token, key_id, code, certificate)
        events.record(
            session,
            events.CERTIFICATE_INSTALLED,
            at=now,
            actor_id=actor_id,
            agency_id=code,
            key_id=key_id,
            generation=generation,
            serial=format(certificate.serial_number, "x"),
            sha256=_fingerprint(certificate),
            issuer=certificate.issuer.rfc4514_string(),
        )
    return generation


def rotate_kek(
    db: Database, settings: Settings, *, now: datetime, actor_id: str | None = None
) -> tuple[int, int]:
    """A new current KEK, then every stored data key rewrapped under it (blobs untouched;
    resumable: run again after a crash). Returns (version, data keys rewrapped)."""
    keks = kek_ring(settings)
    with db.write() as session:
        version = keks.rotate()
        events.record(session, events.KEK_ROTATED, at=now, actor_id=actor_id, version=version)
    return version, rotate_data_keys(db, keks)


def export_agency_key(
    db: Database,
    store: AgencyKeyStore,
    agency_id: str,
    deliver: Callable[[bytes], None],
    *,
    remove: bool,
    now: datetime,
    actor_id: str | None = None,
) -> None:
    """Hand the agency its private key (``deliver`` writes it where the agency gets it, and must
    have it safe when it returns), then with ``remove`` delete the node's copy. ``KeyUnavailable``
    if this node holds no key of the agency."""
    private_pem = store.export(agency_id)
    with db.write() as session:
        events.record(
            session, events.AGENCY_KEY_EXPORTED, at=now, actor_id=actor_id, agency_id=agency_id
        )
        deliver(private_pem)
    if remove:
        with db.write() as session:
            events.record(
                session, events.AGENCY_KEY_REMOVED, at=now, actor_id=actor_id, agency_id=agency_id
            )
            store.release(agency_id)
