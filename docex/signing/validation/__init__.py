"""PAdES signature validation on intake: is this PDF what it claims to be, and from whom?

What is guaranteed. ``validate_pdf`` returns a frozen ``ValidationReport`` and never raises for
bad input. The report ``passed`` only if all of the following hold:

- the file is a PDF that pyHanko parses strictly (ISO 32000-2 §7.5), is not encrypted, has a
  page tree that is a tree (every node reached once, no cycle: §7.7.3.2) with at least one page
  (``ValidationReport.pages``), and carries at least one filled signature field;
- **every** signature (ISO 32000-2 §12.8, ETSI EN 319 142-1 PAdES; CMS per RFC 5652) is
  *intact* (the ``/ByteRange`` digest matches the signed ``messageDigest``) and *valid* (the
  signature over the signed attributes verifies with the signer's public key);
- every ``/ByteRange`` is ``[0 a b c]``, its gap is exactly the ``/Contents`` string, and it covers
  the whole file (last signature) or the whole revision it signs (earlier ones);
- every signer certificate chains to a configured trust root (RFC 5280 path validation, key usage
  ``digitalSignature`` or ``nonRepudiation``), and neither it nor any CA certificate on the path
  is expired, not yet valid or revoked at the *signature time* — the time of the signature's
  RFC 3161 timestamp token when it carries a trusted one, the validation time otherwise;
- revocation information (CRL, RFC 5280 §5, or OCSP, RFC 6960) is *required* for every
  non-root certificate on the path in the default ``hard-fail`` mode. Embedded information is
  accepted — the DSS (ETSI EN 319 142-1 §5.4) and Adobe's ``adbe-revocationInfoArchival``
  signed attribute — when it is usable at the signature time (its ``nextUpdate`` not before it,
  with the clock-skew tolerance; information issued after the signature time counts, as in
  PAdES B-LT). Fetching from CRL distribution points and OCSP responders happens only when
  ``TrustConfig.fetch`` is set; unreachable revocation data is never silently accepted;
- a signature timestamp token, when present, is itself intact, valid and trusted (same trust
  roots, same rules, at its own time), not later than now + skew, and not earlier than the
  signer's claimed signing time − skew;
- no algorithm is weak: MD5 and SHA-1 digests (in signatures, certificates, CRLs, OCSP
  responses and timestamps), RSA keys under 2048 bits and EC keys under 256 bits are refused;
- nothing was changed after the last signature except what pyHanko's difference analysis rates
  ``LTA_UPDATES`` (DSS and document timestamps); between signatures only ``FORM_FILLING``
  (adding the next signature); DocMDP permissions of a certification signature hold;
- Decree 30/2020/NĐ-CP: a *signer* signature (a natural person's certificate, ETSI EN 319 412-2:
  ``givenName``/``surname``/``pseudonym`` in the subject, ``nonRepudiation`` key usage) and an
  agency *seal* (an organisation's certificate, ETSI EN 319 412-3: no personal name attributes,
  an agency code in ``organizationIdentifier`` (2.5.4.97) or ``serialNumber`` (2.5.4.5)) are
  both present; a seal carries the *sender's* code; every signer's certificate carries the
  *sender's* code too (the competent person signs for their own agency: a leader of another
  agency is ``signer_not_of_sender``, a personal certificate naming no agency code at all is
  ``signer_agency_unknown``, since nothing attributes it to the sender); and the seal was
  applied after the signer's signature (its ``/ByteRange`` ends later in the file).

Agency codes accepted in a certificate: the bare code (``000.00.00.G22``, ASCII, the same grammar
as ``docex.vocabulary.codes``) or the code after a registration-scheme prefix of 2 to 6 capital
ASCII letters and ``:`` or ``-`` (``VN:000.00.00.G22``, ``NTRVN-000.00.00.G22``).

Against what. A document altered after signing (a flipped byte, an incremental saving attack, a
shadow attack that swaps content in after signing), a forged or stripped signature dictionary,
signers outside the national PKI (self-signed, another root), revoked or expired certificates,
backdating by a revoked signer (the claimed signing time is never trusted, only a timestamp),
downgrade to weak algorithms, a seal lifted from another agency, a document signed by another
agency's leader (or a letter received from another agency) re-sealed and sent as the sender's
own, malformed or encrypted files.

Not covered here. Bounded time and memory: run ``validate_pdf`` through ``docex.signing.sandbox``
on untrusted input. The later compromise of a TSA key is detected only by a later document
timestamp (PAdES-LTA); a timestamp is trusted at its own time, as pyHanko does. Revocation with
``certificateHold`` that is later lifted is treated as revocation.

The package, by concept: ``report`` (indications and the frozen reports), ``trust`` (what the
node trusts, what a document must carry), ``certificates`` (signer or seal, of which agency),
``pdf`` (page tree, byte ranges, the uncovered tail), ``context`` (revocation information and the
validation context one document shares), ``signatures`` (one signature at a time), ``verdict``
(the policy over all of them), ``validate`` (the entry point) and ``speedups`` (the faster roads
to pyHanko's and asn1crypto's answers, installed explicitly by ``speedups.install()``).
"""

from pyhanko.sign.diff_analysis import ModificationLevel

from docex.signing.validation.certificates import agency_code_of, classify
from docex.signing.validation.pdf import HEADER_WINDOW, page_count
from docex.signing.validation.report import (
    ORDER,
    Indication,
    Revocation,
    Role,
    SignatureReport,
    ValidationReport,
    failure_report,
    first_failure,
)
from docex.signing.validation.trust import STRICT_DECREE_30, SignaturePolicy, TrustConfig
from docex.signing.validation.validate import validate_pdf

__all__ = [
    "HEADER_WINDOW",
    "ORDER",
    "STRICT_DECREE_30",
    "Indication",
    "ModificationLevel",
    "Revocation",
    "Role",
    "SignaturePolicy",
    "SignatureReport",
    "TrustConfig",
    "ValidationReport",
    "agency_code_of",
    "classify",
    "failure_report",
    "first_failure",
    "page_count",
    "validate_pdf",
]
