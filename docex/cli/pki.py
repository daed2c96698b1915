"""``docex pki init`` and ``docex pdf sign``: the node's PKI and local signing through its key
store. No business rule lives here: the commands gather options, call ``docex.signing`` and
print a summary for people or JSON (``--json``) for scripts.

Registered on the main app by ``register(app)``.
"""

from __future__ import annotations

import contextlib
import io
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

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

if TYPE_CHECKING:
    from docex.config import Settings
    from docex.db import Database

__all__ = ["register"]


pki_app = DocexTyper(help="The node's PKI: CAs, seals, personal keys, TSA, OCSP.")
pdf_app = DocexTyper(help="PDF signatures: sign and seal with the node's keys.")


@contextlib.contextmanager
def _database(settings: Settings) -> Iterator[Database]:
    """The node's database, where key operations are audited; a failure to reach it (or a
    node never initialised) is said plainly."""
    from sqlalchemy.exc import SQLAlchemyError

    from docex.db import Database

    db = Database(settings.resolved_database_url)
    try:
        yield db
    except SQLAlchemyError as exc:
        raise fail(
            f"cannot write to the node's database ({type(exc).__name__}), where key operations "
            "are audited; run `docex init` first"
        ) from exc
    finally:
        db.dispose()


def register(app: typer.Typer) -> None:
    """Add ``docex pki …`` and ``docex pdf …`` to ``app``."""
    app.add_typer(pki_app, name="pki")
    app.add_typer(pdf_app, name="pdf")


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

    from sqlalchemy.exc import SQLAlchemyError

    from docex.db import Database
    from docex.keys.directory import hosted_signers
    from docex.keys.enrolment import build_node_pki
    from docex.signing.pki import PkiError, UnencryptedKeysWarning

    settings = settings_for(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    db = Database(settings.resolved_database_url) if demo else None
    now = datetime.now(UTC)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnencryptedKeysWarning)
        try:
            if db is None:
                layout = build_node_pki(settings, None, now=now)
            else:
                with db.read() as session:
                    signers = hosted_signers(session, settings.node_id)
                layout = build_node_pki(settings, signers, now=now)
        except PkiError as exc:
            raise fail(str(exc)) from exc
        except SQLAlchemyError as exc:
            reason = exc.__class__.__name__
            raise fail(
                f"cannot read the node's database ({reason}); run `docex init` first"
            ) from exc
        finally:
            if db is not None:
                db.dispose()
    data = {
        "directory": str(layout.directory),
        "base_url": layout.base_url,
        "encrypted": layout.encrypted,
        "root": str(layout.root_cert),
        "keys": sorted(layout.certificates),
    }
    if as_json:
        print_json(data)
        return
    console.print(f"PKI             {layout.directory}")
    console.print(f"root CA         {layout.root_cert}")
    console.print(f"OCSP / CRL / TSA {layout.base_url}/pki/ocsp · /pki/crl/<ca>.crl · /pki/tsa")
    console.print(f"signing keys    {len(layout.certificates)}")
    if any(issubclass(w.category, UnencryptedKeysWarning) for w in caught):
        err.print(
            "[yellow]warning:[/yellow] private keys are not encrypted; "
            "set DOCEX_SIGNING__KEY_PASSPHRASE"
        )


@pki_app.command("rotate")
def pki_rotate(
    key: Annotated[
        str, typer.Argument(metavar="KEY", help="seal:<agency code> or person:<username>.")
    ],
    data_dir: DataDir = None,
    as_json: JsonOut = False,
) -> None:
    """Give KEY a new key pair and certificate (files or PKCS#11 token, as configured); the
    old certificate is kept so that documents signed before still verify."""
    from cryptography.hazmat.primitives import hashes

    from docex.keys.service import rotate_key
    from docex.signing.keys import KeyStoreError
    from docex.signing.pki import PkiError

    settings = settings_for(data_dir)
    try:
        with _database(settings) as db:
            cert = rotate_key(db, settings, key, now=datetime.now(UTC))
    except (PkiError, KeyStoreError) as exc:
        raise fail(str(exc)) from exc
    data = {
        "key": key,
        "serial": format(cert.serial_number, "x"),
        "subject": cert.subject.rfc4514_string(),
        "not_after": cert.not_valid_after_utc.isoformat(),
        "sha256": cert.fingerprint(hashes.SHA256()).hex(),
    }
    if as_json:
        print_json(data)
        return
    console.print(f"{key} rotated: certificate {data['serial']} valid until {data['not_after']}")


