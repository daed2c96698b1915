"""The node's PKI (docex.signing.pki), its key store, OCSP responder, CRLs and TSA, and
``docex pki init``: built for real, offline, and checked with independent verifiers
(cryptography's X.509 path validation, pyhanko-certvalidator, raw signature checks)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import shutil
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import typer
from asn1crypto import core, tsp  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509 import ocsp
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from cryptography.x509.verification import ExtensionPolicy, PolicyBuilder, Store
from pyhanko_certvalidator import CertificateValidator, ValidationContext
from pyhanko_certvalidator.errors import RevokedError
from typer.testing import CliRunner

from docex.cli.pki import register
from docex.signing.keys import KeyStoreError
from docex.signing.keystore import FileKeyStore, KeyStore, UnknownKeyError
from docex.signing.ocsp import InProcessFetcherBackend, OcspResponder, crl_bytes
from docex.signing.pki import (
    Pki,
    PkiError,
    UnencryptedKeysWarning,
    agency_code_of,
    build_pki,
    load_private_key,
)
from docex.signing.timestamps import TSA_POLICY, TimeStampAuthority, authority_from_pki

PASSPHRASE = "correct horse battery staple"
G22 = ("000.00.00.G22", "Văn phòng Chính phủ")
H41 = ("000.00.00.H41", "Ủy ban nhân dân tỉnh Nghệ An")
LEADER = ("lanhdao.vpcp", "Nguyễn Văn An", G22[0])
BASE_URL = "http://node.test:8000"


def _build(directory: Path, **kwargs: Any) -> Pki:
    build_pki(
        directory,
        [G22, H41],
        [LEADER],
        passphrase=PASSPHRASE,
        now=datetime.now(UTC),
        base_url=BASE_URL,
        **kwargs,
    )
    return Pki.open(directory, PASSPHRASE)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A PKI shared by the read-only tests of this module."""
    return _build(tmp_path_factory.mktemp("pki") / "pki")


@pytest.fixture
def fresh_pki(tmp_path: Path) -> Pki:
    """A PKI of its own, for tests that revoke or rotate."""
    return _build(tmp_path / "pki")


def _cert(pki: Pki, key_id: str) -> x509.Certificate:
    rec = pki.current(key_id)
    assert rec is not None, key_id
    return pki.certificate(rec)


def _asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def _values(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in cert.subject.get_attributes_for_oid(oid)]


# -- certificates ------------------------------------------------------------------------------


@pytest.mark.parametrize("key_id", ["seal:000.00.00.G22", "person:lanhdao.vpcp", "tsa", "ocsp"])
def test_chain_verifies_to_the_root_with_cryptography(pki: Pki, key_id: str) -> None:
    verifier = (
        PolicyBuilder()
        .store(Store([pki.root_certificate]))
        .time(datetime.now(UTC))
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca(),
            ee_policy=ExtensionPolicy.permit_all(),
        )
        .build_client_verifier()
    )
    chain = verifier.verify(_cert(pki, key_id), [pki.issuing_certificate]).chain
    assert [c.subject for c in chain[1:]] == [
        pki.issuing_certificate.subject,
        pki.root_certificate.subject,
    ]
    assert chain[-1].subject.rfc4514_string() == "CN=docex Demo Root CA,O=docex demo PKI,C=VN"
    assert _values(chain[1], NameOID.COMMON_NAME) == ["docex Demo Issuing CA"]


def test_seal_and_person_validate_with_revocation_checked_in_process(pki: Pki) -> None:
    context = ValidationContext(
        trust_roots=[_asn1(pki.root_certificate)],
        other_certs=[_asn1(pki.issuing_certificate)],
        allow_fetching=True,
        fetcher_backend=InProcessFetcherBackend(pki),
        revocation_mode="hard-fail",
    )
    for key_id in ("seal:000.00.00.G22", "person:lanhdao.vpcp"):
        validator = CertificateValidator(_asn1(_cert(pki, key_id)), validation_context=context)
        path = asyncio.run(validator.async_validate_usage({"non_repudiation"}))
        assert path.leaf.subject == _asn1(_cert(pki, key_id)).subject


