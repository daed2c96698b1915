"""The KEK ring: wrap/unwrap bound to associated data, rotation with rewrap, passphrase-protected
key files, refusal of missing or planted versions, file modes, and no key material in reprs."""

from __future__ import annotations

import os
import stat
import threading
from pathlib import Path

import pytest

from docex.signing.keks import KekRing, KeyLocked, KeyUnavailable, UnwrapError, WrappedKey

AAD = b"docex blob aad v1 doc-1 file-1 normal"


@pytest.fixture
def ring(tmp_path: Path) -> KekRing:
    ring = KekRing(tmp_path / "keys" / "kek")
    assert ring.create_if_missing()
    return ring


def test_create_if_missing_creates_version_one_once(tmp_path: Path) -> None:
    ring = KekRing(tmp_path / "kek")
    assert ring.versions == []
    assert ring.create_if_missing() is True
    assert ring.create_if_missing() is False
    assert ring.versions == [1]
    assert ring.current_version == 1
    assert sorted(p.name for p in (tmp_path / "kek").iterdir()) == ["v0001.key"]


def test_key_files_are_0600_in_a_0700_directory(ring: KekRing) -> None:
    ring.rotate()
    assert stat.S_IMODE(ring.directory.stat().st_mode) == 0o700
    for path in ring.directory.iterdir():
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path.name


def test_wrapped_key_unwraps_with_the_same_associated_data(ring: KekRing) -> None:
    dek = os.urandom(32)
    wrapped = ring.wrap(dek, AAD)
    assert wrapped.version == 1
    assert len(wrapped.blob) == 60
    assert dek not in wrapped.blob
    assert ring.unwrap(wrapped, AAD) == dek
    assert KekRing(ring.directory).unwrap(wrapped, AAD) == dek  # another process, same files


def test_wrapping_is_randomised(ring: KekRing) -> None:
    dek = os.urandom(32)
    assert ring.wrap(dek, AAD).blob != ring.wrap(dek, AAD).blob


def test_wrapped_key_moved_to_another_file_row_does_not_unwrap(ring: KekRing) -> None:
    wrapped = ring.wrap(os.urandom(32), AAD)
    with pytest.raises(UnwrapError, match="other associated data"):
        ring.unwrap(wrapped, AAD.replace(b"file-1", b"file-2"))


def test_any_altered_byte_of_a_wrapped_key_is_refused(ring: KekRing) -> None:
    wrapped = ring.wrap(os.urandom(32), AAD)
    for i in range(len(wrapped.blob)):
        altered = bytearray(wrapped.blob)
        altered[i] ^= 0x01
        with pytest.raises(UnwrapError):
            ring.unwrap(WrappedKey(wrapped.version, bytes(altered)), AAD)
    with pytest.raises(UnwrapError, match="60 bytes"):
        ring.unwrap(WrappedKey(wrapped.version, wrapped.blob[:-1]), AAD)


def test_rotation_keeps_old_keys_unwrappable_and_rewrap_moves_them(ring: KekRing) -> None:
    dek = os.urandom(32)
    old = ring.wrap(dek, AAD)
    assert ring.rotate() == 2
    assert (ring.versions, ring.current_version) == ([1, 2], 2)
    assert ring.unwrap(old, AAD) == dek
    assert ring.wrap(dek, AAD).version == 2
    moved = ring.rewrap(old, AAD)
    assert moved.version == 2
    assert ring.unwrap(moved, AAD) == dek
    assert ring.rewrap(moved, AAD) is moved  # already current: nothing to do


def test_rotation_by_another_process_is_seen(ring: KekRing) -> None:
    other = KekRing(ring.directory)
    assert other.rotate() == 2
    assert ring.current_version == 2
    assert ring.wrap(os.urandom(32), AAD).version == 2


def test_rewrap_checks_the_old_wrapping_first(ring: KekRing) -> None:
    old = ring.wrap(os.urandom(32), AAD)
    ring.rotate()
    with pytest.raises(UnwrapError):
        ring.rewrap(old, b"other aad")


def test_unwrap_under_a_deleted_version_is_key_unavailable(ring: KekRing) -> None:
    wrapped = ring.wrap(os.urandom(32), AAD)
    ring.rotate()
    (ring.directory / "v0001.key").unlink()
    with pytest.raises(KeyUnavailable, match="v1"):
        KekRing(ring.directory).unwrap(wrapped, AAD)


