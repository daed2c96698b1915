"""The node's PKI and the certificates of its signing keys: building the PKI and enrolling the
seals and personal keys (in files, or generated on the PKCS#11 token and certified here),
rotating a key, and, for a token whose certificates come from an outside CA, the request out
and the certificate in. The key material itself is only touched by ``docex.signing``; the
audited operations an operator runs are in ``docex.keys.service``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from docex.config import Settings
from docex.keys.directory import HostedSigners
from docex.keys.node import has_node_key_file, node_key, open_token
from docex.keys.paths import KeyPaths
from docex.signing.pki import (
    Pki,
    PkiError,
    PkiLayout,
    agency_code_of,
    build_pki,
    certify_node_key,
    person_key_id,
    seal_key_id,
)

if TYPE_CHECKING:
    from docex.signing.hsm import Certify, Pkcs11KeyStore


def build_node_pki(
    settings: Settings, signers: HostedSigners | None, *, now: datetime
) -> PkiLayout:
    """The node's PKI (CAs, TSA, OCSP; idempotent). With ``signers``, every agency hosted here
    gets a seal key and every leader a custodial personal key (the demo network); the node's
    receipt key, once it exists, gets a certificate so receipts carry a chain (``x5c``)."""
    agencies, people = (signers.agencies, signers.people) if signers else ([], [])
    directory = KeyPaths.of(settings).pki_dir
    token = open_token(settings)
    if token is None:
        layout = build_pki(
            directory,
            agencies,
            people,
            passphrase=settings.passphrase,
            now=now,
            base_url=settings.base_url,
        )
        if has_node_key_file(settings):
            certify_node_key(
                Pki.open(directory, settings.passphrase),
                node_key(settings, None).public_key(),
                node_id=settings.node_id,
                now=now,
            )
        return layout
    try:
        # Keys on the token: the PKI holds only its CAs, TSA and OCSP keys and certifies the
        # public keys the token generated (enrol is idempotent, and resumes a crashed run).
        build_pki(
            directory, [], [], passphrase=settings.passphrase, now=now, base_url=settings.base_url
        )
        pki = Pki.open(directory, settings.passphrase)
        names = dict(agencies)
        for code, name in agencies:
            token.enroll(seal_key_id(code), _seal_certifier(pki, code, name, now))
        for username, full_name, code in people:
            token.enroll(
                person_key_id(username),
                _person_certifier(pki, username, full_name, code, names[code], now),
            )
        certify_node_key(
            pki, node_key(settings, token).public_key(), node_id=settings.node_id, now=now
        )
        return pki.layout()
    finally:
        token.close()


def rotate_signing_key(settings: Settings, key_id: str, *, now: datetime) -> x509.Certificate:
    """A new key and certificate for ``key_id`` (``seal:<code>`` or ``person:<username>``),
    in the data directory or on the token, whichever holds the node's keys. The old
    certificate stays listed (superseded) so that earlier signatures still verify; a running
    node signs with the new key from its next signature. Raises ``PkiError``."""
    pki = Pki.open(KeyPaths.of(settings).pki_dir, settings.passphrase)
    token = open_token(settings)
    if token is None:
        return pki.certificate(pki.rotate(key_id, now=now))
    try:
        if not token.has(key_id):
            raise PkiError(f"no signing key {key_id} on the token")

        def certify(key: ec.EllipticCurvePublicKey) -> x509.Certificate:
            return pki.certificate(pki.rotate(key_id, now=now, public_key=key))

        return token.enroll(key_id, certify, rotate=True)
    finally:
        token.close()


@contextmanager
def token_required(settings: Settings, action: str) -> Iterator[Pkcs11KeyStore]:
    """The node's token, for what only a token does; ``PkiError`` for a node with key files."""
    token = open_token(settings)
    if token is None:
        raise PkiError(
            f"{action} is for keys on a PKCS#11 token (DOCEX_SIGNING__KEY_STORE=pkcs11); this "
            "node keeps its keys in files, certified by its own PKI (docex pki init)"
        )
    try:
        yield token
    finally:
        token.close()


def request_certificate(
    token: Pkcs11KeyStore, key_id: str, subject: x509.Name, *, rotate: bool = False
) -> x509.CertificateSigningRequest:
    """A PKCS#10 request for ``key_id``'s key on the token, for an outside CA (the national
    one). Raises ``KeyStoreError``."""
    return token.request(key_id, subject, rotate=rotate)


def install_signing_certificate(
    token: Pkcs11KeyStore, key_id: str, agency_code: str, certificate: x509.Certificate
) -> int:
    """Put the CA's answer to :func:`request_certificate` on the token, after checking that it
    names the agency ``key_id`` belongs to; returns the key's generation."""
    if agency_code_of(certificate) != agency_code:
        raise PkiError(
            f"the certificate does not name agency {agency_code} (organizationIdentifier)"
        )
    return token.install_certificate(key_id, certificate)


def _seal_certifier(pki: Pki, code: str, name: str, now: datetime) -> Certify:
    def certify(key: ec.EllipticCurvePublicKey) -> x509.Certificate:
        return pki.certificate(pki.issue_seal(code, name, now=now, rotate=True, public_key=key))

    return certify


def _person_certifier(
    pki: Pki, username: str, full_name: str, code: str, agency_name: str, now: datetime
) -> Certify:
    def certify(key: ec.EllipticCurvePublicKey) -> x509.Certificate:
        rec = pki.issue_person(
            username, full_name, code, agency_name=agency_name, now=now, rotate=True, public_key=key
        )
        return pki.certificate(rec)

    return certify