def test_seal_certificate_names_the_agency_and_carries_its_code(pki: Pki) -> None:
    seal = _cert(pki, "seal:000.00.00.G22")
    assert _values(seal, NameOID.ORGANIZATION_IDENTIFIER) == ["VN:000.00.00.G22"]
    assert agency_code_of(seal) == "000.00.00.G22"
    assert _values(seal, NameOID.ORGANIZATION_NAME) == ["Văn phòng Chính phủ"]
    assert _values(seal, NameOID.COMMON_NAME) == ["Văn phòng Chính phủ"]
    assert _values(seal, NameOID.COUNTRY_NAME) == ["VN"]
    assert _values(seal, NameOID.GIVEN_NAME) == []
    assert _values(seal, NameOID.SURNAME) == []
    usage = seal.extensions.get_extension_for_class(x509.KeyUsage)
    assert usage.critical
    assert usage.value.digital_signature
    assert usage.value.content_commitment
    assert not usage.value.key_cert_sign
    assert seal.extensions.get_extension_for_class(x509.BasicConstraints).value.ca is False
    assert isinstance(seal.public_key(), ec.EllipticCurvePublicKey)
    assert seal.signature_hash_algorithm is not None
    assert seal.signature_hash_algorithm.name == "sha256"


def test_person_certificate_has_non_repudiation_and_a_personal_name(pki: Pki) -> None:
    person = _cert(pki, "person:lanhdao.vpcp")
    usage = person.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.content_commitment  # nonRepudiation
    assert usage.digital_signature
    assert _values(person, NameOID.COMMON_NAME) == ["Nguyễn Văn An"]
    assert _values(person, NameOID.SURNAME) == ["Nguyễn"]
    assert _values(person, NameOID.GIVEN_NAME) == ["Văn An"]
    assert _values(person, NameOID.ORGANIZATION_NAME) == ["Văn phòng Chính phủ"]
    assert agency_code_of(person) == "000.00.00.G22"


def test_revocation_pointers_name_the_node_urls(pki: Pki) -> None:
    seal = _cert(pki, "seal:000.00.00.G22")
    cdp = seal.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [n.value for p in cdp for n in p.full_name or []] == [f"{BASE_URL}/pki/crl/issuing.crl"]
    aia = seal.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [d.access_location.value for d in aia] == [f"{BASE_URL}/pki/ocsp"]
    issuing_cdp = pki.issuing_certificate.extensions.get_extension_for_class(
        x509.CRLDistributionPoints
    ).value
    assert [n.value for p in issuing_cdp for n in p.full_name or []] == [
        f"{BASE_URL}/pki/crl/root.crl"
    ]


def test_tsa_has_critical_time_stamping_and_ocsp_responder_needs_no_check(pki: Pki) -> None:
    tsa = _cert(pki, "tsa")
    eku = tsa.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.TIME_STAMPING]
    responder = _cert(pki, "ocsp")
    assert list(responder.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value) == [
        ExtendedKeyUsageOID.OCSP_SIGNING
    ]
    responder.extensions.get_extension_for_class(x509.OCSPNoCheck)
    basic = pki.issuing_certificate.extensions.get_extension_for_class(x509.BasicConstraints)
    assert basic.value.ca
    assert basic.value.path_length == 0


# -- key files -------------------------------------------------------------------------------


