"""Receiving a transfer (``POST /federation/v1/transfers``): verify, spool, dedup, hand it to
its kind, answer with a signed transport receipt.

The checks, in this order, each a precise 4xx with nothing stored and a
``federation:transfer:refused`` event (the code, the claimed peer, the transfer id):

1. the RFC 9421 signature is there and parses (401 ``federation_signature_missing`` /
   ``federation_signature_invalid``);
2. its ``keyid`` is a node of the directory (403 ``federation_unknown_node``);
3. its ``created`` is within ``max_clock_skew_seconds`` of this node's clock, and its
   ``expires``, if any, not past (401 ``federation_signature_stale``);
4. it verifies with that node's key over the request as it reached this node's URL for the
   endpoint (the directory's ``base_url`` of this node; the request's own URL if the directory
   does not list it), covering every component the protocol requires
   (401 ``federation_signature_invalid``);
5. the body, streamed to the spool (bounded: 413 ``federation_transfer_too_large``,
   ``federation_manifest_too_large``, ``federation_too_many_parts``) while hashed, matches the
   signed ``Content-Digest`` (400 ``federation_digest_mismatch``) and is a well-formed transfer
   body (400 ``federation_malformed_body``);
6. its kind is one this node accepts (400 ``federation_unknown_kind``);
7. a transfer id already accepted: with another digest (or from another node, or of another
   kind) 409 ``federation_transfer_conflict``; the same: 200 with the original receipt,
   nothing stored again.

Then ``Kind.prepare`` (outside any transaction) and, in one transaction, ``Kind.commit``, the
``InboundTransfer`` row and the ``federation:transfer:received`` event. The unique transfer id
decides between two identical transfers arriving at once: the loser's transaction is rolled
back and it answers the winner's receipt.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import hmac
import logging
import os
import tempfile
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import anyio.to_thread
from python_multipart.multipart import MultipartParser, parse_options_header
from sqlalchemy.exc import IntegrityError

from docex.audit import events
from docex.config import Settings
from docex.db import Database
from docex.errors import (
    BadRequest,
    Conflict,
    DocexError,
    Forbidden,
    PayloadTooLarge,
    PeerUnauthenticated,
    StorageFull,
)
from docex.federation import peers, wire
from docex.federation.kinds import MANIFEST_PART, Inbound
from docex.federation.models import InboundTransfer
from docex.federation.registry import KindRegistry
from docex.kit.clock import Clock, rfc3339
from docex.kit.faults import TRANSFER_RECEIVED_BEFORE_COMMIT, crash_point
from docex.signing.jws import NodeSigner
from docex.storage.base import NO_SPACE_ERRNOS

log = logging.getLogger(__name__)
SPOOL_PREFIX = "upload-transfer-"  # swept like intake's spool files after a crash

SIGNATURE_MISSING = "federation_signature_missing"
SIGNATURE_INVALID = "federation_signature_invalid"
SIGNATURE_STALE = "federation_signature_stale"
UNKNOWN_NODE = "federation_unknown_node"
MALFORMED_REQUEST = "federation_malformed_request"
DIGEST_MISMATCH = "federation_digest_mismatch"
MALFORMED_BODY = "federation_malformed_body"
TOO_LARGE = "federation_transfer_too_large"
MANIFEST_TOO_LARGE = "federation_manifest_too_large"
TOO_MANY_PARTS = "federation_too_many_parts"
UNKNOWN_KIND = "federation_unknown_kind"
CONFLICT = "federation_transfer_conflict"


@dataclass(frozen=True)
class Verified:
    """A request whose signature checked out: its signed values."""

    from_node: str
    transfer_id: str
    kind: str
    digest: str  # the Content-Digest field as signed
    sha256: bytes  # its sha-256 member
    boundary: str


@dataclass(frozen=True)
class Answer:
    status: int  # 201 accepted now, 200 accepted before (a replay)
    transfer_id: str
    receipt: str


@dataclass
class _Spooled:
    manifest: bytes = b""
    files: dict[str, Path] = field(default_factory=dict)
    hashes: dict[str, str] = field(default_factory=dict)
    handles: list[BinaryIO] = field(default_factory=list)

    def discard(self) -> None:
        for path in self.files.values():
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
        for handle in self.handles:
            handle.close()
        self.handles.clear()


class _Malformed(Exception):
    pass


class _Parts:
    """python-multipart callbacks: the manifest capped in memory, every other part streamed
    into a locked spool file while hashed; limits raise at once (413)."""

    def __init__(self, spool_dir: Path, *, max_manifest: int, max_parts: int) -> None:
        self.spool_dir = spool_dir
        self.max_manifest, self.max_parts = max_manifest, max_parts
        self.spooled = _Spooled()
        self.names: list[str] = []
        self._headers: dict[str, str] = {}
        self._field = self._value = b""
        self._manifest = bytearray()
        self._file: BinaryIO | None = None
        self._hash: hashlib._Hash | None = None
        self.ended = 0

    def callbacks(self) -> dict[str, object]:
        return {
            "on_part_begin": self.part_begin,
            "on_header_field": self.header_field,
            "on_header_value": self.header_value,
            "on_header_end": self.header_end,
            "on_headers_finished": self.headers_finished,
            "on_part_data": self.part_data,
            "on_part_end": self.part_end,
        }

    def part_begin(self) -> None:
        self._headers = {}

    def header_field(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def header_value(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def header_end(self) -> None:
        self._headers[self._field.decode("latin-1").lower()] = self._value.decode("latin-1")
        self._field = self._value = b""

    def headers_finished(self) -> None:
        disposition, params = parse_options_header(self._headers.get("content-disposition", ""))
        name = params.get(b"name", b"").decode("latin-1")
        if disposition != b"attachment" or not name:
            raise _Malformed('each part needs Content-Disposition: attachment; name="..."')
        if name in self.names:
            raise _Malformed(f"two parts named {name!r}")
        if not self.names and name != MANIFEST_PART:
            raise _Malformed(f"the first part must be {MANIFEST_PART!r}")
        if len(self.names) > self.max_parts:  # the manifest is not counted
            raise PayloadTooLarge(
                f"more than {self.max_parts} parts in a transfer", code=TOO_MANY_PARTS
            )
        self.names.append(name)
        if name != MANIFEST_PART:
            fd, tmp = tempfile.mkstemp(dir=self.spool_dir, prefix=SPOOL_PREFIX)
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)  # new: never blocks
            self._file = os.fdopen(fd, "wb")
            self.spooled.handles.append(self._file)
            self.spooled.files[name] = Path(tmp)
            self._hash = hashlib.sha256()

    def part_data(self, data: bytes, start: int, end: int) -> None:
        chunk = data[start:end]
        if self._file is not None and self._hash is not None:
            self._file.write(chunk)
            self._hash.update(chunk)
            return
        self._manifest += chunk
        if len(self._manifest) > self.max_manifest:
            raise PayloadTooLarge(
                f"the manifest is over {self.max_manifest} bytes", code=MANIFEST_TOO_LARGE
            )

    def part_end(self) -> None:
        name = self.names[-1]
        self.ended += 1
        if self._file is not None and self._hash is not None:
            self._file.flush()  # complete on disk; the handle stays open, holding the lock
            self.spooled.hashes[name] = self._hash.hexdigest()
            self._file = self._hash = None
        else:
            self.spooled.manifest = bytes(self._manifest)
            self.spooled.hashes[name] = hashlib.sha256(self.spooled.manifest).hexdigest()


class Inbox:
    """This node's side of the transfer protocol: one per request (cheap)."""

    def __init__(
        self,
        db: Database,
        signer: NodeSigner,
        kinds: KindRegistry,
        settings: Settings,
        clock: Clock,
    ) -> None:
        self.db = db
        self.signer = signer
        self.kinds = kinds
        self.settings = settings
        self.federation = settings.federation
        self.node_id = settings.node_id
        self.clock = clock

    async def receive(
        self,
        method: str,
        url: str,
        header_items: Sequence[tuple[str, str]],
        body: AsyncIterator[bytes],
    ) -> Answer:
        headers = {name.lower(): value for name, value in header_items}
        verified: Verified | None = None
        try:
            verified = await anyio.to_thread.run_sync(self.authenticate, method, url, header_items)
            spooled = await self._spool(verified, headers.get("content-length"), body)
            try:
                return await anyio.to_thread.run_sync(self.accept, verified, spooled)
            finally:
                spooled.discard()
        except DocexError as exc:
            # A refusal before the peer is authenticated is anyone's: the API's refusal tally
            # audits it (``api:request:refused``, the first of each window at once, the rest
            # counted), so a flood of unsigned transfers cannot grow the log by a row a request.
            if exc.status < 500 and verified is not None:
                await anyio.to_thread.run_sync(self._refused, exc, headers)
            raise

    # -- 1-4: the signature ------------------------------------------------------------------

    def authenticate(
        self, method: str, url: str, header_items: Sequence[tuple[str, str]]
    ) -> Verified:
        headers = {name.lower(): value for name, value in header_items}
        try:
            claim = wire.claimed(headers)
        except wire.SignatureMissing as exc:
            raise PeerUnauthenticated(str(exc), code=SIGNATURE_MISSING) from None
        except wire.SignatureInvalid as exc:
            raise PeerUnauthenticated(str(exc), code=SIGNATURE_INVALID) from None
        with self.db.read() as session:
            peer = peers.peer(session, claim.node_id)
            here = peers.peer(session, self.node_id)
        if peer is None or peer.id == self.node_id:
            raise Forbidden(
                f"{claim.node_id!r} is not a node of this node's directory", code=UNKNOWN_NODE
            )
        now = self.clock.now()
        if claim.expires is not None and claim.expires < now:
            raise PeerUnauthenticated("the signature has expired", code=SIGNATURE_STALE)
        skew = abs((now - claim.created).total_seconds())
        if skew > self.federation.max_clock_skew_seconds:
            raise PeerUnauthenticated(
                f"the signature was created {skew:.0f} s away from this node's clock (at most "
                f"{self.federation.max_clock_skew_seconds:g} s)",
                code=SIGNATURE_STALE,
            )
        target = f"{here.base_url}{wire.PATH}" if here is not None else url
        try:
            signed = wire.verify(
                method, target, header_items, node_id=peer.id, key=wire.public_key(peer.signing_key)
            )
        except wire.SignatureInvalid as exc:
            raise PeerUnauthenticated(str(exc), code=SIGNATURE_INVALID) from None
        except ValueError as exc:  # the directory's key for the peer is not usable
            raise PeerUnauthenticated(str(exc), code=SIGNATURE_INVALID) from None
        transfer_id, kind = signed[wire.HEADER_ID], signed[wire.HEADER_KIND]
        if not wire.TRANSFER_ID.fullmatch(transfer_id):
            raise BadRequest("invalid Docex-Transfer-Id", code=MALFORMED_REQUEST)
        if not kind or len(kind) > 16:
            raise BadRequest("invalid Docex-Transfer-Kind", code=MALFORMED_REQUEST)
        sha256 = wire.digest_value(signed["content-digest"])
        if sha256 is None:
            raise BadRequest(
                "Content-Digest must carry a sha-256 member (RFC 9530)", code=MALFORMED_REQUEST
            )
        media, params = parse_options_header(signed["content-type"])
        expected = wire.boundary(transfer_id)
        if media != b"multipart/mixed" or params.get(b"boundary") != expected.encode():
            raise BadRequest(
                f'the body must be multipart/mixed; boundary="{expected}"', code=MALFORMED_BODY
            )
        return Verified(peer.id, transfer_id, kind, signed["content-digest"], sha256, expected)

    # -- 5: the body ---------------------------------------------------------------------------

    async def _spool(
        self, verified: Verified, content_length: str | None, body: AsyncIterator[bytes]
    ) -> _Spooled:
        cap = self.federation.max_transfer_bytes
        declared = (content_length or "").strip()
        if declared.isdigit() and int(declared) > cap:
            raise PayloadTooLarge(f"a transfer is at most {cap} bytes", code=TOO_LARGE)
        self.settings.spool_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        parts = _Parts(
            self.settings.spool_dir,
            max_manifest=self.federation.max_manifest_bytes,
            max_parts=self.federation.max_parts,
        )
        parser = MultipartParser(verified.boundary.encode(), parts.callbacks())  # type: ignore[arg-type]
        whole = hashlib.sha256()
        received = 0
        malformed: str | None = None

        def feed(chunk: bytes) -> None:
            nonlocal malformed
            whole.update(chunk)
            if malformed is None:
                try:
                    parser.write(chunk)
                except (_Malformed, ValueError) as exc:  # MultipartParseError is a ValueError
                    malformed = str(exc) or type(exc).__name__

        try:
            async for chunk in body:
                received += len(chunk)
                if received > cap:
                    raise PayloadTooLarge(f"a transfer is at most {cap} bytes", code=TOO_LARGE)
                await anyio.to_thread.run_sync(feed, chunk)
            if malformed is None:
                try:
                    parser.finalize()
                except (_Malformed, ValueError) as exc:
                    malformed = str(exc) or type(exc).__name__
        except OSError as exc:
            parts.spooled.discard()
            if exc.errno in NO_SPACE_ERRNOS:
                raise StorageFull(
                    f"the node's spool directory is full ({exc.strerror}); nothing was stored"
                ) from exc
            raise
        except BaseException:
            parts.spooled.discard()
            raise
        spooled = parts.spooled
        if not hmac.compare_digest(whole.digest(), verified.sha256):
            spooled.discard()
            raise BadRequest(
                "the body does not match its signed Content-Digest", code=DIGEST_MISMATCH
            )
        if malformed is None and (not parts.names or parts.ended != len(parts.names)):
            malformed = "the body ends inside a part, or has no manifest"
        if malformed is not None:
            spooled.discard()
            raise BadRequest(f"malformed transfer body: {malformed}"[:300], code=MALFORMED_BODY)
        return spooled

    # -- 6-7 and the kind: accept ---------------------------------------------------------------

    def accept(self, verified: Verified, spooled: _Spooled) -> Answer:
        kind = self.kinds.get(verified.kind)
        if kind is None:
            raise BadRequest(
                f"this node accepts no transfers of kind {verified.kind!r}", code=UNKNOWN_KIND
            )
        manifest = wire.parse_json_object(spooled.manifest)
        if manifest is None:
            raise BadRequest("the manifest is not a JSON object", code=MALFORMED_BODY)
        with self.db.read() as session:
            known = session.get(InboundTransfer, verified.transfer_id)
            if known is not None:
                return self._again(known, verified)
        now = self.clock.now()
        inbound = Inbound(
            id=verified.transfer_id,
            kind=verified.kind,
            from_node=verified.from_node,
            manifest=manifest,
            files=dict(spooled.files),
            digest=verified.digest,
            received_at=now,
        )
        prepared = kind.prepare(inbound)
        try:
            with self.db.write() as session:
                known = session.get(InboundTransfer, verified.transfer_id)
                if known is not None:  # accepted meanwhile (SQLite: serialised here)
                    return self._again(known, verified)
                accepted = kind.commit(session, inbound, prepared)
                claims = wire.receipt_claims(
                    transfer_id=verified.transfer_id,
                    kind=verified.kind,
                    from_node=verified.from_node,
                    to_node=self.node_id,
                    digest=verified.digest,
                    parts=spooled.hashes,
                    received_at=rfc3339(now),
                    document_id=accepted.document_id,
                    accepted=accepted.detail,
                )
                receipt = self.signer.sign(claims, typ=wire.RECEIPT_TYPE)
                session.add(
                    InboundTransfer(
                        id=verified.transfer_id,
                        kind=verified.kind,
                        from_node=verified.from_node,
                        digest=verified.digest,
                        document_id=accepted.document_id,
                        receipt=receipt,
                        received_at=now,
                    )
                )
                events.record(
                    session,
                    events.TRANSFER_RECEIVED,
                    at=now,
                    document_id=accepted.document_id,
                    transfer_id=verified.transfer_id,
                    kind=verified.kind,
                    from_node=verified.from_node,
                    digest=verified.digest,
                )
                session.flush()  # every effect written, nothing committed: the worst moment
                crash_point(TRANSFER_RECEIVED_BEFORE_COMMIT)
        except IntegrityError:
            # Another request with this transfer id won the race (PostgreSQL): its answer.
            with self.db.read() as session:
                known = session.get(InboundTransfer, verified.transfer_id)
                if known is None:
                    raise
                return self._again(known, verified)
        return Answer(201, verified.transfer_id, receipt)

    def _again(self, known: InboundTransfer, verified: Verified) -> Answer:
        same = (known.digest, known.from_node, known.kind) == (
            verified.digest,
            verified.from_node,
            verified.kind,
        )
        if not same:
            raise Conflict(
                f"transfer {verified.transfer_id} was accepted already with other content",
                code=CONFLICT,
            )
        return Answer(200, known.id, known.receipt)

    def _refused(self, exc: DocexError, headers: dict[str, str]) -> None:
        try:
            peer: str | None = wire.claimed(headers).node_id
        except (wire.SignatureMissing, wire.SignatureInvalid):
            peer = None
        try:
            with self.db.write() as session:
                events.record(
                    session,
                    events.TRANSFER_REFUSED,
                    at=self.clock.now(),
                    error=exc.code,
                    status=exc.status,
                    peer=peer,
                    transfer_id=headers.get(wire.HEADER_ID, "")[:64] or None,
                    detail=exc.detail[:300],
                )
        except Exception:
            log.exception("could not audit a refused transfer (%s)", exc.code)
