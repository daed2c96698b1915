"""Building the node's signature services once, from plain settings: the hosted demo PKI (when
the node's PKI directory holds one), its time-stamping authority and OCSP responder, the trust
roots, the key store, the time-stamper and the B-LT revocation contexts. ``create_app`` and the
CLI both call :func:`build_signatures`; nothing else constructs these collaborators.

The time-stamper is the node's own authority, in-process, unless ``tsa_url`` names an outside
RFC 3161 authority (``DOCEX_SIGNING__TSA_URL``); a node with neither (no hosted PKI, no URL)
cannot sign, and says so (``unknown_key``: it holds no usable signing set-up).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

from docex.signing.keystore import FileKeyStore, KeyStore
from docex.signing.ocsp import OcspResponder
from docex.signing.pades import RevocationContexts
from docex.signing.pki import INDEX_FILE, Pki
from docex.signing.sandbox import ValidatorPool
from docex.signing.service import (
    HostedPki,
    NodeSignatures,
    SigningAudit,
    ValidationLimits,
)
from docex.signing.timestamps import (
    HttpTimeStamper,
    InProcessTimeStamper,
    TimeStamper,
    authority_from_pki,
)
from docex.signing.validation import TrustConfig


def hosted_pki(directory: Path, passphrase: str | None) -> HostedPki | None:
    """The demo PKI in ``directory`` (``docex.keys.paths``) with its services, or None when there
    is none."""
    if not (directory / INDEX_FILE).exists():
        return None
    pki = Pki.open(directory, passphrase)
    return HostedPki(pki=pki, authority=authority_from_pki(pki), responder=OcspResponder(pki))


def trust_config(roots: Sequence[Path], hosted: HostedPki | None) -> TrustConfig | None:
    """The configured roots, plus the hosted PKI's own root; None when there are none."""
    ders = [_der(path.read_bytes()) for path in roots]
    if hosted is not None:
        ders.append(hosted.pki.root_certificate.public_bytes(serialization.Encoding.DER))
    return TrustConfig(roots=tuple(ders)) if ders else None


def time_stamper(tsa_url: str | None, hosted: HostedPki | None) -> TimeStamper | None:
    """An outside authority when ``tsa_url`` is set, else the hosted PKI's, in-process."""
    if tsa_url:
        return HttpTimeStamper(tsa_url)
    return InProcessTimeStamper(hosted.authority) if hosted is not None else None


def build_signatures(
    pki_dir: Path,
    *,
    passphrase: str | None,
    audit: SigningAudit,
    key_store: KeyStore | None = None,
    trust_roots: Sequence[Path] = (),
    tsa_url: str | None = None,
    limits: ValidationLimits = ValidationLimits(),
    pool: ValidatorPool | None = None,
    spool_dir: Path | None = None,
    on_validated: Callable[[float], object] | None = None,
) -> NodeSignatures:
    """The node's ``NodeSignatures`` and every collaborator it uses. ``key_store``: a PKCS#11
    token, else the hosted PKI's key files."""
    hosted = hosted_pki(pki_dir, passphrase)
    if key_store is None and hosted is not None:
        key_store = FileKeyStore(pki_dir, passphrase)
    return NodeSignatures(
        trust=trust_config(trust_roots, hosted),
        key_store=key_store,
        timestamper=time_stamper(tsa_url, hosted),
        revocation=RevocationContexts(hosted.pki, responder=hosted.responder) if hosted else None,
        hosted=hosted,
        audit=audit,
        limits=limits,
        pool=pool,
        spool_dir=spool_dir,
        on_validated=on_validated,
    )


def _der(data: bytes) -> bytes:
    if b"-----BEGIN" in data:
        return x509.load_pem_x509_certificate(data).public_bytes(serialization.Encoding.DER)
    return data