def test_key_files_are_0600_in_0700_directories_and_encrypted(pki: Pki) -> None:
    root = pki.directory
    directories = [root, *(p for p in root.rglob("*") if p.is_dir())]
    assert {stat.S_IMODE(d.stat().st_mode) for d in directories} == {0o700}
    keys = sorted((root / "private").glob("*.key.pem"))
    assert len(keys) == 4 + 3  # root, issuing, tsa, ocsp + two seals + one person
    for path in keys:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        with pytest.raises(PkiError, match="passphrase"):
            load_private_key(path, None)
        with pytest.raises(PkiError, match="passphrase"):
            load_private_key(path, "wrong")
        assert isinstance(load_private_key(path, PASSPHRASE), ec.EllipticCurvePrivateKey)


def test_index_lists_every_certificate_and_no_secret(pki: Pki) -> None:
    index = json.loads((pki.directory / "pki.json").read_text(encoding="utf-8"))
    assert {c["key_id"] for c in index["certificates"]} == {
        "ca:root",
        "ca:issuing",
        "tsa",
        "ocsp",
        "seal:000.00.00.G22",
        "seal:000.00.00.H41",
        "person:lanhdao.vpcp",
    }
    assert index["encrypted"] is True
    assert PASSPHRASE not in json.dumps(index)
    layout = pki.layout()
    assert set(layout.certificates) == {
        "seal:000.00.00.G22",
        "seal:000.00.00.H41",
        "person:lanhdao.vpcp",
    }
    assert layout.root_cert.read_bytes() == pki.root_certificate.public_bytes(
        serialization.Encoding.PEM
    )


def test_without_a_passphrase_keys_are_plain_and_a_warning_says_so(tmp_path: Path) -> None:
    with pytest.warns(UnencryptedKeysWarning):
        build_pki(tmp_path / "pki", [G22], [], passphrase=None, now=datetime.now(UTC))
    key = (tmp_path / "pki" / "private" / "root.key.pem").read_bytes()
    assert key.startswith(b"-----BEGIN PRIVATE KEY-----")


def test_building_again_keeps_keys_and_adds_what_is_missing(fresh_pki: Pki) -> None:
    before = {r.key_id: r.serial for r in fresh_pki.records()}
    build_pki(
        fresh_pki.directory,
        [G22, ("000.00.00.H26", "Ủy ban nhân dân thành phố Hà Nội")],
        [LEADER],
        passphrase=PASSPHRASE,
        now=datetime.now(UTC),
    )
    after = {r.key_id: r.serial for r in Pki.open(fresh_pki.directory, PASSPHRASE).records()}
    assert {k: after[k] for k in before} == before
    assert set(after) - set(before) == {"seal:000.00.00.H26"}


def test_building_with_the_wrong_passphrase_changes_nothing(fresh_pki: Pki) -> None:
    index = (fresh_pki.directory / "pki.json").read_bytes()
    with pytest.raises(PkiError, match="passphrase"):
        build_pki(fresh_pki.directory, [G22], [], passphrase="wrong", now=datetime.now(UTC))
    assert (fresh_pki.directory / "pki.json").read_bytes() == index


# -- key store -------------------------------------------------------------------------------


def test_file_key_store_follows_the_key_store_contract(pki: Pki) -> None:
    store = FileKeyStore(pki.directory, PASSPHRASE)
    assert isinstance(store, KeyStore)
    assert set(store.key_ids()) == {
        "seal:000.00.00.G22",
        "seal:000.00.00.H41",
        "person:lanhdao.vpcp",
    }
    assert store.has("seal:000.00.00.G22")
    assert not store.has("seal:000.00.00.X99")
    assert not store.has("ca:root")  # infrastructure keys are not signing keys
    signer = store.signer_for("seal:000.00.00.G22")
    assert signer.signing_cert is not None
    assert signer.signing_cert.dump() == store.certificate("seal:000.00.00.G22").public_bytes(
        serialization.Encoding.DER
    )
    chain = {c.subject.human_friendly for c in signer.cert_registry}
    assert chain == {
        "Common Name: docex Demo Issuing CA, Organization: docex demo PKI, Country: VN",
        "Common Name: docex Demo Root CA, Organization: docex demo PKI, Country: VN",
    }
    signature = signer.sign_raw(b"to be signed", "sha256")
    public_key = store.certificate("seal:000.00.00.G22").public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(signature, b"to be signed", ec.ECDSA(hashes.SHA256()))
    for missing in ("seal:000.00.00.X99", "ca:root", "tsa"):
        with pytest.raises(UnknownKeyError):
            store.signer_for(missing)
        with pytest.raises(UnknownKeyError):
            store.certificate(missing)


