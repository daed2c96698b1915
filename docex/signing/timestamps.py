"""An RFC 3161 time-stamping authority for the node, and a pyHanko time-stamper that calls it
in-process.

What it guarantees
------------------
- :meth:`TimeStampAuthority.respond` takes a DER ``TimeStampReq`` and always answers a DER
  ``TimeStampResp`` (RFC 3161 §2.4.2): ``granted`` with a token, or ``rejection`` with a
  ``failInfo`` (``badRequest``, ``badAlg``, ``badDataFormat``, ``unacceptedPolicy``,
  ``unacceptedExtension``); it never raises on hostile input.
- A token is a CMS ``SignedData`` (RFC 5652) over a ``TSTInfo`` carrying the request's message
  imprint and nonce, ``genTime`` from the authority's clock (UTC, whole seconds, accuracy ±1 s),
  a serial number unique with overwhelming probability (random 159 bits), the TSA policy
  :data:`TSA_POLICY` and the TSA's name. It is signed with ECDSA/SHA-256 by a certificate with
  the critical ``timeStamping`` extended key usage (RFC 3161 §2.3), identified by an ESS
  ``signingCertificateV2`` attribute (RFC 5816). The TSA certificate and its issuing CA are
  embedded when the request asks for them (``certReq``).
- Only SHA-256, SHA-384 and SHA-512 imprints are accepted (no SHA-1, no MD5).

The authority is served at ``<base_url>/pki/tsa`` (``application/timestamp-query`` in,
``application/timestamp-reply`` out) by the node.

Where PAdES signing gets its tokens is a :class:`TimeStamper`, chosen once by the node's wiring:
:class:`InProcessTimeStamper` (the default) hands signing the node's own tokens without a
socket; :class:`HttpTimeStamper` asks an outside RFC 3161 authority over HTTP (§3.4), set with
``DOCEX_SIGNING__TSA_URL``. An authority that cannot be reached, answers with anything but a
DER ``TimeStampResp`` or refuses the request is ``timestamp_unavailable`` to the signer: a
document is never signed without its time-stamp.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import AsyncGenerator, Callable, Sequence
from datetime import UTC, datetime
from typing import Final, Protocol

import httpx
from asn1crypto import algos, cms, core, tsp  # type: ignore[import-untyped]
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pyhanko.sign.general import as_signing_certificate_v2, simple_cms_attribute
from pyhanko.sign.timestamps.api import TimeStamper as PyHankoTimeStamper
from pyhanko.sign.timestamps.common_utils import TimestampRequestError
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.path import ValidationPath

from docex.signing.pki import Pki

# A UUID-derived OID (ITU-T X.667, arc 2.25) naming the demo TSA's policy: no registration needed.
TSA_POLICY = "2.25.128417811706056631625356279135228301995"
ACCEPTED_DIGESTS = {"sha256": 32, "sha384": 48, "sha512": 64}

Clock = Callable[[], datetime]
QUERY_TYPE: Final = "application/timestamp-query"
REPLY_TYPE: Final = "application/timestamp-reply"
MAX_REPLY_BYTES: Final = 64 * 1024  # a token with its chain is a few KiB


class TimeStamper(Protocol):
    """Where a signature's RFC 3161 time-stamp token comes from (pyHanko's time-stamper
    interface): a token over ``message_digest``, a dummy one to size the signature, and the
    certification paths of the authority (for B-LT revocation data)."""

    async def async_timestamp(self, message_digest: bytes, md_algorithm: str) -> cms.ContentInfo:
        """A token over ``message_digest``; raises ``TimestampRequestError`` when refused."""
        ...

    async def async_dummy_response(self, md_algorithm: str) -> cms.ContentInfo:
        """A token over a dummy digest, to learn its size and the authority's certificates."""
        ...

    def validation_paths(
        self, validation_context: ValidationContext
    ) -> AsyncGenerator[ValidationPath, None]:
        """The validated paths of the authority's certificates."""
        ...


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


