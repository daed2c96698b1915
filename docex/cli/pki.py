"""``docex pki init`` and ``docex pdf sign``: the node's PKI and local signing through its key
store. No business rule lives here: the commands gather options, call ``docex.signing`` and
print a summary for people or JSON (``--json``) for scripts.

Registered on the main app by ``register(app)``.
"""

from __future__ import annotations

import io
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

import typer
from rich.console import Console

from docex.config import Settings

__all__ = ["register"]

PKI_DIR_NAME = "pki"

_out = Console(highlight=False)
_err = Console(stderr=True, highlight=False)

pki_app = typer.Typer(help="The node's PKI: CAs, seals, personal keys, TSA, OCSP.")
pdf_app = typer.Typer(help="PDF signatures: sign and seal with the node's keys.")

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", envvar="DOCEX_DATA_DIR", help="Data directory (default ./docex-data)."
    ),
]
JsonOut = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


def register(app: typer.Typer) -> None:
    """Add ``docex pki …`` and ``docex pdf …`` to ``app``."""
    app.add_typer(pki_app, name="pki")
    app.add_typer(pdf_app, name="pdf")


def _settings(data_dir: Path | None) -> Settings:
    settings = Settings()
    if data_dir is not None:
        settings = settings.model_copy(update={"data_dir": data_dir})
    return settings


def _passphrase(settings: Settings) -> str | None:
    secret = settings.signing.key_passphrase
    return secret.get_secret_value() if secret else None


def _fail(message: str, code: int = 1) -> typer.Exit:
    _err.print(f"[red]error:[/red] {message}")
    return typer.Exit(code)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _directory(settings: Settings) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """Active agencies hosted on this node (code, name) and their leaders (username, full name,
    agency code), from the node's database."""
    from sqlalchemy import select
    from sqlalchemy.exc import SQLAlchemyError

    from docex.agencies.models import Agency
    from docex.auth.models import Principal
    from docex.db import Database

    db = Database(settings.resolved_database_url)
    try:
        with db.read() as session:
            hosted = select(Agency).where(
                Agency.node_id == settings.node_id, Agency.status == "active"
            )
            agencies = [(a.id, a.name) for a in session.scalars(hosted.order_by(Agency.id))]
            hosted_codes = {code for code, _ in agencies}
            leaders = []
            for person in session.scalars(
                select(Principal)
                .where(Principal.kind == "leader", Principal.active.is_(True))
                .order_by(Principal.username)
            ):
                if person.username and person.agency_id in hosted_codes:
                    name = person.full_name or person.username
                    leaders.append((person.username, name, person.agency_id))
    except SQLAlchemyError as exc:
        reason = exc.__class__.__name__
        raise _fail(f"cannot read the node's database ({reason}); run `docex init` first") from exc
    finally:
        db.dispose()
    return agencies, leaders


@pki_app.command("init")
def pki_init(
    data_dir: DataDir = None,
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Also issue a seal for every agency hosted on this node and a custodial "
            "personal key for each of their leaders.",
        ),
    ] = False,
    as_json: JsonOut = False,
) -> None:
    """Build the PKI under <data dir>/pki/ (root and issuing CA, TSA, OCSP); idempotent."""
    import warnings

    from docex.signing.pki import PkiError, UnencryptedKeysWarning, build_pki

    settings = _settings(data_dir)
    agencies: list[tuple[str, str]] = []
    people: list[tuple[str, str, str]] = []
    if demo:
        agencies, people = _directory(settings)
    passphrase = _passphrase(settings)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnencryptedKeysWarning)
        try:
            layout = build_pki(
                settings.data_dir / PKI_DIR_NAME,
                agencies,
                people,
                passphrase=passphrase,
                now=datetime.now(UTC),
                base_url=settings.base_url,
            )
        except PkiError as exc:
            raise _fail(str(exc)) from exc
    data = {
        "directory": str(layout.directory),
        "base_url": layout.base_url,
        "encrypted": layout.encrypted,
        "root": str(layout.root_cert),
        "keys": sorted(layout.certificates),
    }
    if as_json:
        _print_json(data)
        return
    _out.print(f"PKI             {layout.directory}")
    _out.print(f"root CA         {layout.root_cert}")
    _out.print(f"OCSP / CRL / TSA {layout.base_url}/pki/ocsp · /pki/crl/<ca>.crl · /pki/tsa")
    _out.print(f"signing keys    {len(layout.certificates)}")
    if any(issubclass(w.category, UnencryptedKeysWarning) for w in caught):
        _err.print(
            "[yellow]warning:[/yellow] private keys are not encrypted; "
            "set DOCEX_SIGNING__KEY_PASSPHRASE"
        )


@pdf_app.command("sign")
def pdf_sign(
    input_path: Annotated[Path, typer.Argument(metavar="INPUT", help="The PDF to sign.")],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the result.")],
    key: Annotated[str, typer.Option("--key", help="seal:<agency code> or person:<username>.")],
    lt: Annotated[
        bool,
        typer.Option("--lt/--no-lt", help="Embed revocation data (PAdES B-LT) or not (B-T)."),
    ] = True,
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Add one PAdES signature to INPUT with a key of this node: as the agency's seal
    (--key seal:<code>) or as a person (--key person:<username>)."""
    from cryptography.x509.oid import NameOID

    from docex.signing.keys import KeyStoreError
    from docex.signing.keystore import FileKeyStore
    from docex.signing.pades import SigningError, revocation_context, sign_pdf
    from docex.signing.timestamps import InProcessTimeStamper, authority_from_pki

    role: Literal["signer", "seal"]
    if key.startswith("seal:"):
        role = "seal"
    elif key.startswith("person:"):
        role = "signer"
    else:
        raise _fail("--key is seal:<agency code> or person:<username>", code=2)
    settings = _settings(data_dir)
    try:
        store = FileKeyStore(settings.data_dir / PKI_DIR_NAME, _passphrase(settings))
        if not store.has(key):
            raise _fail(f"unknown_key: no signing key {key!r} in {store.pki.directory}")
        cert = store.certificate(key)
    except KeyStoreError as exc:
        raise _fail(str(exc)) from exc

    def subject(oid: Any) -> str:
        values = cert.subject.get_attributes_for_oid(oid)
        value = values[0].value if values else ""
        return value if isinstance(value, str) else value.decode()

    agency_name = subject(NameOID.ORGANIZATION_NAME)
    signer_name = agency_name if role == "seal" else subject(NameOID.COMMON_NAME)
    try:
        data = input_path.read_bytes()
    except OSError as exc:
        raise _fail(f"cannot read {input_path}: {exc.strerror}") from exc
    try:
        signed = sign_pdf(
            io.BytesIO(data),
            key_store=store,
            key_id=key,
            role=role,
            timestamper=InProcessTimeStamper(authority_from_pki(store.pki)),
            validation_context=revocation_context(store.pki) if lt else None,
            signer_name=signer_name,
            agency_name=agency_name,
            now=datetime.now(UTC),
        )
    except SigningError as exc:
        raise _fail(f"{exc.code}: {exc.detail}") from exc
    output.write_bytes(signed)
    result = {
        "input": str(input_path),
        "output": str(output),
        "key": key,
        "as": role,
        "level": "PAdES B-LT" if lt else "PAdES B-T",
        "signer": signer_name,
        "size": len(signed),
    }
    if as_json:
        _print_json(result)
        return
    _out.print(
        f"{'sealed' if role == 'seal' else 'signed'} {input_path} → {output} "
        f"({result['level']}, {signer_name}, {len(signed)} bytes)"
    )