def test_key_store_without_the_passphrase_cannot_sign(pki: Pki) -> None:
    store = FileKeyStore(pki.directory, None)
    assert store.has("seal:000.00.00.G22")  # certificates are public
    with pytest.raises(KeyStoreError, match="passphrase"):
        store.signer_for("seal:000.00.00.G22")


def test_key_store_on_a_missing_directory_says_run_init(tmp_path: Path) -> None:
    with pytest.raises(KeyStoreError, match="docex pki init"):
        FileKeyStore(tmp_path / "nothing", PASSPHRASE)


def test_rotation_signs_with_the_new_key_and_keeps_the_old_certificate(fresh_pki: Pki) -> None:
    store = FileKeyStore(fresh_pki.directory, PASSPHRASE)
    old = store.certificate("seal:000.00.00.G22")
    old_signer = store.signer_for("seal:000.00.00.G22")
    new_record = fresh_pki.rotate("seal:000.00.00.G22", now=datetime.now(UTC))
    new = store.certificate("seal:000.00.00.G22")
    assert new.serial_number == new_record.serial != old.serial_number
    assert new.subject == old.subject
    assert new.public_key() != old.public_key()
    assert store.certificates("seal:000.00.00.G22") == (old, new)
    assert store.signer_for("seal:000.00.00.G22") is not old_signer
    history = fresh_pki.history("seal:000.00.00.G22")
    assert history[0].superseded_at is not None
    assert history[1].superseded_at is None
    # a second process sees the same thing from the files
    assert FileKeyStore(fresh_pki.directory, PASSPHRASE).certificates("seal:000.00.00.G22") == (
        old,
        new,
    )


# -- revocation: CRL and OCSP ---------------------------------------------------------------


def _ocsp_request(cert: x509.Certificate, issuer: x509.Certificate, *, nonce: bytes = b"") -> bytes:
    builder = ocsp.OCSPRequestBuilder().add_certificate(cert, issuer, hashes.SHA256())
    if nonce:
        builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
    return builder.build().public_bytes(serialization.Encoding.DER)


def _verified_ocsp(pki: Pki, der: bytes) -> ocsp.OCSPResponse:
    response = ocsp.load_der_ocsp_response(der)
    assert response.response_status is ocsp.OCSPResponseStatus.SUCCESSFUL
    responder = _cert(pki, "ocsp")
    assert response.certificates == [responder]
    responder.verify_directly_issued_by(pki.issuing_certificate)
    assert response.signature_hash_algorithm is not None
    public_key = responder.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(
        response.signature,
        response.tbs_response_bytes,
        ec.ECDSA(response.signature_hash_algorithm),
    )
    assert response.responder_key_hash is not None
    return response