class TimeStampAuthority:
    """A time-stamping unit with its own certificate and key (RFC 3161).

    ``chain`` lists the CA certificates to embed beside the TSA certificate (issuing CA first).
    ``clock`` gives the time written into tokens; it must return timezone-aware datetimes.
    """

    def __init__(
        self,
        certificate: x509.Certificate,
        private_key: ec.EllipticCurvePrivateKey,
        *,
        chain: Sequence[x509.Certificate] = (),
        clock: Clock = _utc_now,
        policy: str = TSA_POLICY,
    ) -> None:
        # asn1crypto re-encodes a structure whose children were ever parsed; keeping DER and
        # loading fresh objects for each token keeps issuing at a fraction of a millisecond.
        self._cert = _to_asn1(certificate)
        self._cert_der = self._cert.dump()
        self._chain_der = [c.public_bytes(serialization.Encoding.DER) for c in chain]
        self._issuer_der = self._cert.issuer.dump()
        self._subject_der = self._cert.subject.dump()
        self._serial = self._cert.serial_number
        self._key = private_key
        self._clock = clock
        self._policy = policy
        self._signing_certificate_der = simple_cms_attribute(
            "signing_certificate_v2", as_signing_certificate_v2(self._cert, "sha256")
        ).dump()

    @property
    def certificate(self) -> asn1_x509.Certificate:
        return self._cert

    def respond(self, request_der: bytes) -> bytes:
        """Answer one DER-encoded time-stamp request with a DER-encoded response."""
        try:
            req = tsp.TimeStampReq.load(request_der, strict=True)
            req.native  # noqa: B018 (parses every field now, so a bad one fails here)
        except (ValueError, TypeError, KeyError, IndexError, OverflowError):
            return encode_response(
                _rejection("bad_data_format", "the request is not a DER TimeStampReq")
            )
        return encode_response(self.issue(req))

    def issue(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        """Grant or reject a parsed request (RFC 3161 §2.4.2)."""
        if req["version"].native != "v1":
            return _rejection("bad_request", "only version 1 requests are supported")
        imprint = req["message_imprint"]
        algorithm = imprint["hash_algorithm"]["algorithm"].native
        if algorithm not in ACCEPTED_DIGESTS:
            return _rejection("bad_alg", f"digest algorithm {algorithm} is not accepted")
        if len(imprint["hashed_message"].native) != ACCEPTED_DIGESTS[algorithm]:
            return _rejection("bad_data_format", "the imprint length does not match its algorithm")
        if req["req_policy"].native not in (None, self._policy):
            return _rejection("unaccepted_policy", f"this TSA issues under {self._policy} only")
        if req["extensions"].native:
            return _rejection("unaccepted_extension", "request extensions are not supported")

        gen_time = self._clock().astimezone(UTC).replace(microsecond=0)
        info: dict[str, object] = {
            "version": "v1",
            "policy": self._policy,
            "message_imprint": imprint,
            "serial_number": secrets.randbits(159) | 1,
            "gen_time": gen_time,
            "accuracy": {"seconds": 1},
            "ordering": False,
            "tsa": asn1_x509.GeneralName(
                name="directory_name", value=asn1_x509.Name.load(self._subject_der)
            ),
        }
        if req["nonce"].native is not None:
            info["nonce"] = req["nonce"]
        tst_info = tsp.TSTInfo(info)
        certificates = (
            [asn1_x509.Certificate.load(der) for der in (self._cert_der, *self._chain_der)]
            if req["cert_req"].native
            else []
        )
        token = self._sign(tst_info.dump(), gen_time, certificates)
        return tsp.TimeStampResp(
            {"status": tsp.PKIStatusInfo({"status": "granted"}), "time_stamp_token": token}
        )

    def _sign(
        self, content: bytes, gen_time: datetime, certificates: list[asn1_x509.Certificate]
    ) -> cms.ContentInfo:
        signed_attrs = cms.CMSAttributes(
            [
                simple_cms_attribute("content_type", "tst_info"),
                simple_cms_attribute("signing_time", cms.Time({"utc_time": gen_time})),
                cms.CMSAttribute.load(self._signing_certificate_der),
                simple_cms_attribute("message_digest", hashlib.sha256(content).digest()),
            ]
        )
        signature = self._key.sign(signed_attrs.dump(), ec.ECDSA(hashes.SHA256()))
        digest_algorithm = algos.DigestAlgorithm({"algorithm": "sha256"})
        signer_info = cms.SignerInfo(
            {
                "version": "v1",
                "sid": cms.SignerIdentifier(
                    name="issuer_and_serial_number",
                    value=cms.IssuerAndSerialNumber(
                        {
                            "issuer": asn1_x509.Name.load(self._issuer_der),
                            "serial_number": self._serial,
                        }
                    ),
                ),
                "digest_algorithm": digest_algorithm,
                "signed_attrs": signed_attrs,
                "signature_algorithm": algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}),
                "signature": signature,
            }
        )
        signed_data = cms.SignedData(
            {
                "version": "v3",
                "digest_algorithms": [digest_algorithm],
                "encap_content_info": {
                    "content_type": "tst_info",
                    "content": core.ParsableOctetString(content),
                },
                "certificates": certificates or None,
                "signer_infos": [signer_info],
            }
        )
        return cms.ContentInfo({"content_type": "signed_data", "content": signed_data})


