"""The node's keys, wherever they live: files in the data directory or a PKCS#11 token.

Where the receipt key comes from (:func:`node_key`, :func:`ensure_node_key`), which store holds
the signing keys (:func:`open_token`), how the node's PKI certifies them
(:func:`build_node_pki`), and what an operator does to them later: rotation
(:func:`rotate_signing_key`) and, for a token whose certificates come from an outside CA,
a request out and the certificate in (:func:`request_certificate`,
:func:`install_signing_certificate`). ``docex init``, ``create_app`` and ``docex pki`` call
these; the keys themselves are only touched in ``docex.signing``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from docex.agencies.models import Agency
from docex.auth.models import Principal
from docex.config import Settings
from docex.db import Database
from docex.kit.clock import SystemClock
from docex.signing.jws import EcdsaKey
from docex.signing.keys import NODE_KEY_FILE, create_node_key, load_node_key
from docex.signing.pki import (
    Pki,
    PkiError,
    PkiLayout,
    agency_code_of,
    build_pki,
    certify_node_key,
    person_key_id,
    person_subject,
    seal_key_id,
    seal_subject,
)
from docex.signing.service import PKI_DIR

if TYPE_CHECKING:
    from docex.signing.hsm import Certify, Pkcs11KeyStore


def open_token(settings: Settings) -> Pkcs11KeyStore | None:
    """The node's PKCS#11 key store when ``DOCEX_SIGNING__KEY_STORE=pkcs11``, else None."""
    signing = settings.signing
    if signing.key_store != "pkcs11":
        return None
    from docex.signing.hsm import Pkcs11KeyStore

    module, label, pin = signing.pkcs11_module, signing.pkcs11_token, signing.pkcs11_pin
    if module is None or label is None or pin is None:
        raise ValueError("key_store 'pkcs11' needs a module, a token label and a PIN")
    pki_chain = settings.data_dir / PKI_DIR / "certs" / "chain.pem"
    chain = x509.load_pem_x509_certificates(pki_chain.read_bytes()) if pki_chain.exists() else []
    return Pkcs11KeyStore(module, label, pin.get_secret_value(), chain=chain)


def node_key(
    settings: Settings, token: Pkcs11KeyStore | None
) -> EcdsaKey | ec.EllipticCurvePrivateKey:
    """The node's receipt-signing key: on the token, or the file made by ``docex init``."""
    if token is not None:
        return token.node_key()
    return load_node_key(settings.keys_dir, settings.passphrase)


def ensure_node_key(settings: Settings) -> bool:
    """Create the node's receipt key if it has none (on the token or as a file); True if it
    was created."""
    token = open_token(settings)
    if token is None:
        return create_node_key(settings.keys_dir, settings.passphrase)
    try:
        created = not token.has_node_key()
        token.node_key()
        return created
    finally:
        token.close()


def hosted_signers(
    session: Any, node_id: str
) -> tuple[list[tuple[str, str]], list[tuple[str, str, str]]]:
    """Active agencies hosted here (code, name) and their leaders (username, name, agency)."""
    agencies = [
        (a.id, a.name)
        for a in session.scalars(
            select(Agency)
            .where(Agency.node_id == node_id, Agency.status == "active")
            .order_by(Agency.id)
        )
    ]
    codes = {code for code, _ in agencies}
    leaders = [
        (p.username, p.full_name or p.username, p.agency_id)
        for p in session.scalars(
            select(Principal)
            .where(Principal.kind == "leader", Principal.active.is_(True))
            .order_by(Principal.username)
        )
        if p.username and p.agency_id in codes
    ]
    return agencies, leaders


def build_node_pki(settings: Settings, session: Any | None) -> PkiLayout:
    """The node's PKI (CAs, TSA, OCSP; idempotent). Given a session, every agency hosted here
    gets a seal key and every leader a custodial personal key (the demo network); the node's
    receipt key, once it exists, gets a certificate so receipts carry a chain (``x5c``)."""
    agencies, people = hosted_signers(session, settings.node_id) if session else ([], [])
    directory = settings.data_dir / PKI_DIR
    now = SystemClock().now()
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
        if (settings.keys_dir / NODE_KEY_FILE).exists():
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


def rotate_signing_key(settings: Settings, key_id: str) -> x509.Certificate:
    """A new key and certificate for ``key_id`` (``seal:<code>`` or ``person:<username>``),
    in the data directory or on the token, whichever holds the node's keys. The old
    certificate stays listed (superseded) so that earlier signatures still verify; a running
    node signs with the new key from its next signature. Raises ``PkiError``."""
    pki = Pki.open(settings.data_dir / PKI_DIR, settings.passphrase)
    now = SystemClock().now()
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


def signing_subject(settings: Settings, key_id: str) -> tuple[str, x509.Name]:
    """The agency code and certificate subject for ``key_id``, from this node's directory: an
    active agency hosted here (``seal:<code>``) or an active person (``person:<username>``)."""
    db = Database(settings.resolved_database_url)
    try:
        with db.read() as session:
            return _subject_from_directory(session, settings.node_id, key_id)
    except SQLAlchemyError as exc:
        raise PkiError(
            f"cannot read the node's directory ({type(exc).__name__}); run `docex init` first"
        ) from exc
    finally:
        db.dispose()


def _subject_from_directory(session: Any, node_id: str, key_id: str) -> tuple[str, x509.Name]:
    """(agency code, subject) of ``key_id`` from the directory; ``PkiError`` if it has none."""
    if key_id.startswith("seal:"):
        agency = session.get(Agency, key_id.removeprefix("seal:"))
        if agency is None or agency.node_id != node_id or agency.status != "active":
            raise PkiError(f"{key_id}: no active agency of this node has that code")
        return agency.id, seal_subject(agency.id, agency.name)
    if key_id.startswith("person:"):
        username = key_id.removeprefix("person:")
        person = session.scalar(
            select(Principal).where(Principal.username == username, Principal.active.is_(True))
        )
        if person is None or person.agency_id is None:
            raise PkiError(f"{key_id}: no active person of an agency has that username")
        agency = session.get(Agency, person.agency_id)
        name = agency.name if agency is not None else person.agency_id
        full_name = person.full_name or username
        return person.agency_id, person_subject(full_name, person.agency_id, name)
    raise PkiError(f"{key_id!r} is not a signing key id (seal:<code> or person:<username>)")


@contextmanager
def _token_required(settings: Settings, action: str) -> Iterator[Pkcs11KeyStore]:
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
    settings: Settings, key_id: str, *, rotate: bool = False
) -> x509.CertificateSigningRequest:
    """A PKCS#10 request for ``key_id``'s key on the token, for an outside CA (the national
    one). Raises ``PkiError`` or ``KeyStoreError``."""
    with _token_required(settings, "a certificate request") as token:
        _, subject = signing_subject(settings, key_id)
        return token.request(key_id, subject, rotate=rotate)


def install_signing_certificate(
    settings: Settings, key_id: str, certificate: x509.Certificate
) -> int:
    """Put the CA's answer to :func:`request_certificate` on the token, after checking that it
    names the agency ``key_id`` belongs to; returns the key's generation."""
    with _token_required(settings, "installing a certificate") as token:
        code, _ = signing_subject(settings, key_id)
        if agency_code_of(certificate) != code:
            raise PkiError(f"the certificate does not name agency {code} (organizationIdentifier)")
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
