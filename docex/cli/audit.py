"""``docex audit verify | checkpoint | witness``: the audit log from the command line.

No business rule lives here: ``verify`` calls ``docex.audit.verify.verify_log`` on this node's
database, ``checkpoint`` the node's ``AuditLog``, ``witness`` a ``docex.audit.witness.Witness``
against a node over HTTP. Tables and a progress bar for people, ``--json`` for scripts.

Exit status: 0 when all is well; 1 when verification finds a problem or the witness cannot do
its job; 3 when the witness sees a fork (it then cosigns nothing and tells the node).
"""

from __future__ import annotations

import logging
import signal
import socket
import threading
from pathlib import Path
from types import FrameType
from typing import Annotated, Any

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from docex.cli.common import (
    DataDir,
    DocexTyper,
    JsonOut,
    console,
    err,
    fail,
    print_json,
    settings_for,
)

__all__ = ["register"]

FORK_EXIT = 3

audit_app = DocexTyper(help="The audit log: verify it, checkpoint it, witness a node's.")


def register(app: typer.Typer) -> None:
    app.add_typer(audit_app, name="audit")


LogKey = Annotated[
    str | None,
    typer.Option(
        "--log-key",
        metavar="VKEY",
        help="The log's vkey to trust (default: this node's own key, from its key store).",
        show_default=False,
    ),
]