def encode_response(response: tsp.TimeStampResp) -> bytes:
    """DER of a response. asn1crypto declares ``timeStampToken`` mandatory, but RFC 3161 §2.4.2
    makes it OPTIONAL and absent on rejection, so a rejection is encoded by hand."""
    if response["status"]["status"].native in ("granted", "granted_with_mods"):
        return bytes(response.dump())
    status = bytes(response["status"].dump())
    if len(status) < 0x80:
        return bytes((0x30, len(status))) + status
    length = len(status).to_bytes((len(status).bit_length() + 7) // 8, "big")
    return bytes((0x30, 0x80 | len(length))) + length + status


def _rejection(fail_info: str, text: str) -> tsp.TimeStampResp:
    return tsp.TimeStampResp(
        {
            "status": tsp.PKIStatusInfo(
                {
                    "status": "rejection",
                    "status_string": [text],
                    "fail_info": tsp.PKIFailureInfo({fail_info}),
                }
            )
        }
    )


class InProcessTimeStamper(PyHankoTimeStamper):
    """A pyHanko ``TimeStamper`` that asks a :class:`TimeStampAuthority` in the same process:
    the same tokens the node serves at ``/pki/tsa``, with no network."""

    def __init__(self, authority: TimeStampAuthority, *, include_nonce: bool = True) -> None:
        super().__init__(include_nonce=include_nonce)
        self.authority = authority

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        # Parsed from its encoding, as a remote TSA's answer would be: asn1crypto then embeds
        # the token as bytes instead of re-encoding the structure built above.
        response = self.authority.issue(req)
        if response["status"]["status"].native != "granted":
            return response  # pyHanko reads the status and raises TimestampRequestError
        return tsp.TimeStampResp.load(response.dump())


def authority_from_pki(pki: Pki, *, clock: Clock = _utc_now) -> TimeStampAuthority:
    """The PKI's time-stamping unit, embedding its issuing CA with each token."""
    cert, key = pki.tsa_credentials()
    return TimeStampAuthority(cert, key, chain=[pki.issuing_certificate], clock=clock)


class HttpTimeStamper(PyHankoTimeStamper):
    """An outside RFC 3161 authority over HTTP (RFC 3161 §3.4): the DER request is POSTed as
    ``application/timestamp-query``; the answer must be a DER ``TimeStampResp`` of at most
    :data:`MAX_REPLY_BYTES`. Any failure to get one is a ``TimestampRequestError``."""

    def __init__(self, url: str, *, timeout_s: float = 10.0, include_nonce: bool = True) -> None:
        super().__init__(include_nonce=include_nonce)
        self.url = url
        self.timeout_s = timeout_s

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        try:
            async with httpx.AsyncClient(timeout=self.timeout_s) as client:
                response = await client.post(
                    self.url, content=req.dump(), headers={"Content-Type": QUERY_TYPE}
                )
        except httpx.HTTPError as exc:
            raise TimestampRequestError(
                f"the time-stamping authority is unreachable: {exc}"
            ) from exc
        if response.status_code != 200:
            raise TimestampRequestError(
                f"the time-stamping authority answered HTTP {response.status_code}"
            )
        if len(response.content) > MAX_REPLY_BYTES:
            raise TimestampRequestError("the time-stamping authority's answer is too large")
        try:
            answer = tsp.TimeStampResp.load(response.content, strict=True)
            answer.native  # noqa: B018 (parses every field now, so a bad one fails here)
        except (ValueError, TypeError, KeyError, IndexError, OverflowError) as exc:
            raise TimestampRequestError("the time-stamping authority's answer is not DER") from exc
        return answer
