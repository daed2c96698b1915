"""A witness: cosigns a log's checkpoints, but only those consistent with what it cosigned before.

This is what catches an operator who rewrites the whole log (and re-signs it, with the log key
or a new one): the witness remembers the last checkpoint it cosigned (its state file) and
refuses to cosign anything that does not extend it. Following c2sp.org/tlog-cosignature
(Ed25519, signature type 0x04), on each run the witness:

1. fetches the log's latest checkpoint and checks its signature with the log key it pinned
   (given, or trusted on first use and written to the state file);
2. checks it against its last cosigned checkpoint: a smaller tree, the same size with another
   root, or a consistency proof (RFC 9162 §2.1.4.2) that fails is a **fork**;
3. records the new checkpoint in its state file (atomically), cosigns it with a timestamp and
   posts the cosignature to the node, which stores it and serves it with the checkpoint.

On a fork it cosigns nothing, tells the node (``POST /audit/forks``, recorded as the audit
event ``audit:fork:reported``) and raises :class:`ForkDetected`; ``docex audit witness`` exits
with status 3. The class takes its HTTP transport, the API prefix and where it keeps its state
(a file, or anything with ``load``/``save``: :class:`StateStore`) as arguments, so a node
witnesses its peers (``docex.federation.witnessing``: state in its database, the peers'
``/federation/v1/audit``) with the same code, and a test can wire it to an in-process node.
"""

from __future__ import annotations

import base64
import json
import logging
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx

from docex.audit import checkpoints, merkle, notes
from docex.kit.clock import Clock
from docex.kit.files import atomic_write

log = logging.getLogger(__name__)
API = "/api/v1/audit"


class WitnessError(RuntimeError):
    """The witness could not do its job (node unreachable, bad answer): nothing cosigned."""


class ForkDetected(WitnessError):
    """The log showed a view inconsistent with one this witness cosigned."""

    def __init__(
        self, reason: str, *, seen: str, cosigned: str | None, first_bad_index: int | None
    ):
        super().__init__(reason)
        self.reason = reason
        self.seen = seen
        self.cosigned = cosigned
        self.first_bad_index = first_bad_index


class Transport(Protocol):
    """GET and POST JSON to a node; an ``httpx.Client`` (or a TestClient) with a base URL and
    the auditor's Authorization header is one."""

    def get(self, url: str, *, params: dict[str, Any] | None = None) -> httpx.Response: ...

    def post(self, url: str, *, json: Any = None) -> httpx.Response: ...


@dataclass(frozen=True)
class State:
    """What a witness remembers about one log: the key it pinned and its last cosignature."""

    origin: str
    log_key: str  # vkey
    tree_size: int
    root_hash: str  # base64
    checkpoint: str  # the note text cosigned
    timestamp: int
    # The whole note as the log signed it (its signature lines), so that a fork report can
    # carry the cosigned checkpoint as evidence anyone can check; None in older state files.
    signed: str | None = None

    @classmethod
    def load(cls, path: Path) -> State | None:
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as exc:
            raise WitnessError(f"cannot read the state file {path}: {exc}") from exc
        try:
            return cls(**data)
        except TypeError as exc:
            raise WitnessError(f"{path} is not a witness state file") from exc

    def save(self, path: Path) -> None:
        atomic_write(path, json.dumps(asdict(self), indent=2).encode() + b"\n", 0o600)


class StateStore(Protocol):
    """Where a witness keeps its :class:`State` for one log."""

    def load(self) -> State | None: ...

    def save(self, state: State, previous: State | None) -> None:
        """Replace ``previous`` (what :meth:`load` gave) by ``state``; WitnessError if another
        run moved it meanwhile (nothing is then cosigned)."""
        ...


@dataclass(frozen=True)
class FileState:
    """A state file, written atomically (``docex audit witness --state``)."""

    path: Path

    def load(self) -> State | None:
        return State.load(self.path)

    def save(self, state: State, previous: State | None) -> None:
        state.save(self.path)


@dataclass(frozen=True)
class Cosigned:
    tree_size: int
    root_hash: str
    previous_size: int | None
    stored: bool  # the node stored it (False: it already had one from this key)


