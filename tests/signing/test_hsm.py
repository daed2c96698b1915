"""Signing keys on a real PKCS#11 token (SoftHSM2): a leader signs and the agency seals with keys
that never leave the token, and the document passes the node's own Decree 30 intake policy;
rotation, interrupted enrolment, foreign certificates, PINs and receipts signed on the token."""

from __future__ import annotations

import hashlib
import io
import json
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pkcs11
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from jwcrypto import jwk, jws
from pkcs11 import Attribute, ObjectClass

from docex.config import Settings
from docex.kit.samplepdf import sample_pdf
from docex.signing.hsm import Pkcs11KeyStore
from docex.signing.jws import NodeSigner
from docex.signing.keys import KeyStoreError
from docex.signing.keystore import UnknownKeyError
from docex.signing.pades import SigningError, revocation_context, sign_pdf
from docex.signing.pki import Pki, UnencryptedKeysWarning, build_pki, seal_subject
from docex.signing.timestamps import InProcessTimeStamper, authority_from_pki
from docex.signing.validation import STRICT_DECREE_30, Indication, TrustConfig, validate_pdf
from tests.signing.softhsm import Token

AGENCY = ("000.00.00.G22", "Văn phòng Chính phủ")
LEADER = ("lanhdao.vpcp", "Nguyễn Văn An")
SEAL = f"seal:{AGENCY[0]}"
PERSON = f"person:{LEADER[0]}"


class Hsm:
    """A PKI whose CAs are files (as in the demo) and whose signing keys are on the token."""

    def __init__(self, token: Token, directory: Path) -> None:
        self.token = token
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UnencryptedKeysWarning)
            build_pki(directory, [], [], passphrase=None, now=datetime.now(UTC))
        self.directory = directory
        self.pki = Pki.open(directory, None)
        self.store = self.open()
        self.timestamper = InProcessTimeStamper(authority_from_pki(self.pki))

    def open(self) -> Pkcs11KeyStore:
        return Pkcs11KeyStore(
            self.token.module, self.token.label, self.token.pin, chain=self.pki.chain()
        )

    def certify_seal(self, key: ec.EllipticCurvePublicKey) -> x509.Certificate:
        rec = self.pki.issue_seal(*AGENCY, now=datetime.now(UTC), rotate=True, public_key=key)
        return self.pki.certificate(rec)

    def certify_person(self, key: ec.EllipticCurvePublicKey) -> x509.Certificate:
        rec = self.pki.issue_person(
            *LEADER, AGENCY[0], agency_name=AGENCY[1], now=datetime.now(UTC), rotate=True,
            public_key=key,
        )  # fmt: skip
        return self.pki.certificate(rec)

    def enroll(self) -> None:
        self.store.enroll(SEAL, self.certify_seal)
        self.store.enroll(PERSON, self.certify_person)

    def sign(self, pdf: bytes, role: str) -> bytes:
        return sign_pdf(
            io.BytesIO(pdf),
            key_store=self.store,
            key_id=SEAL if role == "seal" else PERSON,
            role="seal" if role == "seal" else "signer",
            timestamper=self.timestamper,
            validation_context=revocation_context(self.pki),
            signer_name=LEADER[1],
            agency_name=AGENCY[1],
            now=datetime.now(UTC),
        )

    def validate(self, pdf: bytes, tmp_path: Path) -> tuple[Indication, list[str | None]]:
        path = tmp_path / f"{hashlib.sha256(pdf).hexdigest()[:12]}.pdf"
        path.write_bytes(pdf)
        root = self.pki.root_certificate.public_bytes(serialization.Encoding.DER)
        report = validate_pdf(
            path,
            sender_agency=AGENCY[0],
            trust=TrustConfig(roots=(root,)),
            policy=STRICT_DECREE_30,
        )
        return report.indication, [s.certificate_sha256 for s in report.signatures]


@pytest.fixture
def hsm(hsm_token: Token, tmp_path: Path) -> Iterator[Hsm]:
    made = Hsm(hsm_token, tmp_path / "pki")
    yield made
    made.store.close()


def _fingerprint(cert: x509.Certificate) -> str:
    return cert.fingerprint(hashes.SHA256()).hex()


