"""``docex pki init`` and ``docex pdf sign``: the node's PKI and local signing through its key
store. No business rule lives here: the commands gather options, call ``docex.signing`` and
print a summary for people or JSON (``--json``) for scripts.

Registered on the main app by ``register(app)``.
"""

from __future__ import annotations

import contextlib
import io
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any, Literal

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

__all__ = ["register"]


pki_app = DocexTyper(help="The node's PKI: CAs, seals, personal keys, TSA, OCSP.")
pdf_app = DocexTyper(help="PDF signatures: sign and seal with the node's keys.")


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
    from docex.node_keys import build_node_pki
    from docex.signing.pki import PkiError, UnencryptedKeysWarning

    settings = settings_for(data_dir)
    settings.data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    db = Database(settings.resolved_database_url) if demo else None
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", UnencryptedKeysWarning)
        try:
            if db is None:
                layout = build_node_pki(settings, None)
            else:
                with db.read() as session:
                    layout = build_node_pki(settings, session)
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

    from docex.node_keys import rotate_signing_key
    from docex.signing.keys import KeyStoreError
    from docex.signing.pki import PkiError

    try:
        cert = rotate_signing_key(settings_for(data_dir), key)
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

    from docex.node_keys import request_certificate
    from docex.signing.keys import KeyStoreError
    from docex.signing.pki import PkiError

    try:
        csr = request_certificate(settings_for(data_dir), key, rotate=rotate)
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

    from docex.node_keys import install_signing_certificate
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
    try:
        generation = install_signing_certificate(settings_for(data_dir), key, cert)
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
    from cryptography.x509.oid import NameOID

    from docex.node_keys import open_token
    from docex.signing.keys import KeyStoreError
    from docex.signing.pades import SigningError
    from docex.signing.service import NodeSignatures

    role: Literal["signer", "seal"]
    if key.startswith("seal:"):
        role = "seal"
    elif key.startswith("person:"):
        role = "signer"
    else:
        raise fail("--key is seal:<agency code> or person:<username>", code=2)
    settings = settings_for(data_dir)
    try:
        signatures = NodeSignatures(
            settings.data_dir, passphrase=settings.passphrase, key_store=open_token(settings)
        )
        store = signatures.key_store
        if store is None or not store.has(key):
            raise fail(f"unknown_key: no signing key {key!r} in {settings.data_dir / 'pki'}")
        cert = store.certificate(key)
    except KeyStoreError as exc:
        raise fail(str(exc)) from exc

    def subject(oid: Any) -> str:
        values = cert.subject.get_attributes_for_oid(oid)
        value = values[0].value if values else ""
        return value if isinstance(value, str) else value.decode()

    agency_name = subject(NameOID.ORGANIZATION_NAME)
    signer_name = agency_name if role == "seal" else subject(NameOID.COMMON_NAME)
    try:
        data = input_path.read_bytes()
    except OSError as exc:
        raise fail(f"cannot read {input_path}: {exc.strerror}") from exc
    try:
        with err.status("đang ký / signing…") if not as_json else contextlib.nullcontext():
            signed = signatures.sign_with_key(
                io.BytesIO(data),
                key_id=key,
                role=role,
                signer_name=signer_name,
                agency_name=agency_name,
                now=datetime.now(UTC),
                long_term=lt,
            )
    except SigningError as exc:
        raise fail(f"{exc.code}: {exc.detail}") from exc
    finally:
        signatures.close()  # its bounded worker, which parsed the PDF
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
        print_json(result)
        return
    console.print(
        f"{'sealed' if role == 'seal' else 'signed'} {input_path} → {output} "
        f"({result['level']}, {signer_name}, {len(signed)} bytes)"
    )
