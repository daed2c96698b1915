"""What a node trusts and what a document must carry: ``TrustConfig`` (roots, revocation mode,
weak algorithms; picklable, sent to workers) and ``SignaturePolicy`` (Decree 30), and their
translation into pyHanko and certvalidator policies."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal

from asn1crypto import keys as asn1_keys  # type: ignore[import-untyped]
from asn1crypto import pem, x509
from pyhanko.sign.diff_analysis import ModificationLevel
from pyhanko.sign.validation.utils import CMSAlgorithmUsagePolicy
from pyhanko_certvalidator.policy_decl import (
    LEGACY_POLICY_MAP,
    REQUIRE_REVINFO,
    AlgorithmUsageConstraint,
    CertRevTrustPolicy,
    DisallowWeakAlgorithmsPolicy,
)


def _load_certificate(data: bytes) -> x509.Certificate:
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return x509.Certificate.load(data)


@dataclass(frozen=True)
class TrustConfig:
    """What the node trusts. Built once from settings; hashable, picklable (sent to workers).

    ``roots`` and ``intermediates`` take DER or PEM certificates (lists are accepted and kept as
    tuples). ``revocation_mode``: ``hard-fail`` (default) requires CRL or OCSP information for
    every non-root certificate of each path, embedded in the PDF or fetched; ``soft-fail``
    checks what it finds and passes otherwise (revocation reported ``unknown``; development
    only). ``fetch`` allows fetching CRLs and OCSP responses over HTTP (``fetch_timeout_s`` per
    request) when the document carries none. ``clock_skew_s`` is the tolerance on every time
    comparison. ``weak_digests``, ``min_rsa_bits`` and ``min_ec_bits`` define weak algorithms,
    for signatures, certificates, CRLs, OCSP responses and timestamps alike.
    """

    roots: tuple[bytes, ...]
    intermediates: tuple[bytes, ...] = ()
    revocation_mode: Literal["hard-fail", "soft-fail"] = "hard-fail"
    fetch: bool = False
    fetch_timeout_s: float = 5.0
    clock_skew_s: int = 300
    weak_digests: frozenset[str] = frozenset({"md2", "md5", "sha1"})
    min_rsa_bits: int = 2048
    min_ec_bits: int = 256

    def __post_init__(self) -> None:
        object.__setattr__(self, "roots", tuple(self.roots))
        object.__setattr__(self, "intermediates", tuple(self.intermediates))
        object.__setattr__(self, "weak_digests", frozenset(self.weak_digests))
        if not self.roots:
            raise ValueError("TrustConfig needs at least one trust root; none trusts nothing")
        if self.revocation_mode not in ("hard-fail", "soft-fail"):
            raise ValueError(f"unknown revocation mode {self.revocation_mode!r}")
        if self.clock_skew_s < 0:
            raise ValueError("clock_skew_s must not be negative")
        for der in (*self.roots, *self.intermediates):
            _load_certificate(der).native  # noqa: B018 - parse fully now: fail at start-up


@dataclass(frozen=True)
class SignaturePolicy:
    """What a document must carry. ``STRICT_DECREE_30`` is the legal default.

    ``seal_agency_must_match_sender``: at least one seal carries the sender's code.
    ``signer_agency_must_match_sender``: every signer's certificate carries the sender's code
    (a joint document signed by the leaders of several agencies needs this off).

    ``allowed_modifications`` caps what may follow the *last* signature (pyHanko's
    ``ModificationLevel``; ``LTA_UPDATES`` = DSS and document timestamps only).
    ``allowed_between_signatures`` caps what may follow an *earlier* signature: adding the next
    signature is ``FORM_FILLING`` in pyHanko's terms.
    """

    require_signer: bool = True
    require_seal: bool = True
    seal_agency_must_match_sender: bool = True
    signer_agency_must_match_sender: bool = True
    seal_after_signer: bool = True
    allowed_modifications: ModificationLevel = ModificationLevel.LTA_UPDATES
    allowed_between_signatures: ModificationLevel = ModificationLevel.FORM_FILLING

    def __post_init__(self) -> None:
        if self.allowed_modifications > self.allowed_between_signatures:
            raise ValueError("the last signature cannot be looser than the earlier ones")
        if self.allowed_between_signatures >= ModificationLevel.OTHER:
            raise ValueError("ModificationLevel.OTHER would accept any change after signing")


STRICT_DECREE_30: Final = SignaturePolicy()


class _AlgorithmPolicy(DisallowWeakAlgorithmsPolicy):
    """pyHanko's weak-algorithm policy plus a floor on EC key sizes."""

    def __init__(self, weak_digests: frozenset[str], min_rsa_bits: int, min_ec_bits: int):
        super().__init__(weak_hash_algos=weak_digests, rsa_key_size_threshold=min_rsa_bits)
        self.min_ec_bits = min_ec_bits

    def signature_algorithm_allowed(
        self,
        algo: Any,
        moment: datetime | None,
        public_key: asn1_keys.PublicKeyInfo | None,
    ) -> AlgorithmUsageConstraint:
        verdict: AlgorithmUsageConstraint = super().signature_algorithm_allowed(
            algo, moment, public_key
        )
        if verdict and public_key is not None and public_key.algorithm == "ec":
            size = public_key.bit_size
            if size < self.min_ec_bits:
                return AlgorithmUsageConstraint(
                    allowed=False,
                    failure_reason=f"EC key of {size} bits; policy requires {self.min_ec_bits}",
                )
        return verdict


@dataclass(frozen=True)
class _Trust:
    roots: tuple[x509.Certificate, ...]
    intermediates: tuple[x509.Certificate, ...]
    algorithms: _AlgorithmPolicy
    cms_algorithms: CMSAlgorithmUsagePolicy
    revinfo_policy: CertRevTrustPolicy
    hard_fail: bool


@functools.lru_cache(maxsize=16)
def _trust(config: TrustConfig) -> _Trust:
    algorithms = _AlgorithmPolicy(config.weak_digests, config.min_rsa_bits, config.min_ec_bits)
    checking = (
        REQUIRE_REVINFO if config.revocation_mode == "hard-fail" else LEGACY_POLICY_MAP["soft-fail"]
    )
    return _Trust(
        roots=tuple(_load_certificate(c) for c in config.roots),
        intermediates=tuple(_load_certificate(c) for c in config.intermediates),
        algorithms=algorithms,
        cms_algorithms=CMSAlgorithmUsagePolicy.lift_policy(algorithms),
        # Retroactive: revocation data fetched just after signing (B-LT) speaks for the
        # signature time; a revocation dated after that time does not void the signature.
        revinfo_policy=CertRevTrustPolicy(checking, retroactive_revinfo=True),
        hard_fail=config.revocation_mode == "hard-fail",
    )