@audit_app.command("verify")
def verify(
    data_dir: DataDir = None,
    log_key: LogKey = None,
    witness: Annotated[
        list[str] | None,
        typer.Option(
            "--witness", metavar="VKEY", help="A witness vkey whose cosignatures must verify too."
        ),
    ] = None,
    as_json: JsonOut = False,
) -> None:
    """Re-derive the whole tree from the stored events; check every checkpoint and
    cosignature; print the first bad index."""
    from docex.audit import notes
    from docex.audit.verify import snapshot, verify_log
    from docex.db import Database

    settings = settings_for(data_dir)
    try:
        key = _log_verifier(settings, log_key)
        witnesses = [notes.CosignatureVerifier.from_vkey(v) for v in witness or []]
    except notes.NoteError as exc:
        raise fail(f"bad key: {exc}", 2) from exc
    db = Database(settings.resolved_database_url)
    try:
        with (
            Progress(
                TextColumn("verifying"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeRemainingColumn(),
                console=err,
                disable=as_json,
            ) as bar,
            snapshot(db) as session,
        ):
            task = bar.add_task("entries", total=None)
            report = verify_log(
                session,
                key,
                witnesses=witnesses,
                progress=lambda done, total: bar.update(task, completed=done, total=total),
            )
    finally:
        db.dispose()
    data: dict[str, Any] = {
        "ok": report.ok,
        "entries": report.size,
        "checkpoints": report.checkpoints,
        "cosignatures": report.cosignatures,
        "first_bad_index": report.first_bad_index,
        "problems": [
            {"index": p.index, "code": p.code, "detail": p.detail} for p in report.problems
        ],
        "more_problems": report.more_problems,
    }
    if as_json:
        print_json(data)
    else:
        _print_report(data)
    if not report.ok:
        raise typer.Exit(1)


def _print_report(data: dict[str, Any]) -> None:
    console.print(
        f"entries {data['entries']} · checkpoints verified {data['checkpoints']} · "
        f"cosignatures verified {data['cosignatures']}"
    )
    if data["ok"]:
        console.print("[green]the log verifies[/green]")
        return
    console.print(f"[red]FIRST BAD INDEX {data['first_bad_index']}[/red]")
    table = Table("index", "problem", "detail")
    for p in data["problems"]:
        table.add_row(str(p["index"]), p["code"], p["detail"])
    console.print(table)
    if data["more_problems"]:
        console.print(f"… and {data['more_problems']} more")


def _log_verifier(settings: Any, vkey: str | None) -> Any:
    from docex.audit import notes

    if vkey:
        return notes.log_verifier_from_vkey(vkey)
    return _node_signer(settings).verifier


def _node_signer(settings: Any) -> Any:
    from docex.audit.notes import EcdsaSigner
    from docex.keys.node import node_key, open_token
    from docex.signing.keys import KeyStoreError

    try:
        return EcdsaSigner(settings.audit_origin, node_key(settings, open_token(settings)))
    except KeyStoreError as exc:
        raise fail(str(exc)) from exc


@audit_app.command("checkpoint")
def checkpoint(data_dir: DataDir = None, as_json: JsonOut = False) -> None:
    """Integrate every pending event and sign a checkpoint now (on demand)."""
    import base64

    from docex.audit.integrator import AuditLog
    from docex.db import Database
    from docex.kit.clock import SystemClock

    settings = settings_for(data_dir)
    db = Database(settings.resolved_database_url)
    try:
        signer = _node_signer(settings)
        head = AuditLog(db, signer, settings.audit, clock=SystemClock()).checkpoint()
    finally:
        db.dispose()
    data = {
        "origin": head.origin,
        "tree_size": head.size,
        "root_hash": base64.b64encode(head.root).decode(),
        "log_key": signer.verifier.vkey(),
    }
    if as_json:
        print_json(data)
        return
    for name, value in data.items():
        console.print(f"{name:<10} {value}")


@audit_app.command("peers")
def peers_command(
    data_dir: DataDir = None,
    clear_fork: Annotated[
        str | None,
        typer.Option(
            "--clear-fork",
            metavar="PEER",
            help="Resume witnessing PEER after a fork you investigated.",
        ),
    ] = None,
    forget: Annotated[
        bool,
        typer.Option(
            "--forget", help="With --clear-fork: drop what was cosigned (trust on next use)."
        ),
    ] = False,
    as_json: JsonOut = False,
) -> None:
    """What this node witnessed of its peers' audit logs (federation): last cosigned size, and
    any fork seen, which stops cosigning that peer until cleared. Exit 3 while a fork stands."""
    from docex.db import Database
    from docex.federation.witnessing import clear_fork as clear
    from docex.federation.witnessing import witnessed
    from docex.kit.clock import rfc3339

    settings = settings_for(data_dir)
    db = Database(settings.resolved_database_url)
    try:
        if clear_fork is not None:
            with db.write() as session:
                if not clear(session, clear_fork, forget=forget):
                    raise fail(f"this node has not witnessed {clear_fork}")
        with db.read() as session:
            rows = witnessed(session)
    finally:
        db.dispose()
    data = [
        {
            "peer": r.peer,
            "tree_size": r.tree_size,
            "checked_at": rfc3339(r.updated_at),
            "fork_at": rfc3339(r.fork_at) if r.fork_at else None,
            "fork_reason": r.fork_reason,
        }
        for r in rows
    ]
    if as_json:
        print_json({"peers": data})
    else:
        table = Table("peer", "cosigned size", "checked at", "fork")
        for row in data:
            fork = f"[red]{row['fork_at']}: {row['fork_reason']}[/red]" if row["fork_at"] else ""
            table.add_row(str(row["peer"]), str(row["tree_size"]), str(row["checked_at"]), fork)
        console.print(table)
    if any(row["fork_at"] for row in data):
        raise typer.Exit(FORK_EXIT)


@audit_app.command("witness")
def witness(
    url: Annotated[
        str, typer.Option("--url", envvar="DOCEX_URL", metavar="URL", help="The node to witness.")
    ],
    key: Annotated[
        Path,
        typer.Option(
            "--key", metavar="FILE", help="The witness's Ed25519 key (PEM), created if missing."
        ),
    ],
    state: Annotated[
        Path,
        typer.Option(
            "--state", metavar="FILE", help="Where the witness keeps its last cosigned checkpoint."
        ),
    ],
    token: Annotated[
        str | None,
        typer.Option(
            "--token", envvar="DOCEX_TOKEN", metavar="TOKEN", help="An auditor's bearer token."
        ),
    ] = None,
    interval: Annotated[
        float | None,
        typer.Option(
            "--interval",
            min=1,
            metavar="SECONDS",
            help="Run every INTERVAL seconds (default: once).",
        ),
    ] = None,
    name: Annotated[
        str | None,
        typer.Option(
            "--name", metavar="NAME", help="The witness's key name (default: host/witness)."
        ),
    ] = None,
    webhook: Annotated[
        str | None,
        typer.Option(
            "--webhook",
            envvar="DOCEX_WITNESS_WEBHOOK",
            metavar="URL",
            help="On a fork, also POST a JSON alert to this URL (someone who is not the node).",
        ),
    ] = None,
    log_key: LogKey = None,
    as_json: JsonOut = False,
) -> None:
    """Cosign the node's checkpoint if it is consistent with the last one this witness cosigned;
    on a fork, cosign nothing, tell the node (and the webhook) and exit with status 3."""
    import httpx

    from docex.audit import notes
    from docex.audit.witness import ForkDetected, Witness, WitnessError
    from docex.kit.clock import SystemClock

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not token:
        raise fail("an auditor's token is needed (--token or DOCEX_TOKEN)", 2)
    try:
        cosigner = notes.Cosigner(name or f"{socket.gethostname()}/witness", _witness_key(key))
        pinned = notes.log_verifier_from_vkey(log_key) if log_key else None
    except notes.NoteError as exc:
        raise fail(str(exc), 2) from exc
    client = httpx.Client(
        base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {token}"}, timeout=30
    )
    runner = Witness(cosigner, state, client, clock=SystemClock(), log_key=pinned)
    try:
        if interval is None:
            done = runner.run_once()
            data = {
                "cosigned": done.tree_size,
                "root_hash": done.root_hash,
                "previous": done.previous_size,
                "stored": done.stored,
                "vkey": cosigner.verifier.vkey(),
            }
            if as_json:
                print_json(data)
            else:
                console.print(
                    f"cosigned tree size {done.tree_size} (previous {done.previous_size})"
                )
            return
        stop = threading.Event()

        def _stop(_signum: int, _frame: FrameType | None) -> None:
            stop.set()

        signal.signal(signal.SIGTERM, _stop)
        signal.signal(signal.SIGINT, _stop)
        err.print(f"witness {cosigner.verifier.vkey()} watching {url}")
        runner.run_forever(interval, stop)
    except ForkDetected as fork:
        err.print(f"[bold red]FORK DETECTED[/bold red]: {fork.reason}")
        if fork.first_bad_index is not None:
            err.print(f"first bad index: {fork.first_bad_index}")
        alert = {
            "fork": True,
            "node": url,
            "witness": cosigner.verifier.vkey(),
            "reason": fork.reason,
            "first_bad_index": fork.first_bad_index,
        }
        if webhook:
            # The alert must not depend on the node: the webhook is told even if the node is down.
            try:
                httpx.post(webhook, json=alert, timeout=30).raise_for_status()
            except httpx.HTTPError as exc:
                err.print(f"[red]could not alert {webhook}[/red]: {exc}")
        if as_json:
            print_json(alert)
        raise typer.Exit(FORK_EXIT) from fork
    except WitnessError as exc:
        raise fail(str(exc)) from exc
    finally:
        client.close()


def _witness_key(path: Path) -> Any:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    from docex.kit.files import create_exclusively

    if not path.exists():
        new = ed25519.Ed25519PrivateKey.generate()
        pem = new.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        create_exclusively(path, pem, 0o600)
        err.print(f"created a new witness key in {path}")
    try:
        key = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as exc:
        raise fail(f"{path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, ed25519.Ed25519PrivateKey):
        raise fail(f"{path} is not an Ed25519 key")
    return key


def _register_evidence() -> None:
    from docex.cli.connection import RemoteCommand

    audit_app.command("evidence", cls=RemoteCommand)(evidence)


def evidence(
    ref: Annotated[
        str,
        typer.Argument(
            metavar="REF",
            help="Document id, its first 8+ characters, or its business id.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path, typer.Option("--output", "-o", metavar="FILE", help="Where to write the zip.")
    ],
) -> None:
    """Fetch a document's evidence bundle (a zip) from the node; check it with verify-bundle."""
    from docex.cli.connection import remote
    from docex_client.calls import Call, seg

    with remote() as client:
        document_id = client.resolve(ref)
        data = client.call(
            Call("GET", f"/api/v1/documents/{seg(document_id)}/evidence", lambda r: r.content)
        )
    output.write_bytes(data)
    console.print(f"wrote {output} ({len(data)} bytes)", markup=False)


@audit_app.command("verify-bundle")
def verify_bundle(
    bundle_file: Annotated[
        Path, typer.Argument(metavar="FILE", help="The evidence bundle (zip).", show_default=False)
    ],
    log_key: Annotated[
        str | None,
        typer.Option(
            "--log-key", metavar="VKEY", help="The log key, pinned out of band.", show_default=False
        ),
    ] = None,
    node_kid: Annotated[
        str | None,
        typer.Option(
            "--node-kid",
            metavar="KID",
            help="The node key's JWK thumbprint, pinned out of band.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOut = False,
) -> None:
    """Check an evidence bundle offline (no node, no database): the manifest and every
    member's hash, the checkpoint's signature, every inclusion proof, every receipt's JWS and the
    file hashes; print each failure and exit 1 if there is any. Pin the log key and the node key
    out of band (--log-key, --node-kid): the keys in the bundle prove only self-consistency."""
    from docex.evidence import bundle

    try:
        data = bundle_file.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {bundle_file}: {exc.strerror}", 2) from exc
    report = bundle.verify(data, log_key=log_key, node_kid=node_kid)
    if as_json:
        print_json(
            {
                "ok": report.ok,
                "document_id": report.document_id,
                "checked": report.checked,
                "problems": [{"member": m, "problem": p} for m, p in report.problems],
                "log_key": report.log_key,
                "node_kid": report.node_kid,
            }
        )
    else:
        for line in report.checked:
            console.print(f"ok    {line}", markup=False)
        for member, problem in report.problems:
            console.print(f"FAIL  {member}: {problem}", markup=False)
        if log_key is None or node_kid is None:
            err.print(
                f"note: keys taken from the bundle (log key {report.log_key}, node key "
                f"{report.node_kid}); pin them out of band with --log-key and --node-kid",
                markup=False,
            )
        console.print(
            f"{'OK' if report.ok else 'FAILED'}: evidence bundle of {report.document_id}",
            markup=False,
        )
    if not report.ok:
        raise typer.Exit(1)


_register_evidence()
