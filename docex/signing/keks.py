"""The node's key-encryption keys (KEKs): versioned, rotatable, wrapping each blob's data key.

A ``KekRing`` keeps its keys in one directory (``<keys dir>/kek/``), one file per version
(``v0001.key``, ``v0002.key``...). The highest version is the *current* one: ``wrap`` always uses
it; ``unwrap`` uses whichever version a ``WrappedKey`` names, so ``rotate`` (a new current
version) followed by ``rewrap`` over every stored data key moves them to the new KEK without
rewriting a single blob. Old versions are kept until someone deletes them on purpose.

Wrapping (``WrappedKey.blob``, 60 bytes)::

    nonce (12, random) ‖ AES-256-GCM(KEK_v, nonce, DEK, aad = LABEL ‖ v (4, BE) ‖ caller's aad)

so a wrapped key only unwraps under the version it names and with the exact associated data it
was wrapped with (the file's document id, file id and classification: a wrapped DEK copied onto
another file row fails).

Key files (mode 0600, directory 0700), with the node passphrase::

    b"DXK1" ‖ 0x01 ‖ log2(N) ‖ r ‖ p ‖ salt (16) ‖ nonce (12)
        ‖ AES-256-GCM(scrypt(passphrase, salt, N, r, p), nonce, KEK, aad = the preceding bytes
                      ‖ version (4, BE))

and without one ``b"DXK1" ‖ 0x00 ‖ KEK``. scrypt (RFC 7914) with N = 2**15, r = 8, p = 1 makes
each passphrase guess cost 32 MiB of memory and ~0.1 s of CPU; the file's version is authenticated,
so renaming ``v0001.key`` to ``v0002.key`` is detected.

Guarantees: a KEK file appears under its name complete or not at all (written to a temporary
file, fsynced, then hard-linked into place, which also refuses to overwrite an existing version,
so two concurrent ``rotate`` calls get two versions, never one clobbering the other); with a
passphrase, a file that is not protected by it is refused, so no one can slip in a KEK of their
choice as the new current version without knowing the passphrase. Key material never appears in
a ``repr``, an exception message or a log. Not guaranteed: protection against someone who can read
the process memory, or who holds both the key files and the passphrase.

Errors, drawn so that a caller can tell "the key is not here now" from "the data is bad"::

    KekError
     ├── KeyUnavailable   the key needed is not usable now: the version is not in the ring (a
     │    │               file not yet restored from backup), or there is no KEK at all. Retry
     │    │               once it is back; the data it protects is intact.
     │    └── KeyLocked   the key file is there but does not open: a wrong or missing
     │                    passphrase (a version added by another process under another one), a
     │                    file not protected by the passphrase, damaged, renamed, or foreign.
     └── UnwrapError      the wrapped key itself fails authentication (altered, or bound to other
                          associated data): the data is corrupt, whatever key is restored.

``docex.signing.agency_keys`` raises the same three for the agencies' keys.
"""

from __future__ import annotations

import os
import re
import struct
import threading
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

from docex.kit.files import create_exclusively

KEY_SIZE = 32
NONCE_SIZE = 12
WRAPPED_SIZE = NONCE_SIZE + KEY_SIZE + 16

_FILE_MAGIC = b"DXK1"
_RAW = 0
_SCRYPT = 1
_SCRYPT_HEAD = struct.Struct(">4sBBBB16s12s")
_SCRYPT_LOG2_N = 15
_SCRYPT_R = 8
_SCRYPT_P = 1
_NAME = re.compile(r"v(\d{4,9})\.key")
_WRAP_LABEL = b"docex kek wrap v1"


class KekError(Exception):
    """Base of the KEK ring's errors; messages never contain key material."""


class KeyUnavailable(KekError):
    """The key needed is not usable now (not in the ring, not on this node); the data it
    protects is not at fault."""


class KeyLocked(KeyUnavailable):
    """The key file is present but does not open: wrong or missing passphrase, not protected
    by the passphrase, damaged, renamed or not a key file."""


class UnwrapError(KekError):
    """A wrapped key fails its own authentication: altered, or bound to other associated
    data. The stored data is corrupt."""


@dataclass(frozen=True)
class WrappedKey:
    """A data key wrapped by KEK ``version``; safe to store in a database row."""

    version: int
    blob: bytes