def _objects(token: Token, object_class: ObjectClass) -> list[dict[Any, Any]]:
    """What the token holds, read over a session of its own (as an auditor would)."""
    found = pkcs11.lib(str(token.module)).get_token(token_label=token.label)
    try:
        session = found.open(user_pin=token.pin)
    except pkcs11.exceptions.UserAlreadyLoggedIn:
        session = found.open()
    with session:
        out = []
        for obj in session.get_objects({Attribute.CLASS: object_class}):
            out.append({a: obj[a] for a in (Attribute.LABEL, Attribute.ID)} | {"object": obj})
            if object_class is ObjectClass.PRIVATE_KEY:
                for attr in (
                    Attribute.SENSITIVE,
                    Attribute.ALWAYS_SENSITIVE,
                    Attribute.EXTRACTABLE,
                    Attribute.NEVER_EXTRACTABLE,
                ):
                    out[-1][attr] = obj[attr]
                with pytest.raises(pkcs11.exceptions.AttributeSensitive):
                    obj[Attribute.VALUE]
        return out


# -- the Decree 30 flow on the token -----------------------------------------------------------


def test_signed_and_sealed_on_the_token_passes_the_intake_policy(hsm: Hsm, tmp_path: Path) -> None:
    hsm.enroll()
    signed = hsm.sign(sample_pdf("Công văn ký trên HSM", size=50_000), "signer")
    sealed = hsm.sign(signed, "seal")

    indication, fingerprints = hsm.validate(sealed, tmp_path)
    assert indication is Indication.OK
    assert fingerprints == [
        _fingerprint(hsm.store.certificate(PERSON)),
        _fingerprint(hsm.store.certificate(SEAL)),
    ]
    keys = _objects(hsm.token, ObjectClass.PRIVATE_KEY)
    assert sorted(str(k[Attribute.LABEL]) for k in keys) == [PERSON, SEAL]


def test_private_keys_are_generated_on_the_token_and_never_leave_it(hsm: Hsm) -> None:
    hsm.enroll()
    hsm.store.node_key()
    keys = _objects(hsm.token, ObjectClass.PRIVATE_KEY)
    assert sorted(str(k[Attribute.LABEL]) for k in keys) == ["node", PERSON, SEAL]
    for key in keys:
        assert key[Attribute.SENSITIVE] is True
        assert key[Attribute.ALWAYS_SENSITIVE] is True
        assert key[Attribute.EXTRACTABLE] is False
        assert key[Attribute.NEVER_EXTRACTABLE] is True
    # The PKI directory holds its own CA/TSA/OCSP keys, none for the token's key ids.
    assert sorted(p.name for p in (hsm.directory / "private").iterdir()) == [
        "issuing.key.pem",
        "ocsp.key.pem",
        "root.key.pem",
        "tsa.key.pem",
    ]
    for rec in hsm.pki.history(SEAL) + hsm.pki.history(PERSON):
        assert rec.key == ""


def test_key_ids_and_certificates(hsm: Hsm) -> None:
    assert hsm.store.key_ids() == ()
    assert not hsm.store.has(SEAL)
    hsm.enroll()
    hsm.store.node_key()
    assert hsm.store.key_ids() == (PERSON, SEAL)
    assert hsm.store.has(SEAL)
    assert hsm.store.has(PERSON)
    seal = hsm.store.certificate(SEAL)
    assert seal.subject == hsm.pki.certificate(hsm.pki.current(SEAL)).subject  # type: ignore[arg-type]
    assert hsm.store.certificates(SEAL) == (seal,)
    # The receipt key is on the token, but it never signs a PDF.
    assert not hsm.store.has("node")
    with pytest.raises(UnknownKeyError):
        hsm.store.signer_for("node")
    with pytest.raises(UnknownKeyError):
        hsm.store.signer_for("seal:000.00.00.X99")
    assert hsm.store.certificates("ca:root") == ()


def test_enrolling_again_keeps_the_key(hsm: Hsm) -> None:
    first = hsm.store.enroll(SEAL, hsm.certify_seal)

    def must_not_certify(_key: ec.EllipticCurvePublicKey) -> x509.Certificate:
        raise AssertionError("a certified key was re-certified")

    assert hsm.store.enroll(SEAL, must_not_certify) == first
    assert len(_objects(hsm.token, ObjectClass.PRIVATE_KEY)) == 1
    assert len(_objects(hsm.token, ObjectClass.CERTIFICATE)) == 1


def test_an_interrupted_enrolment_is_resumed_with_the_same_key(hsm: Hsm) -> None:
    seen: list[ec.EllipticCurvePublicKey] = []

    def crash(key: ec.EllipticCurvePublicKey) -> x509.Certificate:
        seen.append(key)
        raise RuntimeError("the CA went away")

    with pytest.raises(RuntimeError):
        hsm.store.enroll(SEAL, crash)
    assert not hsm.store.has(SEAL)
    certificate = hsm.store.enroll(SEAL, hsm.certify_seal)
    assert certificate.public_key() == seen[0]
    assert len(_objects(hsm.token, ObjectClass.PRIVATE_KEY)) == 1


