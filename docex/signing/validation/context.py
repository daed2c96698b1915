"""What every signature of one document shares: the revocation information the document
carries (DSS, ETSI EN 319 142-1 §5.4; Adobe's archival attribute), the trust, the validation time,
and the certvalidator ``ValidationContext`` built from them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from asn1crypto import cms, ocsp, x509  # type: ignore[import-untyped]
from asn1crypto import crl as asn1_crl
from pyhanko.pdf_utils.decode_limits import DecodePurpose
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.general import (
    MultivaluedAttributeError,
    NonexistentAttributeError,
    find_unique_cms_attribute,
)
from pyhanko.sign.validation import (
    DocumentSecurityStore,
)
from pyhanko.sign.validation.errors import NoDSSFoundError
from pyhanko.sign.validation.generic_cms import extract_tst_data_iter
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.fetchers.aiohttp_fetchers import AIOHttpFetcherBackend

from docex.signing.validation.trust import TrustConfig, _Trust


@dataclass
class _Revinfo:
    certs: list[x509.Certificate] = field(default_factory=list)
    crls: list[asn1_crl.CertificateList] = field(default_factory=list)
    ocsps: list[ocsp.OCSPResponse] = field(default_factory=list)

    def plus(self, other: _Revinfo) -> _Revinfo:
        return _Revinfo(self.certs + other.certs, self.crls + other.crls, self.ocsps + other.ocsps)


def _dss_revinfo(reader: PdfFileReader) -> _Revinfo:
    try:
        dss = DocumentSecurityStore.read_dss(reader)
    except NoDSSFoundError:
        return _Revinfo()
    return _Revinfo(
        certs=list(dss.load_certs()),
        crls=[
            asn1_crl.CertificateList.load(ref.get_object().read_data(DecodePurpose.CRL))
            for ref in dss.crls
        ],
        ocsps=[
            ocsp.OCSPResponse.load(ref.get_object().read_data(DecodePurpose.OCSP_RESPONSE))
            for ref in dss.ocsps
        ],
    )


def _archival_revinfo(signer_info: cms.SignerInfo) -> _Revinfo:
    try:
        archival = find_unique_cms_attribute(
            signer_info["signed_attrs"], "adobe_revocation_info_archival"
        )
    except (NonexistentAttributeError, MultivaluedAttributeError):
        return _Revinfo()
    return _Revinfo(crls=list(archival["crl"]), ocsps=list(archival["ocsp"]))


def _timestamp_time(signer_info: cms.SignerInfo) -> datetime | None:
    """genTime of the first signature timestamp token, before anyone vouched for it."""
    try:
        for token in extract_tst_data_iter(signer_info, signed=False):
            gen_time: datetime = token["encap_content_info"]["content"].parsed["gen_time"].native
            return gen_time
    except (ValueError, KeyError, TypeError, AttributeError):
        return None
    return None


def _timestamp_certs(signer_info: cms.SignerInfo) -> list[x509.Certificate]:
    try:
        return [
            choice.chosen
            for token in extract_tst_data_iter(signer_info, signed=False)
            for choice in token["certificates"]
            if choice.name == "certificate"
        ]
    except (ValueError, KeyError, TypeError, AttributeError):
        return []


@dataclass
class _Run:
    """What every signature of one document shares."""

    reader: PdfFileReader
    file_size: int
    trust_config: TrustConfig
    trust: _Trust
    revinfo: _Revinfo
    now: datetime
    backend: AIOHttpFetcherBackend | None
    last_allowed: ModificationLevel
    between_allowed: ModificationLevel

    @property
    def skew(self) -> timedelta:
        return timedelta(seconds=self.trust_config.clock_skew_s)

    def context(self, moment: datetime, extra: _Revinfo) -> ValidationContext:
        revinfo = self.revinfo.plus(extra)
        return ValidationContext(
            trust_roots=list(self.trust.roots),
            other_certs=[*self.trust.intermediates, *revinfo.certs],
            moment=moment,
            best_signature_time=moment,
            allow_fetching=self.backend is not None,
            fetcher_backend=self.backend,
            crls=revinfo.crls,
            ocsps=revinfo.ocsps,
            revinfo_policy=self.trust.revinfo_policy,
            time_tolerance=self.skew,
            algorithm_usage_policy=self.trust.algorithms,
        )
