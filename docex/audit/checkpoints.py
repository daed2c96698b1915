"""Checkpoints: signed tree heads in the C2SP tlog-checkpoint format (c2sp.org/tlog-checkpoint).

The note text is three lines, ``<origin>\\n<tree size>\\n<base64 root hash>\\n``, and no
extension lines; it is signed with the node's ECDSA P-256 key (signed-note type 0x02, see
``docex.audit.notes``) under a key name equal to the origin. Guarantees: :func:`open_checkpoint`
returns a head only if the note is well formed, names the expected origin and carries a valid
signature by the log key; witnesses' cosignatures (type 0x04) are verified by
:func:`cosignatures` against keys the caller trusts. The log never signs two heads of one size
(the size is the checkpoints table's primary key), and the integrator signs only the tree it has
just extended, so two signed heads are always consistent.

Stored checkpoints (``audit_checkpoints``) hold the note with the log's signature only; served
ones carry the cosignatures too, as extra signature lines, per c2sp.org/tlog-cosignature.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from docex.audit import notes
from docex.audit.merkle import HASH_SIZE
from docex.audit.models import Checkpoint, Cosignature

_SIZE = re.compile(r"0|[1-9][0-9]{0,19}")


@dataclass(frozen=True)
class TreeHead:
    origin: str
    size: int
    root: bytes

    def body(self) -> str:
        return f"{self.origin}\n{self.size}\n{base64.b64encode(self.root).decode()}\n"


def parse_body(text: str) -> TreeHead:
    """The head in a checkpoint's note text; NoteError if it is not one."""
    lines = text.split("\n")
    if len(lines) < 4 or lines[-1] != "":
        raise notes.NoteError("a checkpoint has at least three lines, each ending in a newline")
    origin, size, root, *extensions = lines[:-1]
    if not origin:
        raise notes.NoteError("empty origin")
    if not _SIZE.fullmatch(size) or int(size) >= 1 << 63:
        raise notes.NoteError("tree size is not a decimal number without leading zeroes")
    raw = notes.b64decode(root)
    if len(raw) != HASH_SIZE:
        raise notes.NoteError("root hash is not 32 bytes")
    if any(not line for line in extensions):
        raise notes.NoteError("empty extension line")
    return TreeHead(origin, int(size), raw)


def sign(signer: notes.EcdsaSigner, head: TreeHead) -> str:
    if head.origin != signer.name:
        raise ValueError("the log key's name is the origin")
    return notes.Note(head.body(), (signer.sign(head.body()),)).render()


def open_checkpoint(
    signed: str, log_key: notes.EcdsaVerifier, *, origin: str | None = None
) -> tuple[TreeHead, notes.Note]:
    """Parse ``signed`` and check the log's signature; NoteError if anything is wrong."""
    note = notes.parse(signed)
    head = parse_body(note.text)
    if head.origin != (origin or log_key.name):
        raise notes.NoteError(f"checkpoint of another log ({head.origin!r})")
    notes.verify(note, [log_key])
    return head, note


def cosignatures(
    note: notes.Note, witnesses: Sequence[notes.CosignatureVerifier]
) -> list[tuple[notes.CosignatureVerifier, int]]:
    """(witness, timestamp) of each trusted witness that cosigned ``note``; NoteError if a
    trusted witness's cosignature is there but does not verify."""
    known = {(w.name, w.key_id): w for w in witnesses}
    out: list[tuple[notes.CosignatureVerifier, int]] = []
    for sig in note.signatures:
        witness = known.get((sig.name, sig.key_id))
        if witness is None:
            continue
        if not witness.verify(note.text.encode(), sig.signature):
            raise notes.NoteError(f"cosignature by {sig.name} does not verify")
        out.append((witness, witness.timestamp(sig.signature)))
    return out


# -- stored checkpoints ------------------------------------------------------------------------


def latest(session: Session) -> Checkpoint | None:
    return session.scalars(
        select(Checkpoint).order_by(Checkpoint.tree_size.desc()).limit(1)
    ).first()


def at_size(session: Session, size: int) -> Checkpoint | None:
    return session.get(Checkpoint, size)


def store(session: Session, signed: str, head: TreeHead, *, now: datetime) -> Checkpoint:
    row = Checkpoint(tree_size=head.size, root_hash=head.root, note=signed, created_at=now)
    session.add(row)
    session.flush()
    return row


def stored_cosignatures(session: Session, size: int) -> list[Cosignature]:
    return list(
        session.scalars(
            select(Cosignature).where(Cosignature.tree_size == size).order_by(Cosignature.id)
        )
    )


def with_cosignatures(checkpoint: Checkpoint, rows: Sequence[Cosignature]) -> str:
    """The stored note with every stored cosignature line appended."""
    return checkpoint.note + "".join(r.line.rstrip("\n") + "\n" for r in rows)