def test_rotation_signs_with_the_new_key_and_keeps_the_old_certificate(
    hsm: Hsm, tmp_path: Path
) -> None:
    hsm.enroll()
    before = hsm.sign(hsm.sign(sample_pdf("Trước khi đổi khóa"), "signer"), "seal")
    old = hsm.store.certificate(SEAL)

    new = hsm.store.enroll(SEAL, hsm.certify_seal, rotate=True)
    assert new.public_key() != old.public_key()
    assert hsm.store.certificate(SEAL) == new
    assert hsm.store.certificates(SEAL) == (old, new)
    # A store opened afterwards (another process) sees the same current key.
    other = hsm.open()
    assert other.certificate(SEAL) == new
    other.close()

    after = hsm.sign(hsm.sign(sample_pdf("Sau khi đổi khóa"), "signer"), "seal")
    assert hsm.validate(after, tmp_path) == (
        Indication.OK,
        [_fingerprint(hsm.store.certificate(PERSON)), _fingerprint(new)],
    )
    # What was sealed before the rotation still validates: the old key was not revoked.
    assert hsm.validate(before, tmp_path) == (
        Indication.OK,
        [_fingerprint(hsm.store.certificate(PERSON)), _fingerprint(old)],
    )


def test_a_certificate_for_another_key_is_refused_and_installing_twice_is_harmless(
    hsm: Hsm,
) -> None:
    certificate = hsm.store.enroll(SEAL, hsm.certify_seal)
    stranger = hsm.certify_seal(ec.generate_private_key(ec.SECP256R1()).public_key())
    with pytest.raises(KeyStoreError, match="for no key"):
        hsm.store.install_certificate(SEAL, stranger)
    with pytest.raises(KeyStoreError, match="for no key"):
        hsm.store.install_certificate(PERSON, certificate)
    assert hsm.store.install_certificate(SEAL, certificate) == 1
    assert len(_objects(hsm.token, ObjectClass.CERTIFICATE)) == 1
    assert hsm.store.certificate(SEAL) == certificate


# -- opening the token -------------------------------------------------------------------------


def test_a_wrong_pin_is_refused_and_never_shown(hsm_token: Token) -> None:
    wrong = "98765432"
    with pytest.raises(KeyStoreError, match="refused the PIN") as first:
        Pkcs11KeyStore(hsm_token.module, hsm_token.label, wrong)
    store = Pkcs11KeyStore(hsm_token.module, hsm_token.label, hsm_token.pin)
    try:
        # Logged in already (PKCS#11 logs in per process): the PIN is still checked.
        with pytest.raises(KeyStoreError, match="refused the PIN") as second:
            Pkcs11KeyStore(hsm_token.module, hsm_token.label, wrong)
        shared = Pkcs11KeyStore(hsm_token.module, hsm_token.label, hsm_token.pin)
        shared.close()
        assert store.key_ids() == ()  # closing one store leaves the other logged in
    finally:
        store.close()
    for raised in (first.value, second.value):
        text = f"{raised} {raised!r} {raised.__cause__!r}"
        assert wrong not in text
        assert hsm_token.pin not in text
    assert hsm_token.pin not in repr(store)


def test_an_unknown_token_or_module_is_a_clear_error(hsm_token: Token, tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="no PKCS#11 token labelled 'absent'"):
        Pkcs11KeyStore(hsm_token.module, "absent", hsm_token.pin)
    with pytest.raises(KeyStoreError, match="cannot load the PKCS#11 module"):
        Pkcs11KeyStore(tmp_path / "missing.so", hsm_token.label, hsm_token.pin)


def test_settings_name_what_a_pkcs11_key_store_lacks() -> None:
    with pytest.raises(ValueError, match="DOCEX_SIGNING__PKCS11_TOKEN, DOCEX_SIGNING__PKCS11_PIN"):
        Settings.model_validate(
            {"signing": {"key_store": "pkcs11", "pkcs11_module": "/x/libsofthsm2.so"}}
        )
    settings = Settings.model_validate(
        {
            "signing": {
                "key_store": "pkcs11",
                "pkcs11_module": "/x/libsofthsm2.so",
                "pkcs11_token": "t",
                "pkcs11_pin": "123456",
            }
        }
    )
    assert "123456" not in repr(settings)