def test_revoking_updates_the_crl_and_the_ocsp_answer(fresh_pki: Pki) -> None:
    person = _cert(fresh_pki, "person:lanhdao.vpcp")
    seal = _cert(fresh_pki, "seal:000.00.00.G22")
    issuing = fresh_pki.issuing_certificate
    responder = OcspResponder(fresh_pki)
    before = x509.load_der_x509_crl(crl_bytes(fresh_pki, "issuing"))
    assert before.get_revoked_certificate_by_serial_number(person.serial_number) is None
    assert (
        _verified_ocsp(
            fresh_pki, responder.respond(_ocsp_request(person, issuing))
        ).certificate_status
        is ocsp.OCSPCertStatus.GOOD
    )

    when = (datetime.now(UTC) - timedelta(minutes=1)).replace(microsecond=0)
    fresh_pki.revoke(person.serial_number, "key_compromise", when)

    crl = x509.load_der_x509_crl(crl_bytes(fresh_pki, "issuing"))
    assert crl.is_signature_valid(issuing.public_key())  # type: ignore[arg-type]
    entry = crl.get_revoked_certificate_by_serial_number(person.serial_number)
    assert entry is not None
    assert entry.revocation_date_utc == when
    assert entry.extensions.get_extension_for_class(x509.CRLReason).value.reason is (
        x509.ReasonFlags.key_compromise
    )
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number > (
        before.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number
    )
    assert crl.get_revoked_certificate_by_serial_number(seal.serial_number) is None

    revoked = _verified_ocsp(fresh_pki, responder.respond(_ocsp_request(person, issuing)))
    assert revoked.certificate_status is ocsp.OCSPCertStatus.REVOKED
    assert revoked.revocation_time_utc == when
    assert revoked.revocation_reason is x509.ReasonFlags.key_compromise
    assert revoked.serial_number == person.serial_number
    good = _verified_ocsp(fresh_pki, responder.respond(_ocsp_request(seal, issuing)))
    assert good.certificate_status is ocsp.OCSPCertStatus.GOOD

    # a validator that checks revocation (hard fail) now refuses the certificate
    context = ValidationContext(
        trust_roots=[_asn1(fresh_pki.root_certificate)],
        other_certs=[_asn1(issuing)],
        allow_fetching=True,
        fetcher_backend=InProcessFetcherBackend(fresh_pki),
        revocation_mode="hard-fail",
    )
    with pytest.raises(RevokedError):
        asyncio.run(
            CertificateValidator(_asn1(person), validation_context=context).async_validate_usage(
                {"non_repudiation"}
            )
        )


def test_revocation_made_by_another_process_is_answered_at_once(fresh_pki: Pki) -> None:
    responder = OcspResponder(fresh_pki)
    seal = _cert(fresh_pki, "seal:000.00.00.H41")
    other = Pki.open(fresh_pki.directory, PASSPHRASE)  # e.g. `docex` on the command line
    other.revoke(seal.serial_number, "cessation_of_operation", datetime.now(UTC))
    answer = _verified_ocsp(
        fresh_pki, responder.respond(_ocsp_request(seal, fresh_pki.issuing_certificate))
    )
    assert answer.certificate_status is ocsp.OCSPCertStatus.REVOKED


def test_revoking_an_issuing_ca_goes_on_the_root_crl(fresh_pki: Pki) -> None:
    issuing = fresh_pki.issuing_certificate
    fresh_pki.revoke(issuing.serial_number, "ca_compromise", datetime.now(UTC))
    root_crl = x509.load_der_x509_crl(crl_bytes(fresh_pki, "root"))
    assert root_crl.is_signature_valid(fresh_pki.root_certificate.public_key())  # type: ignore[arg-type]
    assert root_crl.get_revoked_certificate_by_serial_number(issuing.serial_number) is not None
    with pytest.raises(PkiError):
        fresh_pki.revoke(12345, "key_compromise", datetime.now(UTC))
    with pytest.raises(PkiError, match="reason"):
        fresh_pki.revoke(issuing.serial_number, "because", datetime.now(UTC))


def test_ocsp_answers_unknown_unauthorized_and_malformed(pki: Pki) -> None:
    responder = OcspResponder(pki)
    stranger_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "stranger")])
    now = datetime.now(UTC)
    stranger = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(pki.issuing_certificate.subject)
        .public_key(stranger_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .sign(stranger_key, hashes.SHA256())
    )
    # same issuer name and key, never issued: unknown
    unknown = _verified_ocsp(
        pki, responder.respond(_ocsp_request(stranger, pki.issuing_certificate))
    )
    assert unknown.certificate_status is ocsp.OCSPCertStatus.UNKNOWN
    # another CA's certificate: not this responder's business
    foreign = ocsp.load_der_ocsp_response(
        responder.respond(_ocsp_request(_cert(pki, "seal:000.00.00.G22"), stranger))
    )
    assert foreign.response_status is ocsp.OCSPResponseStatus.UNAUTHORIZED
    for garbage in (b"", b"\x30\x03\x02\x01\x01", b"not der at all" * 10):
        answer = ocsp.load_der_ocsp_response(responder.respond(garbage))
        assert answer.response_status is ocsp.OCSPResponseStatus.MALFORMED_REQUEST


