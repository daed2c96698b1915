"""An outside verifier of a docex audit log, written from docs/audit-log.md alone.

It imports nothing from docex: only the standard library, ``cryptography`` for ECDSA P-256
and Ed25519, and an HTTP client given to it. An auditor pins the log's verifier key (and the
witnesses' keys) and asks :class:`LogVerifier` to check a node's checkpoint, entries,
inclusion proofs and consistency proofs; any failure raises :class:`Rejected`.
"""

from __future__ import annotations

import base64
import hashlib
import json
import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519


class Rejected(Exception):
    pass


class Http(Protocol):
    def get(self, url: str, *, params: dict[str, Any] | None = None) -> Any: ...


def b64(text: str) -> bytes:
    return base64.b64decode(text, validate=True)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# -- §3: RFC 9162 proofs ------------------------------------------------------------------------


def _node(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def check_inclusion(
    index: int, size: int, leaf_hash: bytes, proof: list[bytes], root: bytes
) -> None:
    """RFC 9162 §2.1.3.2."""
    if any(len(h) != 32 for h in [leaf_hash, root, *proof]) or not 0 <= index < size:
        raise Rejected("malformed inclusion proof")
    fn, sn, r = index, size - 1, leaf_hash
    for p in proof:
        if sn == 0:
            raise Rejected("inclusion proof too long")
        if fn % 2 == 1 or fn == sn:
            r = _node(p, r)
            while fn % 2 == 0 and fn != 0:
                fn //= 2
                sn //= 2
        else:
            r = _node(r, p)
        fn //= 2
        sn //= 2
    if sn != 0 or r != root:
        raise Rejected("inclusion proof does not lead to the root")


def check_consistency(m: int, n: int, proof: list[bytes], first: bytes, second: bytes) -> None:
    """RFC 9162 §2.1.4.2, refusing size 0 and requiring an empty proof for equal sizes."""
    if not 0 < m <= n:
        raise Rejected("bad sizes for a consistency proof")
    if m == n:
        if proof or first != second:
            raise Rejected("equal sizes need equal roots and no proof")
        return
    if not proof or any(len(h) != 32 for h in [first, second, *proof]):
        raise Rejected("malformed consistency proof")
    path = ([first] if m & (m - 1) == 0 else []) + proof
    fn, sn = m - 1, n - 1
    while fn % 2 == 1:
        fn //= 2
        sn //= 2
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise Rejected("consistency proof too long")
        if fn % 2 == 1 or fn == sn:
            fr, sr = _node(c, fr), _node(c, sr)
            while fn % 2 == 0 and fn != 0:
                fn //= 2
                sn //= 2
        else:
            sr = _node(sr, c)
        fn //= 2
        sn //= 2
    if sn != 0 or fr != first or sr != second:
        raise Rejected("consistency proof does not lead to both roots")


# -- §2: leaves ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Leaf:
    position: int
    event_id: int
    at_us: int
    event: str
    actor_id: str | None
    agency_id: str | None
    document_id: str | None
    detail: dict[str, Any]


def parse_leaf(data: bytes) -> Leaf:
    at = 0

    def take(n: int) -> bytes:
        nonlocal at
        if at + n > len(data):
            raise Rejected("leaf truncated")
        chunk = data[at : at + n]
        at += n
        return chunk

    def text() -> str:
        (n,) = struct.unpack(">H", take(2))
        if n == 0:
            raise Rejected("empty text in leaf")
        return take(n).decode("utf-8")

    def optional() -> str | None:
        flag = take(1)[0]
        if flag not in (0, 1):
            raise Rejected("bad presence byte")
        return text() if flag else None

    version, position, event_id, at_us = struct.unpack(">BQQq", take(25))
    if version != 1:
        raise Rejected(f"leaf version {version}")
    event = text()
    actor, agency, document = optional(), optional(), optional()
    (n,) = struct.unpack(">I", take(4))
    detail = json.loads(take(n).decode("utf-8"))
    if at != len(data) or not isinstance(detail, dict):
        raise Rejected("leaf has trailing bytes or a detail that is not an object")
    return Leaf(position, event_id, at_us, event, actor, agency, document, detail)


# -- §4, §5: notes, checkpoints, cosignatures ------------------------------------------------


@dataclass(frozen=True)
class Head:
    origin: str
    size: int
    root: bytes
    text: str  # the signed note text
    lines: list[tuple[str, bytes, bytes]]  # (key name, key ID, signature)


def parse_checkpoint(note: str) -> Head:
    if any(ord(c) < 0x20 and c != "\n" for c in note) or not note.endswith("\n"):
        raise Rejected("not a note")
    cut = note.rfind("\n\n")
    if cut < 0:
        raise Rejected("no signatures")
    text_, sigs = note[: cut + 1], note[cut + 2 :].splitlines()
    body = text_.split("\n")
    if len(body) != 4 or body[3] != "":
        raise Rejected("a docex checkpoint has exactly three lines")
    origin, size, root = body[:3]
    if not size.isdigit() or (size != "0" and size.startswith("0")):
        raise Rejected("bad tree size")
    lines = []
    for line in sigs:
        dash, name, blob = line.split(" ")
        raw = b64(blob)
        if dash != "—" or len(raw) < 5:
            raise Rejected("bad signature line")
        lines.append((name, raw[:4], raw[4:]))
    root_hash = b64(root)
    if len(root_hash) != 32:
        raise Rejected("root hash is not 32 bytes")
    return Head(origin, int(size), root_hash, text_, lines)


class LogKey:
    """``<origin>+<hex key ID>+base64(0x02 || DER SPKI)``: ECDSA P-256 over SHA-256."""

    def __init__(self, vkey: str) -> None:
        self.name, key_id, blob = vkey.split("+", 2)
        raw = b64(blob)
        if raw[0] != 0x02 or bytes.fromhex(key_id) != sha256(raw[1:])[:4]:
            raise Rejected("not a type 0x02 vkey, or its key ID is wrong")
        self.key_id = bytes.fromhex(key_id)
        key = serialization.load_der_public_key(raw[1:])
        if not isinstance(key, ec.EllipticCurvePublicKey) or key.curve.name != "secp256r1":
            raise Rejected("not a P-256 key")
        self.key = key

    def check(self, head: Head) -> None:
        if head.origin != self.name:
            raise Rejected("checkpoint of another log")
        mine = [s for n, k, s in head.lines if (n, k) == (self.name, self.key_id)]
        if not mine:
            raise Rejected("no signature by the log key")
        for sig in mine:
            try:
                self.key.verify(sig, head.text.encode(), ec.ECDSA(hashes.SHA256()))
            except InvalidSignature as exc:
                raise Rejected("the log's signature does not verify") from exc


class WitnessKey:
    """``<name>+<hex key ID>+base64(0x04 || Ed25519 key)``, timestamped cosignatures."""

    def __init__(self, vkey: str) -> None:
        self.name, key_id, blob = vkey.split("+", 2)
        raw = b64(blob)
        expected = sha256(self.name.encode() + b"\n" + raw)[:4]
        if raw[0] != 0x04 or len(raw) != 33 or bytes.fromhex(key_id) != expected:
            raise Rejected("not a type 0x04 vkey, or its key ID is wrong")
        self.key_id = expected
        self.key = ed25519.Ed25519PublicKey.from_public_bytes(raw[1:])

    def check(self, head: Head) -> int:
        """The cosignature's timestamp; Rejected if this witness did not cosign the head."""
        for name, key_id, sig in head.lines:
            if (name, key_id) != (self.name, self.key_id):
                continue
            if len(sig) != 72:
                raise Rejected("a cosignature is 72 bytes")
            (timestamp,) = struct.unpack(">Q", sig[:8])
            message = f"cosignature/v1\ntime {timestamp}\n{head.text}".encode()
            try:
                self.key.verify(sig[8:], message)
            except InvalidSignature as exc:
                raise Rejected("the cosignature does not verify") from exc
            return int(timestamp)
        raise Rejected(f"not cosigned by {self.name}")


# -- §1: the node --------------------------------------------------------------------------------


class LogVerifier:
    def __init__(self, http: Http, log_key: str, witnesses: tuple[str, ...] = ()) -> None:
        self.http = http
        self.log_key = LogKey(log_key)
        self.witnesses = [WitnessKey(w) for w in witnesses]

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        response = self.http.get(f"/api/v1/audit{path}", params=params or None)
        if response.status_code != 200:
            raise Rejected(f"{path}: HTTP {response.status_code}")
        data: dict[str, Any] = response.json()
        return data

    def checkpoint(self, size: int | None = None) -> Head:
        """The node's (latest) checkpoint, signed by the pinned key, cosigned by every pinned
        witness; its JSON fields must agree with the note."""
        data = self._get("/checkpoint", **({"size": size} if size is not None else {}))
        head = parse_checkpoint(data["signed"])
        self.log_key.check(head)
        for witness in self.witnesses:
            witness.check(head)
        if (data["origin"], data["tree_size"], b64(data["root_hash"])) != (
            head.origin,
            head.size,
            head.root,
        ):
            raise Rejected("the checkpoint's fields do not match its note")
        return head

    def entries(self, head: Head) -> list[dict[str, Any]]:
        """Every entry under ``head``, each leaf re-hashed, decoded and matched to its event,
        their tree rebuilt to the head's root."""
        out: list[dict[str, Any]] = []
        while len(out) < head.size:
            page = self._get("/entries", start=len(out), end=head.size)
            if not page["items"]:
                raise Rejected("the node stopped giving entries")
            out += page["items"]
        hashes = []
        for position, item in enumerate(out[: head.size]):
            leaf = b64(item["leaf"])
            digest = sha256(b"\x00" + leaf)
            if digest != b64(item["leaf_hash"]) or item["index"] != position:
                raise Rejected(f"entry {position} does not hash to its leaf hash")
            parsed, event = parse_leaf(leaf), item["event"]
            at = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=parsed.at_us)
            if (
                parsed.position != position
                or parsed.event_id != event["id"]
                or parsed.event != event["event"]
                or (parsed.actor_id, parsed.agency_id, parsed.document_id)
                != (event["actor_id"], event["agency_id"], event["document_id"])
                or parsed.detail != event["detail"]
                or at != datetime.fromisoformat(event["at"].replace("Z", "+00:00"))
            ):
                raise Rejected(f"entry {position}: the leaf and the event disagree")
            hashes.append(digest)
        if _root(hashes) != head.root:
            raise Rejected("the entries do not make the checkpoint's root")
        return out[: head.size]

    def prove_inclusion(self, index: int, leaf_hash: bytes, head: Head) -> None:
        proof = self._get("/proofs/inclusion", index=index, tree_size=head.size)
        if b64(proof["leaf_hash"]) != leaf_hash:
            raise Rejected("the proof is about another leaf")
        check_inclusion(index, head.size, leaf_hash, [b64(p) for p in proof["proof"]], head.root)

    def prove_consistency(self, old: Head, new: Head) -> None:
        proof = self._get("/proofs/consistency", first=old.size, second=new.size)
        check_consistency(old.size, new.size, [b64(p) for p in proof["proof"]], old.root, new.root)


def _root(hashes: list[bytes]) -> bytes:
    """MTH from leaf hashes, straight from RFC 9162 §2.1.1."""
    if not hashes:
        return sha256(b"")
    if len(hashes) == 1:
        return hashes[0]
    k = 1
    while k * 2 < len(hashes):
        k *= 2
    return _node(_root(hashes[:k]), _root(hashes[k:]))