# -- the node's receipt key ----------------------------------------------------------------------


def test_receipts_signed_on_the_token_verify_with_an_independent_library(hsm: Hsm) -> None:
    key = hsm.store.node_key()
    signer = NodeSigner(key, "hsm-node")
    token = signer.sign({"document_id": "d-1", "code": "01", "text": "Đã đến"})

    keys = jwk.JWKSet.from_json(json.dumps(signer.jwks()))
    obj = jws.JWS()
    obj.deserialize(token)
    obj.verify(keys.get_key(obj.jose_header["kid"]), alg="ES256")
    assert json.loads(obj.payload)["text"] == "Đã đến"
    assert signer.verify(token)["code"] == "01"

    # The same key on the next start: same kid, so receipts already issued still verify.
    reopened = hsm.open()
    assert NodeSigner(reopened.node_key(), "hsm-node").kid == signer.kid
    reopened.close()
    assert len(_objects(hsm.token, ObjectClass.PRIVATE_KEY)) == 1


def test_threads_share_the_token_session(hsm: Hsm) -> None:
    hsm.enroll()
    signer = hsm.store.signer_for(SEAL)
    public = hsm.store.certificate(SEAL).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)

    def sign(i: int) -> tuple[bytes, bytes]:
        data = f"message {i}".encode()
        return data, signer.sign_raw(data, "sha256")

    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(sign, range(64)))
    for data, signature in results:
        public.verify(signature, data, ec.ECDSA(hashes.SHA256()))


def test_a_closed_store_is_key_unavailable_not_a_crash(hsm: Hsm) -> None:
    hsm.enroll()
    key = hsm.store.node_key()
    hsm.store.close()
    with pytest.raises(SigningError) as refused:
        hsm.sign(sample_pdf("Kho khóa đã đóng"), "seal")
    assert refused.value.code == "key_unavailable"
    with pytest.raises(KeyStoreError, match="closed"):
        key.sign(b"receipt")


def test_a_session_the_token_dropped_is_logged_in_again(hsm: Hsm, tmp_path: Path) -> None:
    """An HSM that restarts or reconnects forgets its sessions: the next operation logs in
    again (once) instead of failing until the node restarts."""
    hsm.enroll()
    receipts = NodeSigner(hsm.store.node_key(), "hsm-node")
    signer = hsm.store.signer_for(SEAL)
    dropped = hsm.store._login.session
    dropped.close()  # what the token does when it drops us
    assert receipts.verify(receipts.sign({"code": "01"}))["code"] == "01"
    assert hsm.store._login.session is not dropped  # a new session, logged in
    hsm.store._login.session.close()
    signature = signer.sign_raw(b"data", "sha256")
    public = hsm.store.certificate(SEAL).public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    public.verify(signature, b"data", ec.ECDSA(hashes.SHA256()))
    hsm.store._login.session.close()
    sealed = hsm.sign(hsm.sign(sample_pdf("HSM khởi động lại"), "signer"), "seal")
    assert hsm.validate(sealed, tmp_path)[0] is Indication.OK


def test_a_request_for_an_outside_ca_is_signed_on_the_token_and_its_answer_installed(
    hsm: Hsm, tmp_path: Path
) -> None:
    subject = seal_subject(*AGENCY)
    csr = hsm.store.request(SEAL, subject)
    assert csr.is_signature_valid
    assert csr.subject == subject
    assert isinstance(csr.signature_hash_algorithm, hashes.SHA256)
    # Asking again before the answer keeps the same key pair.
    assert hsm.store.request(SEAL, subject).public_key() == csr.public_key()
    assert not hsm.store.has(SEAL)

    public = csr.public_key()
    assert isinstance(public, ec.EllipticCurvePublicKey)
    issued = hsm.certify_seal(public)  # the outside CA's answer
    assert hsm.store.install_certificate(SEAL, issued) == 1
    assert hsm.store.certificate(SEAL) == issued
    hsm.store.enroll(PERSON, hsm.certify_person)
    sealed = hsm.sign(hsm.sign(sample_pdf("Chứng thư từ CA quốc gia"), "signer"), "seal")
    assert hsm.validate(sealed, tmp_path)[0] is Indication.OK

    with pytest.raises(KeyStoreError, match="already has a certified key"):
        hsm.store.request(SEAL, subject)
    renewal = hsm.store.request(SEAL, subject, rotate=True)
    assert renewal.public_key() != csr.public_key()
    assert hsm.store.certificate(SEAL) == issued  # still signs with the old key until installed
