"""Building a PKI directory (``build_pki``, idempotent) and certifying the node's receipt-signing
key from its issuing CA."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from docex.signing.errors import PkiError
from docex.signing.pki.authority import Pki
from docex.signing.pki.index import PkiLayout, _ensure_dir, _Index
from docex.signing.pki.profiles import CRL_NAMES, DEFAULT_BASE_URL, UnencryptedKeysWarning, _as_utc


def build_pki(
    directory: Path,
    agencies: Sequence[tuple[str, str]],
    people: Sequence[tuple[str, str, str]],
    *,
    passphrase: str | None,
    now: datetime,
    base_url: str = DEFAULT_BASE_URL,
) -> PkiLayout:
    """Build (or complete) the PKI under ``directory``.

    ``agencies`` are ``(code, name)``: each gets a seal certificate. ``people`` are
    ``(username, full name, agency code)``: each gets a personal signer certificate. What already
    exists is kept (same keys, same certificates); ``base_url`` is fixed at the first build.
    """
    now = _as_utc(now)
    if not passphrase:
        warnings.warn(
            f"PKI keys under {directory} are written without encryption: set a passphrase",
            UnencryptedKeysWarning,
            stacklevel=2,
        )
    _ensure_dir(directory)
    for sub in ("certs", "crl", "private"):
        _ensure_dir(directory / sub)
    pki = Pki(directory, passphrase)
    with pki._locked():
        if pki.index_path.exists():
            index = pki._index()
            if index.encrypted != bool(passphrase):
                raise PkiError(
                    "the PKI keys were written "
                    + ("with" if index.encrypted else "without")
                    + " a passphrase; give the same setting again"
                )
            # Fails early, before anything is added, if the passphrase is wrong.
            if any(r.key_id == "ca:issuing" for r in index.records):
                pki.ca_key("issuing")
        else:
            index = _Index(
                base_url=base_url.rstrip("/"),
                encrypted=bool(passphrase),
                records=(),
                revocations=(),
                crl_numbers={},
                agencies={},
            )
            pki._save(index)
        index = pki._ensure_infrastructure(index, now)
        for name in CRL_NAMES:
            if not (directory / "crl" / f"{name}.crl").exists():
                index = pki._issue_crl(index, "root" if name == "root" else "issuing", now)
        pki._save(replace(index, agencies={**index.agencies, **dict(agencies)}))
    for code, name in agencies:
        pki.issue_seal(code, name, now=now)
    for username, full_name, agency_code in people:
        pki.issue_person(username, full_name, agency_code, now=now)
    return pki.layout()


NODE_CERT_FILE = "node.pem"


def certify_node_key(
    pki: Pki, public_key: ec.EllipticCurvePublicKey, *, node_id: str, now: datetime
) -> Path:
    """Issue (once) the certificate of the node's receipt-signing key from the issuing CA, so a
    receipt's ``x5c`` chains to the root without docex. Returns the PEM chain's path."""
    path = pki.directory / "certs" / NODE_CERT_FILE
    if path.exists():
        current = x509.load_pem_x509_certificates(path.read_bytes())[0]
        if current.public_key() == public_key:
            return path
    issuer = pki.issuing_certificate
    now = _as_utc(now)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "docex"),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"docex node {node_id}"[:64]),
                ]
            )
        )
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3 * 365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer.public_key()  # type: ignore[arg-type]
            ),
            critical=False,
        )
        .sign(pki.ca_key("issuing"), hashes.SHA256())
    )
    chain = [cert, issuer, pki.root_certificate]
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
    return path