def test_ocsp_echoes_the_nonce(pki: Pki) -> None:
    responder = OcspResponder(pki)
    request = _ocsp_request(_cert(pki, "tsa"), pki.issuing_certificate, nonce=b"0123456789abcdef")
    response = _verified_ocsp(pki, responder.respond(request))
    nonce = response.extensions.get_extension_for_class(x509.OCSPNonce).value.nonce
    assert nonce == b"0123456789abcdef"
    assert response.next_update_utc is not None
    assert response.next_update_utc - response.this_update_utc == timedelta(days=1)


def test_crl_is_reissued_when_stale(fresh_pki: Pki) -> None:
    first = x509.load_der_x509_crl(crl_bytes(fresh_pki, "issuing"))
    later = datetime.now(UTC) + timedelta(days=2)
    second = x509.load_der_x509_crl(crl_bytes(fresh_pki, "issuing", now=later))
    assert second.last_update_utc > first.last_update_utc
    assert second.next_update_utc is not None
    assert second.next_update_utc - later >= timedelta(days=6)
    with pytest.raises(KeyError):
        crl_bytes(fresh_pki, "../../etc/passwd")


# -- time-stamping authority ----------------------------------------------------------------


def _ts_request(data: bytes, *, algorithm: str = "sha256", nonce: int | None = 42) -> bytes:
    request: dict[str, Any] = {
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": {"algorithm": algorithm},
            "hashed_message": hashlib.new(algorithm, data).digest(),
        },
        "cert_req": True,
    }
    if nonce is not None:
        request["nonce"] = nonce
    return bytes(tsp.TimeStampReq(request).dump())


def test_tsa_grants_a_token_that_verifies_with_its_certificate(pki: Pki) -> None:
    fixed = datetime(2025, 7, 1, 3, 4, 5, tzinfo=UTC)
    authority = authority_from_pki(pki, clock=lambda: fixed)
    response = tsp.TimeStampResp.load(authority.respond(_ts_request(b"document")))
    assert response["status"]["status"].native == "granted"
    signed_data = response["time_stamp_token"]["content"]
    info = signed_data["encap_content_info"]["content"].parsed
    assert info["message_imprint"]["hashed_message"].native == hashlib.sha256(b"document").digest()
    assert info["nonce"].native == 42
    assert info["gen_time"].native == fixed
    assert info["policy"].dotted == TSA_POLICY
    signer_info = signed_data["signer_infos"][0]
    attrs = {a["type"].native: a["values"][0] for a in signer_info["signed_attrs"]}
    content = signed_data["encap_content_info"]["content"].contents
    assert attrs["message_digest"].native == hashlib.sha256(content).digest()
    tsa_cert = _cert(pki, "tsa")
    assert (
        attrs["signing_certificate_v2"]["certs"][0]["cert_hash"].native
        == hashlib.sha256(tsa_cert.public_bytes(serialization.Encoding.DER)).digest()
    )
    public_key = tsa_cert.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    public_key.verify(
        signer_info["signature"].native,
        signer_info["signed_attrs"].untag().dump(),
        ec.ECDSA(hashes.SHA256()),
    )
    embedded = {c.chosen.dump() for c in signed_data["certificates"]}
    assert tsa_cert.public_bytes(serialization.Encoding.DER) in embedded