@pki_app.command("request")
def pki_request(
    key: Annotated[
        str, typer.Argument(metavar="KEY", help="seal:<agency code> or person:<username>.")
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Where to write the PEM.")],
    rotate: Annotated[
        bool, typer.Option("--rotate", help="Replace a key that already has a certificate.")
    ] = False,
    data_dir: DataDir = None,
) -> None:
    """Write a PKCS#10 certificate request for KEY, made and signed on the PKCS#11 token, for
    an outside certification authority; install its answer with `docex pki install`."""
    from cryptography.hazmat.primitives import serialization

    from docex.keys.service import request_key_certificate
    from docex.signing.keys import KeyStoreError
    from docex.signing.pki import PkiError

    settings = settings_for(data_dir)
    try:
        with _database(settings) as db:
            csr = request_key_certificate(db, settings, key, rotate=rotate, now=datetime.now(UTC))
    except (PkiError, KeyStoreError) as exc:
        raise fail(str(exc)) from exc
    output.write_bytes(csr.public_bytes(serialization.Encoding.PEM))
    console.print(f"request for {key} ({csr.subject.rfc4514_string()}) written to {output}")


@pki_app.command("install")
def pki_install(
    key: Annotated[
        str, typer.Argument(metavar="KEY", help="seal:<agency code> or person:<username>.")
    ],
    certificate: Annotated[
        Path, typer.Argument(metavar="CERT", help="The CA's certificate, PEM or DER.")
    ],
    data_dir: DataDir = None,
) -> None:
    """Install the certificate a CA issued for KEY's request on the PKCS#11 token."""
    from cryptography import x509

    from docex.keys.service import install_key_certificate
    from docex.signing.keys import KeyStoreError
    from docex.signing.pki import PkiError

    try:
        data = certificate.read_bytes()
        cert = (
            x509.load_pem_x509_certificate(data)
            if b"-----BEGIN" in data
            else x509.load_der_x509_certificate(data)
        )
    except (OSError, ValueError) as exc:
        raise fail(f"cannot read a certificate from {certificate}: {exc}") from exc
    settings = settings_for(data_dir)
    try:
        with _database(settings) as db:
            generation = install_key_certificate(db, settings, key, cert, now=datetime.now(UTC))
    except (PkiError, KeyStoreError) as exc:
        raise fail(str(exc)) from exc
    console.print(f"{key}: certificate {cert.serial_number:x} installed (key {generation})")


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
    from docex.audit.signing import DatabaseSigningAudit
    from docex.keys.node import open_token
    from docex.keys.paths import KeyPaths
    from docex.signing.errors import SigningServiceError
    from docex.signing.wiring import build_signatures

    if not key.startswith(("seal:", "person:")):
        raise fail("--key is seal:<agency code> or person:<username>", code=2)
    settings = settings_for(data_dir)
    try:
        data = input_path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {input_path}: {exc.strerror}") from exc
    with _database(settings) as db:
        signatures = build_signatures(
            KeyPaths.of(settings).pki_dir,
            passphrase=settings.passphrase,
            audit=DatabaseSigningAudit(db),
            key_store=open_token(settings),
            tsa_url=settings.signing.tsa_url,
        )
        try:
            with err.status("đang ký / signing…") if not as_json else contextlib.nullcontext():
                signed = signatures.sign_with_key(
                    io.BytesIO(data), key_id=key, now=datetime.now(UTC), long_term=lt
                )
        except SigningServiceError as exc:
            raise fail(f"{exc.code}: {exc.detail}") from exc
        finally:
            signatures.close()  # its bounded worker, which parsed the PDF
    output.write_bytes(signed.data)
    result = {
        "input": str(input_path),
        "output": str(output),
        "key": key,
        "as": signed.role,
        "level": signed.level,
        "signer": signed.signer_name,
        "size": len(signed.data),
    }
    if as_json:
        print_json(result)
        return
    console.print(
        f"{'sealed' if signed.role == 'seal' else 'signed'} {input_path} → {output} "
        f"({signed.level}, {signed.signer_name}, {len(signed.data)} bytes)"
    )
