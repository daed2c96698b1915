"""Signing a PDF with a key the node holds, for a person (``as=signer``, their custodial
personal key) or their agency (``as=seal``): the one function behind ``POST /api/v1/pdf/sign``.

Who may sign as what is the access policy's (``auth.policy``); the names on the visible stamp
come from the node's directory (the agency's name, the person's full name), whichever face asks.
Every signature made is an audit event (``signing:pdf:signed``: key id, certificate serial, the
SHA-256 of what was signed and of the result), written before the signed PDF is handed back: a
signature the log does not know of never leaves the node. Failures are the node's error codes:
404 ``unknown_key``, 415 ``not_a_pdf``, 503 ``key_unavailable`` / ``timestamp_unavailable``,
422 for a PDF that cannot be signed (``invalid_pdf``, ``encrypted_pdf``, ``locked_pdf``,
``resource_limit``).
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from pathlib import Path
from typing import Final, Literal

from docex.agencies.service import get_agency
from docex.audit import events
from docex.auth.policy import Action, Actor, acting_agency, authorize
from docex.auth.service import full_name_of
from docex.db import Database
from docex.errors import (
    KeyUnavailable,
    NotFound,
    ServiceUnavailable,
    Unprocessable,
    UnsupportedMedia,
)
from docex.signing.keys import KeyStoreError
from docex.signing.pades import SigningError
from docex.signing.pki import person_key_id, seal_key_id
from docex.signing.service import NodeSignatures

Role = Literal["signer", "seal"]
ROLE_ACTIONS: Final = {"signer": Action.SIGN_AS_SIGNER, "seal": Action.SEAL}


def sign_pdf(
    db: Database,
    signatures: NodeSignatures,
    actor: Actor,
    source: Path,
    *,
    role: Role,
    now: datetime,
) -> bytes:
    """``source`` signed once more by ``actor`` (``signer``) or their agency's seal (``seal``)."""
    authorize(actor, ROLE_ACTIONS[role])
    agency_id = acting_agency(actor)
    if role == "signer":
        if actor.username is None:
            raise NotFound("only a person signs as signer", code="unknown_key")
        key_id = person_key_id(actor.username)
    else:
        key_id = seal_key_id(agency_id)
    with db.read() as session:
        agency_name = get_agency(session, agency_id).name
        signer_name = full_name_of(session, actor.id)
    return sign_with_key(
        db,
        signatures,
        source,
        key_id=key_id,
        role=role,
        signer_name=signer_name,
        agency_name=agency_name,
        now=now,
        actor_id=actor.id,
        agency_id=agency_id,
    )


def sign_with_key(
    db: Database,
    signatures: NodeSignatures,
    source: Path,
    *,
    key_id: str,
    role: Role,
    signer_name: str,
    agency_name: str,
    now: datetime,
    actor_id: str | None = None,
    agency_id: str | None = None,
    long_term: bool = True,
) -> bytes:
    """``source`` signed with ``key_id`` of the node's key store (PAdES B-LT, or B-T without
    ``long_term``), audited before it is returned; what ``docex pdf sign`` runs as well."""
    with source.open("rb") as stream:
        sha256_in = hashlib.file_digest(stream, "sha256").hexdigest()
    try:
        with source.open("rb") as stream:
            signed = signatures.sign_with_key(
                stream,
                key_id=key_id,
                role=role,
                signer_name=signer_name,
                agency_name=agency_name,
                now=now,
                long_term=long_term,
            )
    except SigningError as exc:
        raise _refusal(exc) from exc
    serial = _serial(signatures, key_id)
    with db.write() as session:
        events.record(
            session,
            events.PDF_SIGNED,
            at=now,
            actor_id=actor_id,
            agency_id=agency_id,
            key_id=key_id,
            role=role,
            certificate_serial=serial,
            sha256_in=sha256_in,
            sha256_out=hashlib.sha256(signed).hexdigest(),
            size=len(signed),
        )
    return signed


def _serial(signatures: NodeSignatures, key_id: str) -> str | None:
    """The serial of the certificate ``key_id`` signs with, for the log (None if the store
    cannot say: the signature is made, its event still written)."""
    store = signatures.key_store
    try:
        return format(store.certificate(key_id).serial_number, "x") if store else None
    except KeyStoreError:
        return None


def _refusal(exc: SigningError) -> Exception:
    match exc.code:
        case "unknown_key":
            return NotFound(exc.detail, code=exc.code)
        case "not_a_pdf":
            return UnsupportedMedia(exc.detail, code=exc.code)
        case "key_unavailable":
            return KeyUnavailable(exc.detail)
        case "timestamp_unavailable":
            return ServiceUnavailable(exc.detail, code=exc.code)
        case _:
            return Unprocessable(exc.detail, code=exc.code)
