"""Revocation services of the node's PKI: an OCSP responder (RFC 6960), CRLs (RFC 5280 §5), and
pyHanko fetchers that reach both in-process.

What it guarantees
------------------
- :meth:`OcspResponder.respond` takes a DER ``OCSPRequest`` and always answers a DER
  ``OCSPResponse``; it never raises on hostile input. A request it cannot parse gets
  ``malformedRequest``; a request about a certificate of another CA gets ``unauthorized``
  (RFC 6960 §2.3): the responder is a delegated responder of the issuing CA only.
- A successful response is a ``BasicOCSPResponse`` signed (ECDSA/SHA-256) by the responder
  certificate, which is embedded and carries ``id-kp-OCSPSigning`` and ``id-pkix-ocsp-nocheck``
  (§4.2.2.2); the responder is named by key hash. The status is ``revoked`` (with the time and
  reason recorded by :meth:`docex.signing.pki.Pki.revoke`) if the serial was revoked, ``good`` if
  the issuing CA issued it and it was not revoked, ``unknown`` otherwise. A request nonce
  (§4.4.1) is echoed. ``thisUpdate`` is the responder's clock, ``nextUpdate`` one day later.
- :func:`crl_bytes` returns the DER CRL of ``root`` or ``issuing``, re-issued when it is more
  than a day old, so it is always valid for at least six more days.
- :class:`InProcessFetcherBackend` gives pyhanko-certvalidator fetchers that answer the PKI's
  own URLs (``<base_url>/pki/ocsp``, ``<base_url>/pki/crl/<name>.crl``) by calling the functions
  above, and fail, as a network fetcher would when offline, for any other URL. PAdES signing uses
  it to embed revocation data (B-LT) without a socket.

The node serves these at ``/pki/ocsp`` (``application/ocsp-request`` →
``application/ocsp-response``) and ``/pki/crl/<name>.crl`` (``application/pkix-crl``).
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable, Iterable
from datetime import UTC, datetime, timedelta

from asn1crypto import cms  # type: ignore[import-untyped]
from asn1crypto import crl as asn1_crl
from asn1crypto import ocsp as asn1_ocsp
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509 import ocsp
from pyhanko_certvalidator.authority import Authority
from pyhanko_certvalidator.errors import CRLFetchError, OCSPFetchError
from pyhanko_certvalidator.fetchers.api import (
    CertificateFetcher,
    CRLFetcher,
    FetcherBackend,
    Fetchers,
    OCSPFetcher,
)
from pyhanko_certvalidator.fetchers.common_utils import (
    format_ocsp_request,
    process_ocsp_response_data,
)
from pyhanko_certvalidator.util import get_ocsp_urls, get_relevant_crl_dps

from docex.signing.pki import CRL_NAMES, Pki

OCSP_VALIDITY = timedelta(days=1)

Clock = Callable[[], datetime]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _hash(algorithm: hashes.HashAlgorithm, data: bytes) -> bytes:
    digest = hashes.Hash(algorithm)
    digest.update(data)
    return digest.finalize()


def _public_key_bits(cert: x509.Certificate) -> bytes:
    """The subjectPublicKey BIT STRING contents, which RFC 6960 §4.1.1 hashes for the key id."""
    spki = asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER)).public_key
    return bytes(spki["public_key"].contents[1:])  # the first byte counts unused bits


class OcspResponder:
    """The delegated OCSP responder of the PKI's issuing CA (RFC 6960).

    Status comes from the PKI's index, re-read when it changes, so a revocation made by another
    process is answered at once.
    """

    def __init__(self, pki: Pki, *, clock: Clock = _utc_now) -> None:
        self._pki = pki
        self._clock = clock
        self._cert, self._key = pki.ocsp_credentials()
        self._issuer = pki.issuing_certificate
        self._key_bits = _public_key_bits(self._issuer)
        self._name_der = self._issuer.subject.public_bytes()

    @property
    def certificate(self) -> x509.Certificate:
        return self._cert

    def respond(self, request_der: bytes) -> bytes:
        """Answer one DER-encoded OCSP request with a DER-encoded OCSP response."""
        try:
            request = ocsp.load_der_ocsp_request(request_der)
            algorithm = request.hash_algorithm
            serial = request.serial_number
            name_hash, key_hash = request.issuer_name_hash, request.issuer_key_hash
            nonce = _nonce(request)
        except (ValueError, TypeError, UnsupportedAlgorithm):
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        if not isinstance(algorithm, hashes.SHA1 | hashes.SHA256 | hashes.SHA384 | hashes.SHA512):
            return _unsuccessful(ocsp.OCSPResponseStatus.MALFORMED_REQUEST)
        if name_hash != _hash(algorithm, self._name_der) or key_hash != _hash(
            algorithm, self._key_bits
        ):
            return _unsuccessful(ocsp.OCSPResponseStatus.UNAUTHORIZED)

        moment = self._clock().astimezone(UTC)
        now = moment.replace(microsecond=0)
        status = ocsp.OCSPCertStatus.UNKNOWN
        revocation_time: datetime | None = None
        revocation_reason: x509.ReasonFlags | None = None
        record = self._pki.record(serial)
        if record is not None and record.issuer == "issuing":
            status = ocsp.OCSPCertStatus.GOOD
            revocation = self._pki.revocation(serial)
            if revocation is not None and revocation.revoked_at <= moment:
                status = ocsp.OCSPCertStatus.REVOKED
                revocation_time = revocation.revoked_at
                if revocation.reason is not x509.ReasonFlags.unspecified:
                    revocation_reason = revocation.reason
        builder = (
            ocsp.OCSPResponseBuilder()
            .add_response_by_hash(
                issuer_name_hash=name_hash,
                issuer_key_hash=key_hash,
                serial_number=serial,
                algorithm=algorithm,
                cert_status=status,
                this_update=now,
                next_update=now + OCSP_VALIDITY,
                revocation_time=revocation_time,
                revocation_reason=revocation_reason,
            )
            .responder_id(ocsp.OCSPResponderEncoding.HASH, self._cert)
            .certificates([self._cert])
        )
        if nonce is not None:
            builder = builder.add_extension(x509.OCSPNonce(nonce), critical=False)
        response = builder.sign(self._key, hashes.SHA256())
        return response.public_bytes(serialization.Encoding.DER)


def _nonce(request: ocsp.OCSPRequest) -> bytes | None:
    try:
        ext = request.extensions.get_extension_for_class(x509.OCSPNonce)
    except x509.ExtensionNotFound:
        return None
    return ext.value.nonce


def _unsuccessful(status: ocsp.OCSPResponseStatus) -> bytes:
    return ocsp.OCSPResponseBuilder.build_unsuccessful(status).public_bytes(
        serialization.Encoding.DER
    )


def crl_bytes(pki: Pki, name: str, *, now: datetime | None = None) -> bytes:
    """The DER CRL of CA ``name`` (``root`` or ``issuing``); ``KeyError`` for another name."""
    if name not in CRL_NAMES:
        raise KeyError(name)
    return pki.crl(name, now=now).public_bytes(serialization.Encoding.DER)


# -- in-process fetchers for pyhanko-certvalidator ------------------------------------------------

OcspRoute = Callable[[bytes], bytes]
CrlRoute = Callable[[], bytes]


class _InProcessOcspFetcher(OCSPFetcher):
    def __init__(self, routes: dict[str, OcspRoute]) -> None:
        self._routes = routes
        self._results: dict[tuple[bytes, object], asn1_ocsp.OCSPResponse] = {}

    async def fetch(
        self, cert: asn1_x509.Certificate | cms.AttributeCertificateV2, authority: Authority
    ) -> asn1_ocsp.OCSPResponse:
        if not isinstance(cert, asn1_x509.Certificate):
            raise OCSPFetchError("attribute certificates are not supported")
        tag = (cert.issuer_serial, authority.hashable)
        cached = self._results.get(tag)
        if cached is not None:
            return cached
        for url in get_ocsp_urls(cert):
            route = self._routes.get(url)
            if route is None:
                continue
            request = format_ocsp_request(
                cert, authority, certid_hash_algo="sha256", request_nonces=True
            )
            response: asn1_ocsp.OCSPResponse = process_ocsp_response_data(
                route(request.dump()), ocsp_request=request, ocsp_url=url
            )
            self._results[tag] = response
            return response
        raise OCSPFetchError("no in-process OCSP responder for this certificate")

    def fetched_responses(self) -> Iterable[asn1_ocsp.OCSPResponse]:
        return list(self._results.values())

    def fetched_responses_for_cert(
        self, cert: asn1_x509.Certificate | cms.AttributeCertificateV2
    ) -> Iterable[asn1_ocsp.OCSPResponse]:
        if not isinstance(cert, asn1_x509.Certificate):
            return []
        return [resp for (iss, _), resp in self._results.items() if iss == cert.issuer_serial]


class _InProcessCrlFetcher(CRLFetcher):
    def __init__(self, routes: dict[str, CrlRoute]) -> None:
        self._routes = routes
        self._by_cert: dict[bytes, list[asn1_crl.CertificateList]] = {}
        self._by_url: dict[str, asn1_crl.CertificateList] = {}

    async def fetch(
        self,
        cert: asn1_x509.Certificate | cms.AttributeCertificateV2,
        *,
        use_deltas: bool | None = None,
    ) -> Iterable[asn1_crl.CertificateList]:
        if not isinstance(cert, asn1_x509.Certificate):
            raise CRLFetchError("attribute certificates are not supported")
        cached = self._by_cert.get(cert.issuer_serial)
        if cached is not None:
            return cached
        results = []
        for point in get_relevant_crl_dps(cert, use_deltas=bool(use_deltas)):
            for name in point["distribution_point"].chosen:
                url = name.native if name.name == "uniform_resource_identifier" else None
                if url is None:
                    continue
                crl = self._by_url.get(url)
                route = self._routes.get(url)
                if crl is None and route is not None:
                    crl = asn1_crl.CertificateList.load(route())
                    self._by_url[url] = crl
                if crl is not None:
                    results.append(crl)
        if not results:
            raise CRLFetchError("no in-process CRL for this certificate")
        self._by_cert[cert.issuer_serial] = results
        return results

    def fetched_crls(self) -> Iterable[asn1_crl.CertificateList]:
        return list(self._by_url.values())

    def fetched_crls_for_cert(
        self, cert: asn1_x509.Certificate | cms.AttributeCertificateV2
    ) -> Iterable[asn1_crl.CertificateList]:
        if not isinstance(cert, asn1_x509.Certificate):
            raise KeyError("attribute certificate")
        return self._by_cert[cert.issuer_serial]


class _NoCertificateFetcher(CertificateFetcher):
    """The PKI's certificates carry no caIssuers URLs; chains come with the signature."""

    def fetch_cert_issuers(
        self, cert: asn1_x509.Certificate | cms.AttributeCertificateV2
    ) -> AsyncGenerator[asn1_x509.Certificate, None]:
        return _nothing()

    def fetch_crl_issuers(
        self, certificate_list: asn1_crl.CertificateList
    ) -> AsyncGenerator[asn1_x509.Certificate, None]:
        return _nothing()

    def fetched_certs(self) -> Iterable[asn1_x509.Certificate]:
        return []


