"""Data keys wrapped for agencies (HPKE, RFC 9180): each recipient opens its own wrapping and
no one else does; agency id and document context are bound; custodial keys on disk are 0600."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, x25519

from docex.signing.agency_keys import (
    WRAPPED_SIZE,
    AgencyKeyStore,
    KeyLocked,
    KeyUnavailable,
    UnwrapError,
    agency_key_id,
    generate_agency_keypair,
    unwrap_for_agency,
    wrap_for_agency,
)
from docex.storage.encryption import associated_data, decrypt, encrypt, new_data_key

GOV = "000.00.00.G22"
PROVINCE = "000.00.00.H41"
OTHER = "000.00.00.H29"
CONTEXT = associated_data("doc-1", "file-1", "confidential")


@pytest.fixture(scope="module")
def gov_keys() -> tuple[bytes, bytes]:
    return generate_agency_keypair()


def test_wrapped_key_opens_with_the_agency_private_key(gov_keys: tuple[bytes, bytes]) -> None:
    private_pem, public_pem = gov_keys
    dek = new_data_key()
    blob = wrap_for_agency(dek, public_pem, agency_id=GOV, context=CONTEXT)
    assert len(blob) == WRAPPED_SIZE
    assert dek not in blob
    assert blob[5:21].hex() == agency_key_id(public_pem)
    assert unwrap_for_agency(blob, private_pem, agency_id=GOV, context=CONTEXT) == dek


def test_wrapping_is_randomised(gov_keys: tuple[bytes, bytes]) -> None:
    _, public_pem = gov_keys
    dek = new_data_key()
    first = wrap_for_agency(dek, public_pem, agency_id=GOV, context=CONTEXT)
    assert first != wrap_for_agency(dek, public_pem, agency_id=GOV, context=CONTEXT)


def test_wrong_agency_id_does_not_unwrap(gov_keys: tuple[bytes, bytes]) -> None:
    private_pem, public_pem = gov_keys
    blob = wrap_for_agency(new_data_key(), public_pem, agency_id=GOV, context=CONTEXT)
    with pytest.raises(UnwrapError, match="other agency id or document context"):
        unwrap_for_agency(blob, private_pem, agency_id=PROVINCE, context=CONTEXT)


def test_wrong_document_context_does_not_unwrap(gov_keys: tuple[bytes, bytes]) -> None:
    private_pem, public_pem = gov_keys
    blob = wrap_for_agency(new_data_key(), public_pem, agency_id=GOV, context=CONTEXT)
    for other in [
        associated_data("doc-2", "file-1", "confidential"),
        associated_data("doc-1", "file-1", "secret"),
        b"",
    ]:
        with pytest.raises(UnwrapError):
            unwrap_for_agency(blob, private_pem, agency_id=GOV, context=other)


def test_another_agency_key_does_not_unwrap(gov_keys: tuple[bytes, bytes]) -> None:
    _, public_pem = gov_keys
    other_private, _ = generate_agency_keypair()
    blob = wrap_for_agency(new_data_key(), public_pem, agency_id=GOV, context=CONTEXT)
    with pytest.raises(KeyLocked, match="another agency key"):
        unwrap_for_agency(blob, other_private, agency_id=GOV, context=CONTEXT)


def test_any_altered_byte_is_refused(gov_keys: tuple[bytes, bytes]) -> None:
    private_pem, public_pem = gov_keys
    blob = wrap_for_agency(new_data_key(), public_pem, agency_id=GOV, context=CONTEXT)
    for i in range(len(blob)):
        altered = bytearray(blob)
        altered[i] ^= 0x01
        # An altered key id names a key this agency does not hold (the data may be intact, the
        # key elsewhere): refused as locked, not as corrupt. Every other byte is authenticated.
        expected = KeyLocked if 5 <= i < 5 + 16 else UnwrapError
        with pytest.raises(expected):
            unwrap_for_agency(bytes(altered), private_pem, agency_id=GOV, context=CONTEXT)
    with pytest.raises(UnwrapError, match="not a docex"):
        unwrap_for_agency(blob[:-1], private_pem, agency_id=GOV, context=CONTEXT)


def test_encrypted_private_key_needs_its_passphrase() -> None:
    private_pem, public_pem = generate_agency_keypair("agency passphrase")
    assert b"ENCRYPTED PRIVATE KEY" in private_pem
    dek = new_data_key()
    blob = wrap_for_agency(dek, public_pem, agency_id=GOV, context=CONTEXT)
    opened = unwrap_for_agency(
        blob, private_pem, agency_id=GOV, context=CONTEXT, passphrase="agency passphrase"
    )
    assert opened == dek
    for wrong in ["other passphrase", None]:
        with pytest.raises(KeyLocked, match="passphrase"):
            unwrap_for_agency(blob, private_pem, agency_id=GOV, context=CONTEXT, passphrase=wrong)


def test_only_x25519_public_keys_are_accepted() -> None:
    ec_public = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    with pytest.raises(ValueError, match="X25519"):
        wrap_for_agency(new_data_key(), ec_public, agency_id=GOV, context=CONTEXT)
    with pytest.raises(ValueError, match="32 bytes"):
        wrap_for_agency(b"short", generate_agency_keypair()[1], agency_id=GOV, context=CONTEXT)


def test_public_pem_is_subject_public_key_info_x25519(gov_keys: tuple[bytes, bytes]) -> None:
    public = serialization.load_pem_public_key(gov_keys[1])
    assert isinstance(public, x25519.X25519PublicKey)


def test_confidential_blob_opens_for_each_recipient_and_no_one_else(tmp_path: Path) -> None:
    """The sending node encrypts once and wraps the DEK for the sender and two recipients; a
    relay sees only the blob and the wrappings; a third agency's key opens none of them."""
    store = AgencyKeyStore(tmp_path / "keys" / "agencies", passphrase="node passphrase")
    publics = {code: store.create(code) for code in (GOV, PROVINCE, OTHER)}
    document = b"%PDF-1.7 MAT - confidential decision " * 1000
    dek = new_data_key()
    blob = b"".join(encrypt([document], dek, CONTEXT, segment_size=4096))
    wrappings = {
        code: wrap_for_agency(dek, publics[code], agency_id=code, context=CONTEXT)
        for code in (GOV, PROVINCE)
    }
    assert b"confidential decision" not in blob
    for code, wrapped in wrappings.items():
        opened = store.unwrap(code, wrapped, CONTEXT)
        assert b"".join(decrypt([blob], opened, CONTEXT)) == document
        with pytest.raises(KeyUnavailable):
            store.unwrap(OTHER, wrapped, CONTEXT)
    with pytest.raises(KeyLocked, match="another agency key"):
        store.unwrap(PROVINCE, wrappings[GOV], CONTEXT)


