"""The evidence bundle of one document: a zip that proves, offline, what the node did with it.

``build`` assembles it under the access policy (``documents.access.load_visible``: whoever may
not see the document gets DocumentNotFound, and everyone sees what ``GET /documents/{id}``,
``/receipts`` and ``/trace`` show them, no more); ``verify`` checks one with no node and no
database. The bundle never holds a file's contents, only their hashes.

Members (see docs/audit-log.md):

- ``manifest.jws``: the node's ES256 JWS over the document id, the checkpoint's size and the
  SHA-256 of every other member, so a changed byte anywhere is caught and named;
- ``document.json``: the document as the caller may see it (envelope, recipients);
- ``files.json``: the files' ids, roles, sizes and SHA-256 (no contents, ever);
- ``signatures.json``: the signature validation reports;
- ``receipts.json``: the signed receipts (compact JWS in ``signed``);
- ``entries.json``: every audit entry about the document in the checkpoint's tree, each with
  its leaf and its RFC 9162 inclusion proof; events not yet in it are listed as ``pending``;
- ``checkpoint.txt``: the signed checkpoint (a signed note) with its cosignatures;
- ``log-key.vkey``, ``witnesses.txt``: the log's key and the cosigning witnesses' keys;
- ``jwks.json``: the node's JWKS, its certificate chain as ``x5c``, which verify the receipts
  and the manifest.

The keys in the bundle only make it self-contained: a verifier must pin the log key and the
node key out of band (``--log-key``, ``--node-kid``), or it proves only self-consistency.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from sqlalchemy import select
from sqlalchemy.orm import Session

from docex.audit import checkpoints, events, leaves, merkle, notes, tree
from docex.audit.integrator import AuditLog
from docex.audit.models import EVENT_COLUMNS, AuditEvent, LogEntry
from docex.auth.policy import Actor
from docex.documents.access import load_visible
from docex.documents.views import document_view
from docex.evidence.service import entry_views, event_out
from docex.kit.clock import rfc3339
from docex.routing.receipts import list_receipts
from docex.signing.jws import NodeSigner, canonical_json

FORMAT = "docex-evidence/1"
MANIFEST_TYPE = "docex-evidence+jws"
MANIFEST = "manifest.jws"
DOCUMENT = "document.json"
FILES = "files.json"
SIGNATURES = "signatures.json"
RECEIPTS = "receipts.json"
ENTRIES = "entries.json"
CHECKPOINT = "checkpoint.txt"
LOG_KEY = "log-key.vkey"
WITNESSES = "witnesses.txt"
JWKS = "jwks.json"
MEMBERS = (DOCUMENT, FILES, SIGNATURES, RECEIPTS, ENTRIES, CHECKPOINT, LOG_KEY, WITNESSES, JWKS)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _json(value: Any) -> bytes:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True).encode() + b"\n"


def _entries(session: Session, document_id: str, size: int, shows: Any) -> dict[str, Any]:
    rows = session.execute(
        select(LogEntry.position, LogEntry.leaf_hash, *EVENT_COLUMNS)
        .join(AuditEvent, AuditEvent.index == LogEntry.event_index)
        .where(AuditEvent.document_id == document_id, LogEntry.position < size)
        .order_by(LogEntry.position)
    ).all()
    proven = []
    for view in entry_views([r for r in rows if shows(r)]):
        _, proof = tree.leaf_and_inclusion_proof(session, view.position, size)
        proven.append(
            {
                "index": view.position,
                "leaf": _b64(view.leaf),
                "leaf_hash": _b64(view.leaf_hash),
                "event": view.event.model_dump(mode="json"),
                "proof": [_b64(p) for p in proof],
            }
        )
    in_tree = {r.event_id for r in rows}
    later = session.execute(
        select(*EVENT_COLUMNS)
        .where(AuditEvent.document_id == document_id)
        .order_by(AuditEvent.index)
    ).all()
    pending = [
        event_out(r).model_dump(mode="json")
        for r in later
        if r.event_id not in in_tree and shows(r)
    ]
    return {"tree_size": size, "entries": proven, "pending": pending}


def build(
    session: Session,
    actor: Actor,
    document_id: str,
    *,
    signer: NodeSigner,
    audit: AuditLog,
    now: datetime,
) -> bytes:
    """The zip for ``document_id`` as ``actor`` may see it; DocumentNotFound if they may not."""
    document, deliveries, seen = load_visible(session, actor, document_id)
    view = document_view(actor, document, deliveries).model_dump(mode="json")
    receipts = list_receipts(session, actor, document_id).model_dump(mode="json")["items"]

    def shows(row: Any) -> bool:
        detail = row.detail if isinstance(row.detail, dict) else {}
        return seen.shows_event(
            whole_document=row.event in events.DOCUMENT_WIDE,
            agency_id=row.agency_id,
            to_agency_id=detail.get("to"),
        )

    latest = checkpoints.latest(session)
    if latest is not None:
        cosigned = checkpoints.stored_cosignatures(session, latest.tree_size)
        size, signed = latest.tree_size, checkpoints.with_cosignatures(latest, cosigned)
        witnesses = sorted(
            {notes.CosignatureVerifier(c.name, c.public_key).vkey() for c in cosigned}
        )
    else:
        size, signed, witnesses = 0, "", []
    jwks = signer.jwks()
    if signer.x5c:
        jwks["keys"][0]["x5c"] = signer.x5c
    members = {
        DOCUMENT: _json(view),
        FILES: _json(view["files"]),
        SIGNATURES: _json(view["signatures"]),
        RECEIPTS: _json(receipts),
        ENTRIES: _json(_entries(session, document_id, size, shows)),
        CHECKPOINT: signed.encode(),
        LOG_KEY: (audit.verifier.vkey() + "\n").encode(),
        WITNESSES: "".join(w + "\n" for w in witnesses).encode(),
        JWKS: _json(jwks),
    }
    claims = {
        "format": FORMAT,
        "document_id": document.id,
        "iss": signer.node_id,
        "at": rfc3339(now),
        "tree_size": size,
        "members": {name: hashlib.sha256(data).hexdigest() for name, data in members.items()},
    }
    members = {MANIFEST: signer.sign(claims, typ=MANIFEST_TYPE).encode() + b"\n", **members}
    out = io.BytesIO()
    stamp = now.timetuple()[:6]
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(zipfile.ZipInfo(f"evidence/{name}", stamp), data)
    return out.getvalue()


# -- offline verification ------------------------------------------------------------------------


@dataclass
class BundleReport:
    """What ``verify`` found: ``problems`` (member, what is wrong) and what was checked."""

    document_id: str | None = None
    problems: list[tuple[str, str]] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)
    log_key: str | None = None
    node_kid: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def fail(self, member: str, what: str) -> None:
        self.problems.append((member, what))


class _Stop(Exception):
    """Nothing further can be checked."""


def _read(data: bytes, report: BundleReport) -> dict[str, bytes]:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
    except zipfile.BadZipFile as exc:
        report.fail("bundle", f"not a zip file ({exc})")
        raise _Stop from exc
    members: dict[str, bytes] = {}
    with archive:
        for info in archive.infolist():
            name = info.filename.removeprefix("evidence/")
            if name in members:
                report.fail(name, "appears twice in the zip")
            try:
                members[name] = archive.read(info)
            except (zipfile.BadZipFile, OSError, ValueError) as exc:
                report.fail(name, f"unreadable in the zip ({exc})")
    for name in (MANIFEST, *MEMBERS):
        if name not in members:
            report.fail(name, "missing from the bundle")
    return members


def _load(members: dict[str, bytes], name: str, report: BundleReport) -> Any:
    try:
        return json.loads(members[name])
    except (KeyError, ValueError) as exc:
        report.fail(name, f"not JSON ({exc})")
        return None


def _unb64url(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _jws_claims(token: str, keys: dict[str, ec.EllipticCurvePublicKey]) -> dict[str, Any]:
    """The claims of a compact JWS signed (ES256, RFC 7518 §3.4) by one of ``keys``;
    ValueError if not."""
    try:
        head, payload, signature = token.split(".")
        header = json.loads(_unb64url(head))
        key = keys[header["kid"]]
        raw = _unb64url(signature)
        if header.get("alg") != "ES256" or len(raw) != 64:
            raise ValueError("not ES256")
        der = encode_dss_signature(int.from_bytes(raw[:32]), int.from_bytes(raw[32:]))
        key.verify(der, f"{head}.{payload}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
        claims = json.loads(_unb64url(payload))
    except KeyError as exc:
        raise ValueError("signed by a key not in jwks.json") from exc
    except (InvalidSignature, ValueError, TypeError, UnicodeError, binascii.Error) as exc:
        raise ValueError("the signature does not verify") from exc
    if not isinstance(claims, dict):
        raise ValueError("the payload is not an object")
    return claims


def _node_keys(
    members: dict[str, bytes], report: BundleReport
) -> dict[str, ec.EllipticCurvePublicKey]:
    jwks = _load(members, JWKS, report)
    keys: dict[str, ec.EllipticCurvePublicKey] = {}
    try:
        for jwk in jwks["keys"]:
            public = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
            thumbprint = base64.urlsafe_b64encode(
                hashlib.sha256(canonical_json(public)).digest()
            ).rstrip(b"=")
            if public["kty"] != "EC" or public["crv"] != "P-256":
                report.fail(JWKS, f"key {jwk.get('kid')!r} is not a P-256 key")
            elif thumbprint.decode() != jwk["kid"]:
                report.fail(JWKS, f"key {jwk['kid']!r} is not named by its thumbprint")
            else:
                numbers = ec.EllipticCurvePublicNumbers(
                    int.from_bytes(_unb64url(public["x"])),
                    int.from_bytes(_unb64url(public["y"])),
                    ec.SECP256R1(),
                )
                keys[jwk["kid"]] = numbers.public_key()
    except (KeyError, TypeError, ValueError, binascii.Error) as exc:
        report.fail(JWKS, f"not a JWKS of EC keys ({exc})")
    return keys


def _manifest(
    members: dict[str, bytes], keys: dict[str, ec.EllipticCurvePublicKey], report: BundleReport
) -> dict[str, Any]:
    try:
        claims = _jws_claims(members[MANIFEST].decode().strip(), keys)
    except (KeyError, UnicodeDecodeError, ValueError) as exc:
        report.fail(MANIFEST, f"{exc}: nothing in the bundle can be trusted")
        raise _Stop from exc
    hashes = claims.get("members")
    if claims.get("format") != FORMAT or not isinstance(hashes, dict):
        report.fail(MANIFEST, f"not a {FORMAT} manifest")
        raise _Stop
    for name, data in members.items():
        if name == MANIFEST:
            continue
        if name not in hashes:
            report.fail(name, "not listed in the manifest (added to the bundle)")
        elif hashlib.sha256(data).hexdigest() != hashes[name]:
            report.fail(name, "changed: its SHA-256 is not the one the node signed")
    for name in hashes:
        if name not in members:
            report.fail(name, "listed in the manifest but missing from the bundle")
    report.checked.append(f"manifest signed by node key {claims.get('iss')}")
    return claims


def _checkpoint(
    members: dict[str, bytes], report: BundleReport, pinned_log_key: str | None
) -> checkpoints.TreeHead | None:
    try:
        vkey = members[LOG_KEY].decode().strip()
        report.log_key = vkey
        if pinned_log_key is not None and pinned_log_key.strip() != vkey:
            report.fail(LOG_KEY, "is not the log key pinned with --log-key")
        key = notes.log_verifier_from_vkey(pinned_log_key or vkey)
    except (KeyError, UnicodeDecodeError, notes.NoteError) as exc:
        report.fail(LOG_KEY, f"not a log key ({exc})")
        return None
    text = members.get(CHECKPOINT, b"")
    if not text:
        report.fail(CHECKPOINT, "no checkpoint: no entry can be proven")
        return None
    try:
        head, note = checkpoints.open_checkpoint(text.decode(), key)
    except (UnicodeDecodeError, notes.NoteError) as exc:
        report.fail(CHECKPOINT, f"does not verify against the log key ({exc})")
        return None
    report.checked.append(f"checkpoint of size {head.size} signed by the log key")
    for line in members.get(WITNESSES, b"").decode(errors="replace").splitlines():
        try:
            witness = notes.CosignatureVerifier.from_vkey(line)
            if not checkpoints.cosignatures(note, [witness]):
                report.fail(CHECKPOINT, f"no cosignature by witness {witness.name}")
            else:
                report.checked.append(f"cosignature by {witness.name}")
        except notes.NoteError as exc:
            report.fail(WITNESSES, f"{line[:60]!r}: {exc}")
    return head


def _entries_ok(
    body: Any, head: checkpoints.TreeHead | None, document_id: str, report: BundleReport
) -> None:
    if not isinstance(body, dict):
        return
    if head is not None and body.get("tree_size") != head.size:
        report.fail(ENTRIES, f"proofs are for size {body.get('tree_size')}, not {head.size}")
        return
    for n, entry in enumerate(body.get("entries", [])):
        where = f"{ENTRIES} entry {n}"
        try:
            index = int(entry["index"])
            leaf = base64.b64decode(entry["leaf"], validate=True)
            leaf_hash = merkle.leaf_hash(leaf)
            if base64.b64decode(entry["leaf_hash"], validate=True) != leaf_hash:
                report.fail(where, f"index {index}: leaf_hash is not the hash of the leaf")
            decoded = leaves.decode(leaf)
            if decoded.position != index or decoded.document_id != document_id:
                report.fail(where, f"index {index}: the leaf is not this entry of this document")
            shown = entry["event"]
            if (shown["id"], shown["event"]) != (decoded.event_id, decoded.event):
                report.fail(where, f"index {index}: the event shown is not the leaf's")
            if head is not None:
                proof = [base64.b64decode(p, validate=True) for p in entry["proof"]]
                merkle.verify_inclusion(index, head.size, leaf_hash, proof, head.root)
        except merkle.ProofError as exc:
            report.fail(where, f"inclusion proof against the checkpoint fails ({exc})")
        except (KeyError, TypeError, ValueError, binascii.Error, leaves.LeafError) as exc:
            report.fail(where, f"malformed ({exc})")
    if head is not None:
        report.checked.append(f"{len(body.get('entries', []))} inclusion proof(s)")


def _receipts_ok(
    receipts: Any,
    keys: dict[str, ec.EllipticCurvePublicKey],
    document: dict[str, Any],
    report: BundleReport,
) -> None:
    main = next((f["sha256"] for f in document.get("files", []) if f["role"] == "main"), None)
    count = 0
    for receipt in receipts if isinstance(receipts, list) else []:
        where = f"{RECEIPTS} {receipt.get('id')}"
        if receipt.get("signed") is None:
            continue  # withheld from this reader (content_withheld)
        try:
            claims = _jws_claims(receipt["signed"], keys)
        except ValueError as exc:
            report.fail(where, str(exc))
            continue
        count += 1
        expected = {
            "jti": receipt.get("id"),
            "status": receipt.get("code"),
            "document_id": document.get("id"),
            "main_sha256": main,
            "from": receipt.get("from_agency_id"),
            "to": receipt.get("to_agency_id"),
        }
        for claim, value in expected.items():
            if claims.get(claim) != value:
                report.fail(where, f"signed {claim} {claims.get(claim)!r} is not {value!r}")
    report.checked.append(f"{count} signed receipt(s)")


def verify(data: bytes, *, log_key: str | None = None, node_kid: str | None = None) -> BundleReport:
    """Check a bundle offline: the manifest's signature and every member's hash, the
    checkpoint's signature (and cosignatures), each inclusion proof against its root, each
    receipt's JWS, and the file hashes against the document. ``log_key``/``node_kid`` pin the
    keys; without them the keys in the bundle are trusted as they are."""
    report = BundleReport()
    try:
        members = _read(data, report)
        keys = _node_keys(members, report)
        if node_kid is not None:
            keys = {kid: key for kid, key in keys.items() if kid == node_kid}
            if not keys:
                report.fail(JWKS, f"has no key {node_kid!r} (the one pinned with --node-kid)")
        report.node_kid = ", ".join(keys)
        manifest = _manifest(members, keys, report)
        document = _load(members, DOCUMENT, report)
        if not isinstance(document, dict):
            raise _Stop
        report.document_id = document.get("id")
        if manifest.get("document_id") != document.get("id"):
            report.fail(DOCUMENT, "is not the document the manifest names")
        files = _load(members, FILES, report)
        if files != document.get("files"):
            report.fail(FILES, f"the file hashes are not those of {DOCUMENT}")
        else:
            report.checked.append(f"{len(files)} file hash(es) match the document")
        if _load(members, SIGNATURES, report) != document.get("signatures"):
            report.fail(SIGNATURES, f"the validation reports are not those of {DOCUMENT}")
        head = _checkpoint(members, report, log_key)
        if head is not None and manifest.get("tree_size") != head.size:
            report.fail(CHECKPOINT, "is not the checkpoint the manifest names")
        _entries_ok(_load(members, ENTRIES, report), head, str(document.get("id")), report)
        _receipts_ok(_load(members, RECEIPTS, report), keys, document, report)
    except _Stop:
        pass
    return report
