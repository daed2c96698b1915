"""Signing keys by id: the agencies' seals and the personal keys held in custody by the node.

What it guarantees
------------------
- A :class:`KeyStore` hands out pyHanko signers, never key bytes: a caller can sign with
  ``signer_for(key_id)`` and read certificates, nothing else. Each signer carries its
  certificate chain (issuing CA and root), so the CMS it produces (RFC 5652, as PAdES requires,
  ETSI EN 319 142-1) can be validated without fetching certificates.
- Key ids are ``seal:<agency code>`` (the agency's seal, ETSI EN 319 412-3 legal person) and
  ``person:<username>`` (a personal signer, ETSI EN 319 412-2 natural person).
- Rotation keeps history: ``certificate(key_id)`` is the certificate the key id signs with now,
  ``certificates(key_id)`` every certificate it ever had (oldest first), so signatures made
  before a rotation still find their certificate.
- :class:`FileKeyStore` reads the files written by :mod:`docex.signing.pki` (encrypted PKCS#8,
  mode 0600). Certificates are public and readable without the passphrase; ``signer_for`` with
  a wrong or missing passphrase raises :class:`~docex.signing.keys.KeyStoreError`. Decrypted
  keys stay in this process's memory only.
- Its signers (:class:`EcdsaSigner`) build the PAdES baseline CMS from DER encoded once per key
  (:class:`_PadesCms`) instead of pyHanko's generic assembly, which spends ~15 ms of CPU in
  asn1crypto per signature; the result is the same structure, in canonical DER (tested), and
  anything outside that profile still goes through pyHanko.

- The second implementation, :class:`~docex.signing.hsm.Pkcs11KeyStore`, keeps the keys on a
  PKCS#11 token (an HSM; SoftHSM2 in the tests) and signs there. Both hand out
  :class:`PadesSigner` subclasses, so what they sign is the same bytes but for the signature.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Protocol, runtime_checkable

from asn1crypto import algos, cms  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.signers.pdf_cms import PdfCMSSignedAttributes, Signer
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko_certvalidator.registry import SimpleCertificateStore

from docex.signing.keys import KeyStoreError
from docex.signing.pki import CertRecord, Pki, PkiError

SIGNING_KEY_PREFIXES = ("seal:", "person:")
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {
    "sha256": hashes.SHA256,
    "sha384": hashes.SHA384,
    "sha512": hashes.SHA512,
}


class UnknownKeyError(KeyStoreError, LookupError):
    """No signing key with this id in the store."""

    def __init__(self, key_id: str) -> None:
        super().__init__(f"no signing key {key_id!r}")
        self.key_id = key_id


@runtime_checkable
class KeyStore(Protocol):
    """Where signing keys live: :class:`FileKeyStore`, or a PKCS#11 token
    (:class:`~docex.signing.hsm.Pkcs11KeyStore`)."""

    def signer_for(self, key_id: str) -> Signer:
        """A pyHanko signer for the current key of ``key_id``, with its certificate chain.

        Raises :class:`UnknownKeyError` if there is no such key."""
        ...

    def certificate(self, key_id: str) -> x509.Certificate:
        """The certificate ``key_id`` signs with now; :class:`UnknownKeyError` if none."""
        ...

    def certificates(self, key_id: str) -> tuple[x509.Certificate, ...]:
        """Every certificate ``key_id`` has had, oldest first (for verification)."""
        ...

    def has(self, key_id: str) -> bool: ...

    def key_ids(self) -> tuple[str, ...]:
        """The signing key ids this store holds (``seal:…`` and ``person:…``)."""
        ...

    def close(self) -> None:
        """Release what the store holds open (a token session); the store is not used after."""
        ...


class PadesSigner(Signer):
    """A pyHanko signer for an ECDSA key wherever it lives; subclasses give :meth:`sign_raw`.

    It builds the PAdES baseline CMS from pre-encoded DER (see :class:`_PadesCms`) and hands
    pyHanko still-unparsed certificates: asn1crypto re-encodes a certificate whose fields were
    ever read each time it is embedded (a few milliseconds per certificate, several times per
    signature), so keeping the DER and loading fresh copies keeps sealing fast.
    """

    def __init__(
        self,
        certificate: x509.Certificate,
        public_key: ec.EllipticCurvePublicKey,
        chain: Iterable[x509.Certificate],
    ) -> None:
        """``public_key``: the public half of the key that signs; the certificate must be
        for it."""
        if certificate.public_key() != public_key:
            raise KeyStoreError("the certificate is not this key's")
        self._cert_der = certificate.public_bytes(serialization.Encoding.DER)
        self._chain_der = tuple(c.public_bytes(serialization.Encoding.DER) for c in chain)
        super().__init__(
            signing_cert=asn1_x509.Certificate.load(self._cert_der),
            cert_registry=SimpleCertificateStore.from_certs(
                [asn1_x509.Certificate.load(der) for der in self._chain_der]
            ),
        )
        self._pades = _PadesCms(self, self._cert_der, self._chain_der)

    @property
    def signing_cert(self) -> asn1_x509.Certificate:
        return asn1_x509.Certificate.load(self._cert_der)

    @property
    def cert_registry(self) -> SimpleCertificateStore:
        store: SimpleCertificateStore = SimpleCertificateStore.from_certs(
            [asn1_x509.Certificate.load(der) for der in self._chain_der]
        )
        return store

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        """The DER ECDSA signature (RFC 3279 Ecdsa-Sig-Value) of ``data`` hashed with
        ``digest_algorithm`` (sha256, sha384 or sha512)."""
        raise NotImplementedError

    async def async_sign_raw(
        self, data: bytes, digest_algorithm: str, dry_run: bool = False
    ) -> bytes:
        return self.sign_raw(data, digest_algorithm)

    async def async_sign(
        self,
        data_digest: bytes,
        digest_algorithm: str,
        dry_run: bool = False,
        use_pades: bool = False,
        timestamper: TimeStamper | None = None,
        signed_attr_settings: PdfCMSSignedAttributes | None = None,
        is_pdf_sig: bool = True,
        encap_content_info: object = None,
    ) -> cms.ContentInfo:
        """The PAdES baseline CMS, assembled from pre-encoded DER (see :class:`_PadesCms`);
        anything else (CAdES attributes, other digests, embedded content) goes to pyHanko."""
        plain = (
            use_pades
            and is_pdf_sig
            and encap_content_info is None
            and digest_algorithm.lower() == "sha256"
            and (signed_attr_settings is None or signed_attr_settings.cades_signed_attrs is None)
            and not self.attribute_certs
            and self.unsigned_attr_prov_spec is None
        )
        if not plain:
            return await super().async_sign(
                data_digest,
                digest_algorithm,
                dry_run=dry_run,
                use_pades=use_pades,
                timestamper=timestamper,
                signed_attr_settings=signed_attr_settings,
                is_pdf_sig=is_pdf_sig,
                encap_content_info=encap_content_info,
            )
        return await self._pades.sign(data_digest, timestamper, dry_run=dry_run)


def hash_algorithm(name: str) -> hashes.HashAlgorithm:
    """The SHA-2 hash named ``name`` (pyHanko's spelling); :class:`KeyStoreError` for others."""
    chosen = _HASHES.get(name.lower())
    if chosen is None:
        raise KeyStoreError(f"digest {name!r} is not accepted for signing")
    return chosen()


class EcdsaSigner(PadesSigner):
    """A :class:`PadesSigner` over a key loaded in this process (:class:`FileKeyStore`)."""

    def __init__(
        self,
        certificate: x509.Certificate,
        private_key: ec.EllipticCurvePrivateKey,
        chain: Iterable[x509.Certificate],
    ) -> None:
        super().__init__(certificate, private_key.public_key(), chain)
        self._private_key = private_key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        return self._private_key.sign(data, ec.ECDSA(hash_algorithm(digest_algorithm)))


def _tlv(tag: int, content: bytes) -> bytes:
    """One DER element (X.690 §8.1): tag, definite length, content."""
    size = len(content)
    if size < 0x80:
        return bytes((tag, size)) + content
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes((tag, 0x80 | len(length))) + length + content


def _set_of(elements: Iterable[bytes]) -> bytes:
    """A DER SET OF: elements in ascending order of their encodings (X.690 §11.6)."""
    return _tlv(0x31, b"".join(sorted(elements)))


class _PadesCms:
    """Builds the CMS ``SignedData`` of a PAdES baseline signature (ETSI EN 319 142-1 §6.3,
    RFC 5652) by concatenating DER encoded once per signer.

    pyHanko assembles the same structure with asn1crypto, which re-encodes every nested value
    several times per signature (about 15 ms of CPU). The output is what pyHanko would produce:
    signed attributes content-type (id-data), message-digest and ESS signing-certificate-v2
    (RFC 5035); an ECDSA/SHA-256 signature over them; the RFC 3161 token over the signature
    value as the signature-time-stamp unsigned attribute; the signer's certificate and chain.
    """

    def __init__(self, signer: PadesSigner, cert_der: bytes, chain_der: Iterable[bytes]) -> None:
        cert = asn1_x509.Certificate.load(cert_der)
        self._signer = signer
        self._content_type = simple_cms_attribute("content_type", "data").dump()
        self._signing_certificate = simple_cms_attribute(
            "signing_certificate_v2", as_signing_certificate_v2(cert, "sha256")
        ).dump()
        self._digest_algorithm = algos.DigestAlgorithm({"algorithm": "sha256"}).dump()
        self._signature_algorithm = signer.get_signature_mechanism_for_digest("sha256").dump()
        self._sid = cms.IssuerAndSerialNumber(
            {"issuer": cert.issuer, "serial_number": cert.serial_number}
        ).dump()
        self._tst_type = cms.CMSAttributeType("signature_time_stamp_token").dump()
        self._certificates = b"".join(sorted({cert_der, *chain_der}))
        self._id_data = _tlv(0x30, cms.ContentType("data").dump())
        self._signed_data_type = cms.ContentType("signed_data").dump()

    async def sign(
        self, data_digest: bytes, timestamper: TimeStamper | None, *, dry_run: bool
    ) -> cms.ContentInfo:
        message_digest = simple_cms_attribute("message_digest", data_digest).dump()
        attrs = b"".join(sorted((self._content_type, message_digest, self._signing_certificate)))
        signature = self._signer.sign_raw(_tlv(0x31, attrs), "sha256")
        unsigned = b""
        if timestamper is not None:
            if dry_run:
                token = await timestamper.async_dummy_response("sha256")
            else:
                token = await timestamper.async_timestamp(
                    hashlib.sha256(signature).digest(), "sha256"
                )
            attribute = _tlv(0x30, self._tst_type + _set_of([token.dump()]))
            unsigned = _tlv(0xA1, attribute)  # [1] IMPLICIT SET OF Attribute
        signer_info = _tlv(
            0x30,
            b"\x02\x01\x01"  # version 1: the signer is named by issuer and serial number
            + self._sid
            + self._digest_algorithm
            + _tlv(0xA0, attrs)  # [0] IMPLICIT SET OF Attribute
            + self._signature_algorithm
            + _tlv(0x04, signature)
            + unsigned,
        )
        signed_data = _tlv(
            0x30,
            b"\x02\x01\x01"  # version 1: id-data content, no attribute certificates
            + _tlv(0x31, self._digest_algorithm)
            + self._id_data
            + _tlv(0xA0, self._certificates)  # [0] IMPLICIT CertificateSet
            + _tlv(0x31, signer_info),
        )
        der = _tlv(0x30, self._signed_data_type + _tlv(0xA0, signed_data))
        return cms.ContentInfo.load(der)


class FileKeyStore:
    """Keys in a PKI directory written by :mod:`docex.signing.pki` (see its layout)."""

    def __init__(self, directory: Path, passphrase: str | None) -> None:
        try:
            self._pki = Pki.open(directory, passphrase)
        except PkiError as exc:
            raise KeyStoreError(str(exc)) from exc
        self._signers: dict[str, tuple[int, EcdsaSigner]] = {}

    @property
    def pki(self) -> Pki:
        return self._pki

    def close(self) -> None:
        """Nothing to release: the keys are files."""

    def _current(self, key_id: str) -> CertRecord | None:
        """The key id's current record, if its key is a file here (not on a token)."""
        rec = self._pki.current(key_id) if key_id.startswith(SIGNING_KEY_PREFIXES) else None
        return rec if rec is not None and rec.key else None

    def has(self, key_id: str) -> bool:
        return self._current(key_id) is not None

    def key_ids(self) -> tuple[str, ...]:
        return self._pki.signing_key_ids()

    def certificate(self, key_id: str) -> x509.Certificate:
        rec = self._pki.current(key_id) if key_id.startswith(SIGNING_KEY_PREFIXES) else None
        if rec is None:
            raise UnknownKeyError(key_id)
        return self._pki.certificate(rec)

    def certificates(self, key_id: str) -> tuple[x509.Certificate, ...]:
        if not key_id.startswith(SIGNING_KEY_PREFIXES):
            return ()
        return tuple(self._pki.certificate(r) for r in self._pki.history(key_id))

    def signer_for(self, key_id: str) -> EcdsaSigner:
        rec = self._current(key_id)
        if rec is None:
            raise UnknownKeyError(key_id)
        cached = self._signers.get(key_id)
        if cached is not None and cached[0] == rec.serial:
            return cached[1]
        try:
            key = self._pki.private_key(rec)
        except PkiError as exc:
            raise KeyStoreError(str(exc)) from exc
        signer = EcdsaSigner(self._pki.certificate(rec), key, self._pki.chain())
        self._signers[key_id] = (rec.serial, signer)
        return signer