class KekRing:
    """The versioned KEKs in ``directory``; see the module docstring."""

    def __init__(self, directory: Path, passphrase: str | None = None) -> None:
        self.directory = directory
        self._passphrase = passphrase.encode() if passphrase else None
        self._cache: dict[int, AESGCM] = {}
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"KekRing(directory={str(self.directory)!r}, versions={self.versions})"

    @property
    def versions(self) -> list[int]:
        """The versions present on disk, ascending (read afresh: another process may rotate)."""
        try:
            names = os.listdir(self.directory)
        except FileNotFoundError:
            return []
        return sorted(int(m[1]) for name in names if (m := _NAME.fullmatch(name)))

    @property
    def current_version(self) -> int:
        """The version ``wrap`` uses: the highest. Raises ``KeyUnavailable`` if there is none."""
        versions = self.versions
        if not versions:
            raise KeyUnavailable(f"no KEK in {self.directory}; run `docex init` first")
        return versions[-1]

    def create_if_missing(self) -> bool:
        """Create version 1 if the ring is empty. Returns True if a KEK was created."""
        if self.versions:
            return False
        try:
            self._write(1, os.urandom(KEY_SIZE))
        except FileExistsError:  # another process created it first
            return False
        return True

    def rotate(self) -> int:
        """Add a fresh KEK as the new current version and return it; older ones are kept."""
        while True:
            version = (self.versions or [0])[-1] + 1
            try:
                self._write(version, os.urandom(KEY_SIZE))
            except FileExistsError:  # a concurrent rotate took this number; take the next
                continue
            return version

    def wrap(self, dek: bytes, aad: bytes) -> WrappedKey:
        """Wrap ``dek`` under the current KEK, bound to ``aad``."""
        if len(dek) != KEY_SIZE:
            raise ValueError(f"a data key is {KEY_SIZE} bytes, not {len(dek)}")
        version = self.current_version
        nonce = os.urandom(NONCE_SIZE)
        sealed = self._aead(version).encrypt(nonce, dek, _wrap_aad(version, aad))
        return WrappedKey(version=version, blob=nonce + sealed)

    def unwrap(self, wrapped: WrappedKey, aad: bytes) -> bytes:
        """The data key inside ``wrapped``, if it was wrapped with this ``aad`` by this ring."""
        if len(wrapped.blob) != WRAPPED_SIZE:
            raise UnwrapError(f"a wrapped key is {WRAPPED_SIZE} bytes, not {len(wrapped.blob)}")
        aead = self._aead(wrapped.version)
        nonce, sealed = wrapped.blob[:NONCE_SIZE], wrapped.blob[NONCE_SIZE:]
        try:
            return aead.decrypt(nonce, sealed, _wrap_aad(wrapped.version, aad))
        except InvalidTag:
            raise UnwrapError(
                f"key wrapped under KEK v{wrapped.version} does not unwrap: altered, "
                "or bound to other associated data"
            ) from None

    def rewrap(self, wrapped: WrappedKey, aad: bytes) -> WrappedKey:
        """``wrapped`` moved to the current KEK (unchanged if it is already there, once checked)."""
        dek = self.unwrap(wrapped, aad)
        if wrapped.version == self.current_version:
            return wrapped
        return self.wrap(dek, aad)

    def _aead(self, version: int) -> AESGCM:
        with self._lock:
            aead = self._cache.get(version)
            if aead is None:
                aead = AESGCM(self._load(version))
                self._cache[version] = aead
            return aead

    def _path(self, version: int) -> Path:
        if not 1 <= version <= 999_999_999:
            raise KeyUnavailable(f"KEK version {version} is out of range")
        return self.directory / f"v{version:04d}.key"

    def _load(self, version: int) -> bytes:
        path = self._path(version)
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            raise KeyUnavailable(f"KEK v{version} is not in {self.directory}") from None
        if data[:4] != _FILE_MAGIC or len(data) < 5:
            raise KeyLocked(f"{path.name} is not a docex KEK file")
        kind = data[4]
        if kind == _RAW:
            if self._passphrase is not None:
                raise KeyLocked(
                    f"{path.name} is not protected by the node passphrase; refusing to use it"
                )
            if len(data) != 5 + KEY_SIZE:
                raise KeyLocked(f"{path.name} is damaged (wrong length)")
            return data[5:]
        if kind != _SCRYPT:
            raise KeyLocked(f"{path.name} has an unknown protection scheme {kind}")
        if self._passphrase is None:
            raise KeyLocked(f"{path.name} is protected by a passphrase and none is configured")
        if len(data) != _SCRYPT_HEAD.size + KEY_SIZE + 16:
            raise KeyLocked(f"{path.name} is damaged (wrong length)")
        _, _, log2_n, r, p, salt, nonce = _SCRYPT_HEAD.unpack_from(data)
        if not (10 <= log2_n <= 20 and 1 <= r <= 16 and 1 <= p <= 4):
            raise KeyLocked(f"{path.name} asks for unreasonable scrypt parameters")
        kdf_key = _scrypt(self._passphrase, salt, log2_n, r, p)
        head = data[: _SCRYPT_HEAD.size]
        try:
            return AESGCM(kdf_key).decrypt(
                nonce, data[_SCRYPT_HEAD.size :], head + version.to_bytes(4, "big")
            )
        except InvalidTag:
            raise KeyLocked(
                f"{path.name} does not open: wrong passphrase, or the file was altered or renamed"
            ) from None

    def _encode(self, version: int, kek: bytes) -> bytes:
        if self._passphrase is None:
            return _FILE_MAGIC + bytes([_RAW]) + kek
        salt = os.urandom(16)
        nonce = os.urandom(NONCE_SIZE)
        head = _SCRYPT_HEAD.pack(
            _FILE_MAGIC, _SCRYPT, _SCRYPT_LOG2_N, _SCRYPT_R, _SCRYPT_P, salt, nonce
        )
        kdf_key = _scrypt(self._passphrase, salt, _SCRYPT_LOG2_N, _SCRYPT_R, _SCRYPT_P)
        return head + AESGCM(kdf_key).encrypt(nonce, kek, head + version.to_bytes(4, "big"))

    def _write(self, version: int, kek: bytes) -> None:
        """Write KEK ``version``; ``FileExistsError`` if that version exists (never overwritten)."""
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        os.chmod(self.directory, 0o700)
        target = self._path(version)
        create_exclusively(target, self._encode(version, kek))  # never replaces a KEK
        with self._lock:  # spares the scrypt of reading it back
            self._cache[version] = AESGCM(kek)


def _wrap_aad(version: int, aad: bytes) -> bytes:
    return _WRAP_LABEL + version.to_bytes(4, "big") + aad


def _scrypt(passphrase: bytes, salt: bytes, log2_n: int, r: int, p: int) -> bytes:
    return Scrypt(salt=salt, length=KEY_SIZE, n=1 << log2_n, r=r, p=p).derive(passphrase)