def test_unwrap_under_an_unknown_version_is_key_unavailable(ring: KekRing) -> None:
    wrapped = ring.wrap(os.urandom(32), AAD)
    with pytest.raises(KeyUnavailable):
        ring.unwrap(WrappedKey(7, wrapped.blob), AAD)
    with pytest.raises(KeyUnavailable):
        ring.unwrap(WrappedKey(0, wrapped.blob), AAD)


def test_wrapped_key_relabelled_with_another_version_is_refused(ring: KekRing) -> None:
    wrapped = ring.wrap(os.urandom(32), AAD)
    ring.rotate()
    with pytest.raises(UnwrapError):
        ring.unwrap(WrappedKey(2, wrapped.blob), AAD)


def test_empty_ring_cannot_wrap(tmp_path: Path) -> None:
    ring = KekRing(tmp_path / "kek")
    with pytest.raises(KeyUnavailable, match="docex init"):
        ring.wrap(os.urandom(32), AAD)


def test_only_256_bit_data_keys_are_wrapped(ring: KekRing) -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        ring.wrap(os.urandom(16), AAD)


def test_concurrent_rotations_never_overwrite_a_version(ring: KekRing) -> None:
    results: list[int] = []

    def rotate_five() -> None:
        mine = KekRing(ring.directory)  # as separate processes would
        results.extend(mine.rotate() for _ in range(5))

    threads = [threading.Thread(target=rotate_five) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == list(range(2, 32))
    assert ring.versions == list(range(1, 32))
    assert not [p for p in ring.directory.iterdir() if p.name.startswith(".")]


def test_passphrase_protected_ring_round_trips_and_refuses_wrong_passphrase(
    tmp_path: Path,
) -> None:
    directory = tmp_path / "kek"
    ring = KekRing(directory, passphrase="correct horse battery")
    ring.create_if_missing()
    dek = os.urandom(32)
    wrapped = ring.wrap(dek, AAD)
    assert KekRing(directory, passphrase="correct horse battery").unwrap(wrapped, AAD) == dek
    with pytest.raises(KeyLocked, match="wrong passphrase"):
        KekRing(directory, passphrase="wrong horse").unwrap(wrapped, AAD)
    with pytest.raises(KeyLocked, match="none is configured"):
        KekRing(directory).unwrap(wrapped, AAD)


def test_passphrase_ring_refuses_a_planted_unprotected_kek(tmp_path: Path) -> None:
    directory = tmp_path / "kek"
    KekRing(directory, passphrase="pass").create_if_missing()
    KekRing(directory).rotate()  # someone without the passphrase adds v2 in the clear
    with pytest.raises(KeyLocked, match="not protected"):
        KekRing(directory, passphrase="pass").wrap(os.urandom(32), AAD)


def test_renamed_kek_file_is_detected(tmp_path: Path) -> None:
    directory = tmp_path / "kek"
    KekRing(directory, passphrase="pass").create_if_missing()
    (directory / "v0002.key").write_bytes((directory / "v0001.key").read_bytes())
    with pytest.raises(KeyLocked, match="renamed"):
        KekRing(directory, passphrase="pass").wrap(os.urandom(32), AAD)


def test_damaged_kek_file_is_refused(ring: KekRing) -> None:
    path = ring.directory / "v0001.key"
    path.write_bytes(path.read_bytes()[:-1])
    with pytest.raises(KeyLocked, match="damaged"):
        KekRing(ring.directory).wrap(os.urandom(32), AAD)
    path.write_bytes(b"not a key")
    with pytest.raises(KeyLocked, match="not a docex KEK"):
        KekRing(ring.directory).wrap(os.urandom(32), AAD)


def test_repr_and_errors_show_versions_never_key_material(ring: KekRing) -> None:
    kek = (ring.directory / "v0001.key").read_bytes()[5:]
    text = repr(ring)
    assert text == f"KekRing(directory={str(ring.directory)!r}, versions=[1])"
    with pytest.raises(UnwrapError) as info:
        ring.unwrap(WrappedKey(1, bytes(60)), AAD)
    for shown in (text, str(info.value)):
        assert kek.hex() not in shown
        assert repr(kek)[2:-1] not in shown
