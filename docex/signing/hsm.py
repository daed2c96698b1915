"""Signing keys on a PKCS#11 token (a hardware security module; SoftHSM2 in the tests): the
second :class:`~docex.signing.keystore.KeyStore`, beside the files of :class:`FileKeyStore`.

What it guarantees
------------------
- Private keys are generated on the token (ECDSA P-256) with ``CKA_SENSITIVE`` true and
  ``CKA_EXTRACTABLE`` false: they never leave it. Signing sends a SHA-2 digest computed here
  to the token (``CKM_ECDSA``, which every token with ECDSA offers) and gets the signature back.
- The token holds, per key id (``seal:<code>``, ``person:<username>``, and ``node`` for the
  receipt key), one key pair per *generation* and the certificate of each: all labelled with the
  key id (``CKA_LABEL``), key pair and certificate of one generation sharing ``CKA_ID`` =
  ``b"docex:"`` + the generation as 4 big-endian bytes. The key id's current key is its highest
  generation that has a certificate; rotating adds a generation and keeps the older ones, so a
  signature made before the rotation still finds its certificate.
- Enrolment (:meth:`Pkcs11KeyStore.enroll`) is safe to repeat and to interrupt: a key pair
  left without a certificate by a crash is certified on the next run, not replaced.
- The certificate installed for a generation must be for that generation's public key
  (checked), so the token never pairs a key with someone else's certificate.
- The user PIN is used to log in and never appears in a message or a ``repr``. A missing
  module, a missing token, a refused PIN or a failing token raise
  :class:`~docex.signing.keys.KeyStoreError`.
- One logged-in session per store; its multi-step operations are serialised by a lock (a
  PKCS#11 session runs one operation at a time).

Certificates come from a certification authority: in the demo and the tests, the node's own
PKI (:mod:`docex.signing.pki`) certifies the public key read from the token (``enroll``); with
another authority (the national CA), ``request`` makes a PKCS#10 request signed on the token
and ``install_certificate`` takes the certificate that comes back (``docex pki request`` and
``docex pki install``).
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, ClassVar, TypeVar

import pkcs11
from asn1crypto import csr as asn1_csr  # type: ignore[import-untyped]
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pkcs11 import Attribute, CertificateType, KeyType, Mechanism, ObjectClass
from pkcs11.exceptions import (
    DeviceRemoved,
    NoSuchKey,
    NoSuchToken,
    PinIncorrect,
    PinLenRange,
    PKCS11Error,
    SessionClosed,
    SessionHandleInvalid,
    TokenNotPresent,
    UserAlreadyLoggedIn,
    UserNotLoggedIn,
)
from pkcs11.util.ec import (
    encode_ec_public_key,
    encode_ecdsa_signature,
    encode_named_curve_parameters,
)

from docex.signing.keys import KeyStoreError
from docex.signing.keystore import (
    SIGNING_KEY_PREFIXES,
    PadesSigner,
    UnknownKeyError,
    hash_algorithm,
)

NODE_KEY_ID = "node"
# What a token answers when the session is gone: log in again once, then retry.
_SESSION_LOST = (
    SessionHandleInvalid,
    SessionClosed,
    DeviceRemoved,
    TokenNotPresent,
    UserNotLoggedIn,
)
CURVE = "secp256r1"
_ID_PREFIX = b"docex:"

_T = TypeVar("_T")

Certify = Callable[[ec.EllipticCurvePublicKey], x509.Certificate]
"""Issues the certificate of a public key (the certification authority's part of enrolment)."""


def _cka_id(generation: int) -> bytes:
    return _ID_PREFIX + generation.to_bytes(4, "big")


def _generation(cka_id: bytes) -> int | None:
    if len(cka_id) != len(_ID_PREFIX) + 4 or not cka_id.startswith(_ID_PREFIX):
        return None
    return int.from_bytes(cka_id[len(_ID_PREFIX) :], "big")


class TokenKey:
    """One private key on the token: signs, never exports. ``public_key`` is its public half.

    It is named by key id and generation, and its handle is looked up again in a new session
    when the token had to be logged in to again."""

    def __init__(
        self,
        store: Pkcs11KeyStore,
        key_id: str,
        generation: int,
        public_key: ec.EllipticCurvePublicKey,
    ) -> None:
        self._store = store
        self._key_id = key_id
        self._generation = generation
        self._public_key = public_key
        self._handle: tuple[Any, Any] | None = None  # (session, private key object)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        return self._public_key

    def _private(self, session: Any) -> Any:
        if self._handle is None or self._handle[0] is not session:
            key = session.get_key(
                object_class=ObjectClass.PRIVATE_KEY,
                label=self._key_id,
                id=_cka_id(self._generation),
            )
            self._handle = (session, key)
        return self._handle[1]

    def sign(self, data: bytes, algorithm: str = "sha256") -> bytes:
        """DER ECDSA signature (RFC 3279 Ecdsa-Sig-Value) of ``data`` hashed with
        ``algorithm``."""
        digest = hashlib.new(hash_algorithm(algorithm).name, data).digest()
        try:
            raw = self._store._with_session(
                lambda session: self._private(session).sign(digest, mechanism=Mechanism.ECDSA)
            )
        except PKCS11Error as exc:
            raise KeyStoreError(f"the PKCS#11 token failed to sign: {_name(exc)}") from exc
        return bytes(encode_ecdsa_signature(raw))


class Pkcs11Signer(PadesSigner):
    """A :class:`PadesSigner` whose key stays on the token."""

    def __init__(
        self, certificate: x509.Certificate, key: TokenKey, chain: Sequence[x509.Certificate]
    ) -> None:
        super().__init__(certificate, key.public_key(), chain)
        self._token_key = key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        return self._token_key.sign(data, digest_algorithm)


class _Login:
    """The one logged-in session of this process on a token, shared by its stores.

    PKCS#11 logs in per application, not per session: a second ``C_Login`` fails with
    CKR_USER_ALREADY_LOGGED_IN. So a process logs in once per token; a later store must present
    the same PIN (compared as a salted digest, in constant time), and the last store to close
    logs out. When the token drops the session (an HSM restarted, a network HSM reconnected),
    :meth:`reopen` logs in again with the PIN it keeps in memory (as the settings do).
    """

    _registry: ClassVar[dict[tuple[str, str], _Login]] = {}
    _registry_lock: ClassVar[threading.Lock] = threading.Lock()

    def __init__(self, key: tuple[str, str], session: Any, pin: str) -> None:
        self.key = key
        self.session = session
        self.lock = threading.RLock()
        self._salt = os.urandom(16)
        self._pin_digest = self._digest(pin)
        self._pin = pin
        self.users = 0

    def __repr__(self) -> str:
        return f"_Login(token={self.key[1]!r})"

    def reopen(self, broken: Any) -> None:
        """Replace the session ``broken`` by a new logged-in one (once, whoever asks first)."""
        with self.lock:
            if self.session is not broken:
                return
            with contextlib.suppress(PKCS11Error):
                broken.close()
            self.session = _log_in(Path(self.key[0]), self.key[1], self._pin)

    def _digest(self, pin: str) -> bytes:
        return hashlib.sha256(self._salt + pin.encode()).digest()

    @classmethod
    def open(cls, module: Path, token_label: str, pin: str) -> _Login:
        key = (str(module), token_label)
        with cls._registry_lock:
            login = cls._registry.get(key)
            if login is None:
                login = cls(key, _log_in(module, token_label, pin), pin)
                cls._registry[key] = login
            elif not hmac.compare_digest(login._digest(pin), login._pin_digest):
                raise KeyStoreError(f"the PKCS#11 token {token_label!r} refused the PIN")
            login.users += 1
            return login

    def release(self) -> None:
        with self._registry_lock:
            self.users -= 1
            if self.users > 0:
                return
            self._registry.pop(self.key, None)
        # A token already gone has nothing more to release.
        with self.lock, contextlib.suppress(PKCS11Error):
            self.session.close()


def _log_in(module: Path, token_label: str, pin: str) -> Any:
    try:
        library = pkcs11.lib(str(module))
    except (OSError, RuntimeError, PKCS11Error) as exc:
        raise KeyStoreError(f"cannot load the PKCS#11 module {module}: {_name(exc)}") from exc
    try:
        token = library.get_token(token_label=token_label)
    except NoSuchToken as exc:
        raise KeyStoreError(f"no PKCS#11 token labelled {token_label!r}") from exc
    except PKCS11Error as exc:
        raise KeyStoreError(f"the PKCS#11 module failed: {_name(exc)}") from exc
    try:
        return token.open(rw=True, user_pin=pin)
    except UserAlreadyLoggedIn:
        # Another session of this process is still logged in (reopen after a lost session).
        return token.open(rw=True)
    except (PinIncorrect, PinLenRange) as exc:
        raise KeyStoreError(f"the PKCS#11 token {token_label!r} refused the PIN") from exc
    except PKCS11Error as exc:
        raise KeyStoreError(
            f"cannot log in to the PKCS#11 token {token_label!r}: {_name(exc)}"
        ) from exc


def _name(exc: BaseException) -> str:
    """A PKCS#11 error's name (python-pkcs11 errors carry no message of their own)."""
    return str(exc) or type(exc).__name__


class Pkcs11KeyStore:
    """Signing keys on the PKCS#11 token labelled ``token_label`` of the library ``module``.

    ``chain`` is the issuing CA and root certificates that signers embed after their own.
    """

    def __init__(
        self,
        module: Path,
        token_label: str,
        pin: str,
        *,
        chain: Sequence[x509.Certificate] = (),
    ) -> None:
        self._chain = tuple(chain)
        self._signers: dict[str, tuple[int, Pkcs11Signer]] = {}
        self._login = _Login.open(module, token_label, pin)
        self._lock = self._login.lock
        self._closed = False
        self.token_label = token_label

    def __repr__(self) -> str:
        return f"Pkcs11KeyStore(token={self.token_label!r})"

    def close(self) -> None:
        """Release this store's share of the token session (logged out with the last one)."""
        if not self._closed:
            self._closed = True
            self._login.release()

    # -- reading the token ---------------------------------------------------------------------

    def _with_session(self, operation: Callable[[Any], _T]) -> _T:
        """Run ``operation`` on the logged-in session; if the token lost the session, log in
        again and run it once more. Other PKCS#11 errors propagate."""
        with self._lock:
            if self._closed:
                raise KeyStoreError("this PKCS#11 key store is closed")
            session = self._login.session
            try:
                return operation(session)
            except _SESSION_LOST:
                self._login.reopen(session)
                return operation(self._login.session)

    def _find(self, object_class: ObjectClass, label: str | None = None) -> list[Any]:
        template: dict[Attribute, Any] = {Attribute.CLASS: object_class}
        if label is not None:
            template[Attribute.LABEL] = label
        with self._lock:
            try:
                return self._with_session(lambda session: list(session.get_objects(template)))
            except PKCS11Error as exc:
                raise KeyStoreError(f"the PKCS#11 token failed: {_name(exc)}") from exc

    def _certificates(self, key_id: str) -> list[tuple[int, x509.Certificate]]:
        """(generation, certificate) of ``key_id``, oldest generation first."""
        found = []
        for obj in self._find(object_class=ObjectClass.CERTIFICATE, label=key_id):
            with self._lock:
                generation = _generation(bytes(obj[Attribute.ID]))
                value = bytes(obj[Attribute.VALUE])
            if generation is not None:
                found.append((generation, x509.load_der_x509_certificate(value)))
        return sorted(found, key=lambda item: item[0])

    def _generations(self, key_id: str) -> list[int]:
        """Generations of ``key_id`` that have a private key, ascending."""
        objects = self._find(object_class=ObjectClass.PRIVATE_KEY, label=key_id)
        with self._lock:
            ids = [_generation(bytes(obj[Attribute.ID])) for obj in objects]
        return sorted(g for g in ids if g is not None)

    def _token_key(self, key_id: str, generation: int) -> TokenKey:
        def public_der(session: Any) -> bytes:
            session.get_key(
                object_class=ObjectClass.PRIVATE_KEY, label=key_id, id=_cka_id(generation)
            )  # it must exist, not only its public half
            public = session.get_key(
                object_class=ObjectClass.PUBLIC_KEY, label=key_id, id=_cka_id(generation)
            )
            return bytes(encode_ec_public_key(public))

        with self._lock:
            try:
                der = self._with_session(public_der)
            except NoSuchKey as exc:
                raise UnknownKeyError(key_id) from exc
            except PKCS11Error as exc:
                raise KeyStoreError(f"the PKCS#11 token failed: {_name(exc)}") from exc
        loaded = serialization.load_der_public_key(der)
        if not isinstance(loaded, ec.EllipticCurvePublicKey):
            raise KeyStoreError(f"{key_id} on the token is not an EC key")
        return TokenKey(self, key_id, generation, loaded)

    # -- the KeyStore protocol -----------------------------------------------------------------

    def has(self, key_id: str) -> bool:
        return key_id.startswith(SIGNING_KEY_PREFIXES) and bool(self._certificates(key_id))

    def key_ids(self) -> tuple[str, ...]:
        labels = set()
        for obj in self._find(object_class=ObjectClass.CERTIFICATE):
            with self._lock:
                labels.add(str(obj[Attribute.LABEL]))
        return tuple(sorted(k for k in labels if k.startswith(SIGNING_KEY_PREFIXES)))

    def certificate(self, key_id: str) -> x509.Certificate:
        certificates = self._certificates(key_id) if key_id.startswith(SIGNING_KEY_PREFIXES) else []
        if not certificates:
            raise UnknownKeyError(key_id)
        return certificates[-1][1]

    def certificates(self, key_id: str) -> tuple[x509.Certificate, ...]:
        if not key_id.startswith(SIGNING_KEY_PREFIXES):
            return ()
        return tuple(cert for _, cert in self._certificates(key_id))

    def signer_for(self, key_id: str) -> Pkcs11Signer:
        certificates = self._certificates(key_id) if key_id.startswith(SIGNING_KEY_PREFIXES) else []
        if not certificates:
            raise UnknownKeyError(key_id)
        generation, certificate = certificates[-1]
        cached = self._signers.get(key_id)
        if cached is not None and cached[0] == generation:
            return cached[1]
        signer = Pkcs11Signer(certificate, self._token_key(key_id, generation), self._chain)
        self._signers[key_id] = (generation, signer)
        return signer

    # -- the node's receipt key ----------------------------------------------------------------

    def node_key(self) -> TokenKey:
        """The node's receipt-signing key (key id ``node``), its newest generation; created on
        the token if there is none (it needs no certificate to sign receipts)."""
        with self._lock:
            generations = self._generations(NODE_KEY_ID)
            generation = generations[-1] if generations else self._generate(NODE_KEY_ID, 1)
            return self._token_key(NODE_KEY_ID, generation)

    def has_node_key(self) -> bool:
        return bool(self._generations(NODE_KEY_ID))

    # -- enrolment -----------------------------------------------------------------------------

    def _generate(self, key_id: str, generation: int) -> int:
        with self._lock:
            try:
                parameters = self._with_session(
                    lambda session: session.create_domain_parameters(
                        KeyType.EC,
                        {Attribute.EC_PARAMS: encode_named_curve_parameters(CURVE)},
                        local=True,
                    )
                )
                parameters.generate_keypair(
                    id=_cka_id(generation),
                    label=key_id,
                    store=True,
                    public_template={Attribute.VERIFY: True, Attribute.PRIVATE: False},
                    private_template={
                        Attribute.SIGN: True,
                        Attribute.SENSITIVE: True,
                        Attribute.EXTRACTABLE: False,
                        Attribute.PRIVATE: True,
                    },
                )
            except PKCS11Error as exc:
                raise KeyStoreError(
                    f"the PKCS#11 token cannot generate a key: {_name(exc)}"
                ) from exc
        return generation

    def install_certificate(self, key_id: str, certificate: x509.Certificate) -> int:
        """Store ``certificate`` on the token for the generation of ``key_id`` whose public key
        it certifies; returns that generation. Installing it again changes nothing."""
        with self._lock:
            for generation in reversed(self._generations(key_id)):
                if self._token_key(key_id, generation).public_key() == certificate.public_key():
                    break
            else:
                raise KeyStoreError(f"the certificate is for no key of {key_id} on the token")
            der = certificate.public_bytes(serialization.Encoding.DER)
            if any(g == generation and c == certificate for g, c in self._certificates(key_id)):
                return generation
            try:
                self._with_session(
                    lambda session: session.create_object(
                        {
                            Attribute.CLASS: ObjectClass.CERTIFICATE,
                            Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
                            Attribute.TOKEN: True,
                            Attribute.PRIVATE: False,
                            Attribute.LABEL: key_id,
                            Attribute.ID: _cka_id(generation),
                            Attribute.SUBJECT: certificate.subject.public_bytes(),
                            Attribute.ISSUER: certificate.issuer.public_bytes(),
                            Attribute.SERIAL_NUMBER: _der_integer(certificate.serial_number),
                            Attribute.VALUE: der,
                        }
                    )
                )
            except PKCS11Error as exc:
                raise KeyStoreError(
                    f"the PKCS#11 token cannot store the certificate: {_name(exc)}"
                ) from exc
            self._signers.pop(key_id, None)
            return generation

    def _pending_generation(self, key_id: str, *, rotate: bool) -> int:
        """The generation to certify: the newest key pair if it has no certificate yet (an
        interrupted enrolment or an open request), else a new one when there is none or when
        ``rotate``; 0 when the newest is certified and no rotation is asked."""
        certified = {g for g, _ in self._certificates(key_id)}
        generations = self._generations(key_id)
        newest = generations[-1] if generations else 0
        if newest and newest not in certified:
            return newest
        if newest and not rotate:
            return 0
        return self._generate(key_id, newest + 1)

    def request(
        self, key_id: str, subject: x509.Name, *, rotate: bool = False
    ) -> x509.CertificateSigningRequest:
        """A PKCS#10 request (RFC 2986) for ``key_id``, signed on the token, to send to a
        certification authority; :meth:`install_certificate` takes its answer. Asking again
        before the answer reuses the same key pair. Without ``rotate``, a key id that already
        has a certified key is refused."""
        with self._lock:
            generation = self._pending_generation(key_id, rotate=rotate)
            if generation == 0:
                raise KeyStoreError(f"{key_id} already has a certified key; rotate to replace it")
            key = self._token_key(key_id, generation)
        info = asn1_csr.CertificationRequestInfo(
            {
                "version": "v1",
                "subject": asn1_x509.Name.load(subject.public_bytes()),
                "subject_pk_info": asn1_keys.PublicKeyInfo.load(
                    key.public_key().public_bytes(
                        serialization.Encoding.DER,
                        serialization.PublicFormat.SubjectPublicKeyInfo,
                    )
                ),
                "attributes": [],
            }
        )
        request = asn1_csr.CertificationRequest(
            {
                "certification_request_info": info,
                "signature_algorithm": {"algorithm": "sha256_ecdsa"},
                "signature": key.sign(info.dump(), "sha256"),
            }
        )
        csr = x509.load_der_x509_csr(request.dump())
        if not csr.is_signature_valid:
            raise KeyStoreError("the token's signature on the request does not verify")
        return csr

    def enroll(self, key_id: str, certify: Certify, *, rotate: bool = False) -> x509.Certificate:
        """Make sure ``key_id`` has a certified key on the token; returns its certificate.

        Without ``rotate`` an existing certified key is kept. A key pair without certificate
        (an interrupted enrolment) is certified rather than replaced; otherwise, or with
        ``rotate``, a new generation is generated. ``certify`` issues the certificate."""
        with self._lock:
            generation = self._pending_generation(key_id, rotate=rotate)
            if generation == 0:
                return self._certificates(key_id)[-1][1]
            certificate = certify(self._token_key(key_id, generation).public_key())
            self.install_certificate(key_id, certificate)
            return certificate


def _der_integer(value: int) -> bytes:
    """DER INTEGER (X.690 §8.3), as PKCS#11 wants ``CKA_SERIAL_NUMBER``."""
    length = value.bit_length() // 8 + 1
    content = value.to_bytes(length, "big", signed=True)
    return bytes((0x02, len(content))) + content