async def _nothing() -> AsyncGenerator[asn1_x509.Certificate, None]:
    for _ in ():
        yield _


class InProcessFetcherBackend(FetcherBackend):
    """Fetchers that answer the PKI's OCSP and CRL URLs by calling this module in-process.

    Each :meth:`get_fetchers` call starts with empty caches (one validation context each), as
    pyhanko-certvalidator's own backends do.
    """

    def __init__(self, pki: Pki, responder: OcspResponder | None = None) -> None:
        self._pki = pki
        self._responder = responder or OcspResponder(pki)
        base = pki.base_url
        self.ocsp_routes: dict[str, OcspRoute] = {f"{base}/pki/ocsp": self._responder.respond}
        self.crl_routes: dict[str, CrlRoute] = {
            f"{base}/pki/crl/{name}.crl": _crl_route(pki, name) for name in CRL_NAMES
        }

    def get_fetchers(self) -> Fetchers:
        return Fetchers(
            ocsp_fetcher=_InProcessOcspFetcher(self.ocsp_routes),
            crl_fetcher=_InProcessCrlFetcher(self.crl_routes),
            cert_fetcher=_NoCertificateFetcher(),
        )


def _crl_route(pki: Pki, name: str) -> CrlRoute:
    def route() -> bytes:
        return crl_bytes(pki, name)

    return route