def test_store_creates_0600_key_files_in_a_0700_directory(tmp_path: Path) -> None:
    store = AgencyKeyStore(tmp_path / "agencies")
    assert not store.has(GOV)
    public_pem = store.create(GOV)
    assert store.has(GOV)
    assert store.public_pem(GOV) == public_pem
    assert stat.S_IMODE((tmp_path / "agencies").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "agencies" / f"{GOV}.pem").stat().st_mode) == 0o600
    assert [p.name for p in (tmp_path / "agencies").iterdir()] == [f"{GOV}.pem"]


def test_store_with_passphrase_keeps_private_keys_encrypted(tmp_path: Path) -> None:
    store = AgencyKeyStore(tmp_path / "agencies", passphrase="node passphrase")
    public_pem = store.create(GOV)
    assert b"ENCRYPTED PRIVATE KEY" in store.private_pem(GOV)
    assert store.public_pem(GOV) == public_pem
    with pytest.raises(KeyLocked, match="passphrase"):
        AgencyKeyStore(tmp_path / "agencies", passphrase="wrong").public_pem(GOV)


def test_store_never_replaces_an_existing_key(tmp_path: Path) -> None:
    store = AgencyKeyStore(tmp_path / "agencies")
    first = store.create(GOV)
    with pytest.raises(FileExistsError):
        store.create(GOV)
    assert store.public_pem(GOV) == first


def test_store_without_the_agency_key_says_unavailable(tmp_path: Path) -> None:
    store = AgencyKeyStore(tmp_path / "agencies")
    with pytest.raises(KeyUnavailable, match=PROVINCE):
        store.private_pem(PROVINCE)


@pytest.mark.parametrize("code", ["../etc/passwd", "a/b", "..", ".hidden", "", "x" * 65])
def test_store_refuses_agency_codes_that_are_not_file_names(tmp_path: Path, code: str) -> None:
    store = AgencyKeyStore(tmp_path / "agencies")
    with pytest.raises(ValueError, match="invalid agency code"):
        store.create(code)
    assert not (tmp_path / "agencies").exists() or not os.listdir(tmp_path / "agencies")


def test_a_released_key_is_gone_and_marked_so_a_missing_one_is_not(tmp_path: Path) -> None:
    store = AgencyKeyStore(tmp_path / "agencies")
    store.create(GOV)
    store.create(PROVINCE)
    exported = store.export(GOV)
    store.release(GOV)
    assert not store.has(GOV)
    assert store.released(GOV)
    assert b"PRIVATE KEY" in exported
    with pytest.raises(KeyUnavailable):
        store.private_pem(GOV)
    with pytest.raises(KeyUnavailable):
        store.release(GOV)
    # A key file that merely went missing (not yet restored) is not a released one.
    (tmp_path / "agencies" / f"{PROVINCE}.pem").unlink()
    assert not store.released(PROVINCE)