@pytest.mark.parametrize(
    ("request_der", "fail_info"),
    [
        (_ts_request(b"x", algorithm="sha1"), "bad_alg"),
        (_ts_request(b"x", algorithm="md5"), "bad_alg"),
        (b"\x30\x03\x02\x01\x01", "bad_data_format"),
        (b"garbage", "bad_data_format"),
    ],
)
def test_tsa_rejects_weak_digests_and_garbage(pki: Pki, request_der: bytes, fail_info: str) -> None:
    der = authority_from_pki(pki).respond(request_der)
    response = core.load(der)
    assert len(response) == 1  # PKIStatusInfo only: no token on rejection (RFC 3161)
    status = tsp.PKIStatusInfo.load(response[0].dump())
    assert status["status"].native == "rejection"
    assert fail_info in status["fail_info"].native
    assert status["status_string"].native


def test_tsa_refuses_a_policy_it_does_not_issue(pki: Pki) -> None:
    request = tsp.TimeStampReq.load(_ts_request(b"x"))
    request["req_policy"] = "1.2.3.4"
    authority: TimeStampAuthority = authority_from_pki(pki)
    response = authority.issue(request)
    assert response["status"]["status"].native == "rejection"
    assert "unaccepted_policy" in response["status"]["fail_info"].native


# -- docex pki init ------------------------------------------------------------------------------


@pytest.fixture
def node_env(sqlite_template: Any, tmp_path: Path) -> dict[str, str]:
    """Environment of a node whose database holds the demo network (seeded for test-node)."""
    db = tmp_path / "docex.db"
    shutil.copy(sqlite_template.url, db)
    return {
        "DOCEX_DATA_DIR": str(tmp_path / "data"),
        "DOCEX_DATABASE_URL": f"sqlite:///{db}",
        "DOCEX_NODE_ID": "test-node",
        "DOCEX_SIGNING__KEY_PASSPHRASE": PASSPHRASE,
        "DOCEX_PUBLIC_URL": BASE_URL,
    }


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def main() -> None:
        """docex (test)."""

    register(app)
    return app


def test_pki_init_demo_issues_a_seal_per_agency_and_a_key_per_leader(
    node_env: dict[str, str],
) -> None:
    runner = CliRunner()
    result = runner.invoke(_cli(), ["pki", "init", "--demo", "--json"], env=node_env)
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    seals = {k for k in data["keys"] if k.startswith("seal:")}
    people = {k for k in data["keys"] if k.startswith("person:")}
    assert len(seals) == 7
    assert "seal:000.00.00.G22" in seals
    assert "person:lanhdao.vpcp" in people
    assert len(people) == 7
    assert data["encrypted"] is True
    assert data["base_url"] == BASE_URL
    directory = Path(node_env["DOCEX_DATA_DIR"]) / "pki"
    assert Path(data["directory"]) == directory.resolve()
    serials = {r.key_id: r.serial for r in Pki.open(directory, PASSPHRASE).records()}

    again = runner.invoke(_cli(), ["pki", "init", "--demo", "--json"], env=node_env)
    assert again.exit_code == 0, again.output
    assert {r.key_id: r.serial for r in Pki.open(directory, PASSPHRASE).records()} == serials


def test_pki_init_without_demo_builds_only_the_infrastructure(node_env: dict[str, str]) -> None:
    result = CliRunner().invoke(_cli(), ["pki", "init", "--json"], env=node_env)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["keys"] == []


def test_pki_init_with_another_passphrase_fails_cleanly(node_env: dict[str, str]) -> None:
    runner = CliRunner()
    assert runner.invoke(_cli(), ["pki", "init"], env=node_env).exit_code == 0
    wrong = {**node_env, "DOCEX_SIGNING__KEY_PASSPHRASE": "not the one"}
    result = runner.invoke(_cli(), ["pki", "init", "--demo"], env=wrong)
    assert result.exit_code == 1
    assert "passphrase" in result.output
