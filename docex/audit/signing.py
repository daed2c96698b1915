"""Signing a PDF is an audit event (``signing:pdf:signed``): ``docex.signing.service`` records
each signature through this recorder, in a transaction of its own (signing changes nothing else
in the database), before the signed document is handed back to the caller."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from docex.audit import events
from docex.db import Database

if TYPE_CHECKING:
    from docex.signing.service import SignedPdf


class DatabaseSigningAudit:
    """``docex.signing.service.SigningAudit`` on the node's database."""

    def __init__(self, db: Database) -> None:
        self._db = db

    def pdf_signed(self, signed: SignedPdf, *, actor_id: str | None, at: datetime) -> None:
        with self._db.write() as session:
            events.record(
                session,
                events.PDF_SIGNED,
                at=at,
                actor_id=actor_id,
                agency_id=signed.agency_code,
                key_id=signed.key_id,
                role=signed.role,
                level=signed.level,
                certificate_sha256=signed.certificate_sha256,
                certificate_serial=signed.certificate_serial,
                signer_name=signed.signer_name,
                sha256_in=signed.source_sha256,
                sha256_out=signed.sha256,
                size=len(signed.data),
            )