class Witness:
    def __init__(
        self,
        cosigner: notes.Cosigner,
        state: Path | StateStore,
        transport: Transport,
        *,
        clock: Clock,
        log_key: notes.EcdsaVerifier | None = None,
        api: str = API,
        evidence: bool = False,
    ) -> None:
        """``evidence``: a fork report carries the checkpoint this witness cosigned as a whole
        note (the log's signature and this witness's cosignature) and the witness's vkey, so
        that the node can check it without trusting the reporter (federation peers)."""
        self.cosigner = cosigner
        self.state: StateStore = FileState(state) if isinstance(state, Path) else state
        self.transport = transport
        self.clock = clock
        self.log_key = log_key
        self.api = api
        self.evidence = evidence

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        try:
            response = self.transport.get(self.api + path, params=params or None)
        except httpx.HTTPError as exc:
            raise WitnessError(f"cannot reach the node: {exc}") from exc
        if response.status_code != 200:
            raise WitnessError(f"GET {path}: HTTP {response.status_code} {response.text[:200]}")
        body: dict[str, Any] = response.json()
        return body

    def _pinned_key(self, state: State | None, served: dict[str, Any]) -> notes.EcdsaVerifier:
        if state is not None:
            key = notes.log_verifier_from_vkey(state.log_key)
            if self.log_key is not None and self.log_key.vkey() != key.vkey():
                raise WitnessError("the state file pins another log key than the one given")
            return key
        if self.log_key is not None:
            return self.log_key
        log.warning("no log key given: trusting the node's on first use (%s)", served["log_key"])
        return notes.log_verifier_from_vkey(served["log_key"])

    def run_once(self) -> Cosigned:
        """Check and cosign the latest checkpoint; raises ForkDetected or WitnessError."""
        served = self._get("/checkpoint")
        state = self.state.load()
        key = self._pinned_key(state, served)
        signed = str(served.get("signed", ""))
        try:
            head, note = checkpoints.open_checkpoint(signed, key)
        except notes.NoteError as exc:
            if state is None:
                raise WitnessError(f"the checkpoint does not verify: {exc}") from exc
            raise self._fork(
                f"the checkpoint is not signed by the pinned log key: {exc}", signed, state, None
            ) from exc
        if state is not None:
            self._check_consistency(state, head, signed)
        timestamp = int(self.clock.now().timestamp())
        if state is not None and head.size == state.tree_size:
            timestamp = max(timestamp, state.timestamp)
        self.state.save(
            State(
                origin=head.origin,
                log_key=key.vkey(),
                tree_size=head.size,
                root_hash=base64.b64encode(head.root).decode(),
                checkpoint=note.text,
                timestamp=timestamp,
                signed=_only_signed_by(note, key).render(),
            ),
            state,
        )
        signature = self.cosigner.cosign(note.text, timestamp)
        try:
            response = self.transport.post(
                self.api + "/cosignatures",
                json={
                    "tree_size": head.size,
                    "signature": signature.line().rstrip("\n"),
                    "vkey": self.cosigner.verifier.vkey(),
                },
            )
        except httpx.HTTPError as exc:
            raise WitnessError(f"cannot reach the node: {exc}") from exc
        if response.status_code not in (200, 201):
            raise WitnessError(f"the node refused the cosignature: {response.text[:300]}")
        return Cosigned(
            tree_size=head.size,
            root_hash=base64.b64encode(head.root).decode(),
            previous_size=state.tree_size if state else None,
            stored=response.status_code == 201,
        )

    def _check_consistency(self, state: State, head: checkpoints.TreeHead, signed: str) -> None:
        old_root = base64.b64decode(state.root_hash)
        if head.origin != state.origin:
            raise WitnessError(f"checkpoint of another log ({head.origin!r})")
        if head.size < state.tree_size:
            raise self._fork(
                f"the log shrank from {state.tree_size} to {head.size} entries",
                signed,
                state,
                head.size,
            )
        if head.size == state.tree_size:
            if head.root != old_root:
                raise self._fork(f"same size {head.size}, different root", signed, state, None)
            return
        if state.tree_size == 0:
            return
        proof = self._get("/proofs/consistency", first=state.tree_size, second=head.size)
        try:
            merkle.verify_consistency(
                state.tree_size,
                head.size,
                [base64.b64decode(p) for p in proof.get("proof", [])],
                old_root,
                head.root,
            )
        except (merkle.ProofError, ValueError) as exc:
            raise self._fork(
                f"the tree of {head.size} does not extend the one of {state.tree_size}: {exc}",
                signed,
                state,
                None,
            ) from exc

    def cosigned_note(self, state: State) -> str | None:
        """The checkpoint of ``state`` as a whole note: the log's signature and this witness's
        cosignature (Ed25519 is deterministic: the same timestamp gives the same line)."""
        if state.signed is None:
            return None
        line = self.cosigner.cosign(state.checkpoint, state.timestamp).line()
        return state.signed + line

    def _fork(
        self, reason: str, seen: str, state: State | None, first_bad_index: int | None
    ) -> ForkDetected:
        """Tell the node (best effort: a forking node may not listen) and return the error."""
        log.error("FORK of the audit log: %s", reason)
        cosigned = state.checkpoint if state else None
        body: dict[str, Any] = {"reason": reason[:1000], "seen": seen[:20000]}
        if self.evidence:
            body["cosigned"] = self.cosigned_note(state) if state else None
            body["vkey"] = self.cosigner.verifier.vkey()
        else:
            body["cosigned"] = cosigned
        try:
            self.transport.post(self.api + "/forks", json=body)
        except httpx.HTTPError as exc:
            log.error("could not report the fork to the node: %s", exc)
        return ForkDetected(reason, seen=seen, cosigned=cosigned, first_bad_index=first_bad_index)

    def run_forever(self, interval: float, stop: threading.Event) -> None:
        """Run every ``interval`` seconds until ``stop``; a fork ends it (ForkDetected), other
        failures are logged and retried."""
        while not stop.is_set():
            try:
                done = self.run_once()
                log.info("cosigned tree size %d", done.tree_size)
            except ForkDetected:
                raise
            except WitnessError as exc:
                log.warning("witness run failed, will retry: %s", exc)
            stop.wait(interval)


def _only_signed_by(note: notes.Note, key: notes.EcdsaVerifier) -> notes.Note:
    """``note`` with the log's own signature line(s) only (not other witnesses')."""
    mine = tuple(s for s in note.signatures if (s.name, s.key_id) == (key.name, key.key_id))
    return notes.Note(note.text, mine)
