"""An offline test PKI (certomancer) and helpers that sign PDFs with pyHanko, for the PAdES
validation tests and the signature benchmark.

Everything happens in-process: keys are generated with ``cryptography`` into a directory,
certomancer issues the certificates and CRLs from a config dict, pyHanko's ``DummyTimeStamper``
plays the TSA, and revocation data is embedded in the PDFs (B-LT) so validation needs no network.
The only URLs in the certificates point at a closed port on 127.0.0.1 ("a responder that is
down").

Cast: a root and an issuing CA; an RFC 3161 TSA; a seal certificate per agency (organisation,
agency code in organizationIdentifier or serialNumber); a leader's personal certificate with
nonRepudiation and the agency's code in organizationIdentifier; a leader of another agency; a
leader whose certificate names no agency code; and the bad ones — revoked before signing,
expired before signing, a certificate signed with SHA-1, an RSA-1024 key, a self-signed
"leader", a leader under a root nobody trusts, and a leader whose only revocation pointer is an
OCSP responder that is down.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any, Literal

from asn1crypto import crl as asn1_crl  # type: ignore[import-untyped]
from asn1crypto import keys as asn1_keys
from asn1crypto import tsp, x509
from certomancer.registry import (
    ArchLabel,
    CertLabel,
    CertomancerConfig,
    KeyLabel,
    PKIArchitecture,
    ServiceLabel,
)
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko.sign.validation.dss import DocumentSecurityStore
from pyhanko_certvalidator import ValidationContext
from pyhanko_certvalidator.registry import SimpleCertificateStore

from docex.signing.validation import TrustConfig

SENDER = "000.00.00.G22"  # Government Office: the sending agency in the tests
OTHER_AGENCY = "000.00.00.H41"  # People's Committee of Nghệ An

RevinfoMode = Literal["embed", "dss", "none"]
RESERVED = 16 * 1024  # hex digits for the CMS: 8 KB, ~5.2 KB used (revocation data is in the DSS)

# label -> key kind. The CAs are RSA-2048; keys that sign documents are EC P-256, because
# pyHanko loads the private key for every signature and loading (checking) an RSA key costs
# ~60 ms, which would dominate the test run.
_KEYS: dict[str, str] = {
    "root": "rsa",
    "interm": "rsa",
    "tsa": "ec",
    "seal-g22": "ec",
    "seal-h41": "ec",
    "leader": "ec",
    "leader-revoked": "ec",
    "leader-expired": "ec",
    "leader-sha1": "ec",
    "leader-rsa1024": "rsa1024",
    "leader-ocsp": "ec",
    "leader-cccd": "ec",
    "leader-h41": "ec",
    "leader-unattributed": "ec",
    "selfsigned": "ec",
    "rogue-root": "ec",
    "rogue-leader": "ec",
}


def _write_keys(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    for label, kind in _KEYS.items():
        key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
        if kind == "ec":
            key = ec.generate_private_key(ec.SECP256R1())
        else:
            key = rsa.generate_private_key(65537, 1024 if kind == "rsa1024" else 2048)
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        (directory / f"{label}.key.pem").write_bytes(pem)


def _closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens: the OCSP responder and CRL server are down."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def _ku(*usages: str) -> dict[str, Any]:
    return {
        "id": "key_usage",
        "critical": True,
        "smart-value": {"schema": "key-usage", "params": list(usages)},
    }


def _crl_dp(repo: str) -> dict[str, Any]:
    return {
        "id": "crl_distribution_points",
        "smart-value": {"schema": "crl-dist-url", "params": {"crl-repo-names": [repo]}},
    }


def _ocsp_aia(responder: str) -> dict[str, Any]:
    return {
        "id": "authority_information_access",
        "smart-value": {"schema": "aia-urls", "params": {"ocsp-responder-names": [responder]}},
    }


_CA = {"id": "basic_constraints", "critical": True, "value": {"ca": True}}


def _config(now: datetime, url_prefix: str) -> dict[str, Any]:
    long_ago = now - timedelta(days=3 * 365)
    far = now + timedelta(days=10 * 365)
    current = {
        "valid-from": _iso(now - timedelta(days=365)),
        "valid-to": _iso(now + timedelta(days=730)),
    }
    ca_validity = {"valid-from": _iso(long_ago), "valid-to": _iso(far)}
    leaf_ext = [_ku("digital_signature", "non_repudiation"), _crl_dp("interm")]

    def person(common: str, given: str, surname: str, **extra: str) -> dict[str, str]:
        return {
            "common-name": common,
            "given-name": given,
            "surname": surname,
            "organization-name": "Văn phòng Chính phủ",
            "organization-identifier": f"VN:{SENDER}",
            **extra,
        }

    return {
        "external-url-prefix": url_prefix,
        "keysets": {
            "docex": {
                "keys": {label: {"path": f"{label}.key.pem"} for label in _KEYS},
            }
        },
        "pki-architectures": {
            "docex": {
                "keyset": "docex",
                "entity-defaults": {"country-name": "VN"},
                "entities": {
                    "root": {"common-name": "docex Test Root CA", "organization-name": "docex"},
                    "interm": {
                        "common-name": "docex Test Issuing CA",
                        "organization-name": "docex",
                    },
                    "tsa": {"common-name": "docex Test TSA", "organization-name": "docex"},
                    "seal-g22": {
                        "common-name": "Văn phòng Chính phủ",
                        "organization-name": "Văn phòng Chính phủ",
                        "organization-identifier": f"VN:{SENDER}",
                    },
                    "seal-h41": {
                        "common-name": "UBND tỉnh Nghệ An",
                        "organization-name": "UBND tỉnh Nghệ An",
                        "serial-number": OTHER_AGENCY,
                    },
                    "leader": person("Nguyễn Văn An", "An", "Nguyễn"),
                    "leader-revoked": person("Trần Thị Bình", "Bình", "Trần"),
                    "leader-expired": person("Lê Văn Cường", "Cường", "Lê"),
                    "leader-sha1": person("Phạm Thị Dung", "Dung", "Phạm"),
                    "leader-rsa1024": person("Hoàng Văn Em", "Em", "Hoàng"),
                    "leader-ocsp": person("Vũ Thị Giang", "Giang", "Vũ"),
                    # no givenName/surname, an ID card number, and the agency's code: a person
                    "leader-cccd": {
                        "common-name": "Bùi Văn Long",
                        "organization-name": "Văn phòng Chính phủ",
                        "organization-identifier": f"VN:{SENDER}",
                        "user-id": "CCCD:001099012345",
                    },
                    "leader-h41": person(
                        "Đặng Văn Minh",
                        "Minh",
                        "Đặng",
                        **{
                            "organization-name": "UBND tỉnh Nghệ An",
                            "organization-identifier": f"VN:{OTHER_AGENCY}",
                        },
                    ),
                    # a person named, an agency named, but no agency code to check
                    "leader-unattributed": {
                        "common-name": "Lý Thị Nga",
                        "given-name": "Nga",
                        "surname": "Lý",
                        "organization-name": "Văn phòng Chính phủ",
                    },
                    "selfsigned": person("Đỗ Văn Hùng", "Hùng", "Đỗ"),
                    "rogue-root": {"common-name": "Rogue Root CA", "organization-name": "Rogue"},
                    "rogue-leader": person("Ngô Văn Khải", "Khải", "Ngô"),
                },
                "certs": {
                    "root": {
                        "subject": "root",
                        "issuer": "root",
                        "validity": ca_validity,
                        "extensions": [_CA, _ku("digital_signature", "key_cert_sign", "crl_sign")],
                    },
                    "interm": {
                        "subject": "interm",
                        "issuer": "root",
                        "validity": ca_validity,
                        "extensions": [
                            _CA,
                            _ku("digital_signature", "key_cert_sign", "crl_sign"),
                            _crl_dp("root"),
                        ],
                    },
                    "tsa": {
                        "subject": "tsa",
                        "issuer": "interm",
                        "validity": current,
                        "extensions": [
                            _ku("digital_signature"),
                            {
                                "id": "extended_key_usage",
                                "critical": True,
                                "value": ["time_stamping"],
                            },
                            _crl_dp("interm"),
                        ],
                    },
                    "seal-g22": {
                        "subject": "seal-g22",
                        "issuer": "interm",
                        "validity": current,
                        "extensions": leaf_ext,
                    },
                    "seal-h41": {
                        "subject": "seal-h41",
                        "issuer": "interm",
                        "validity": current,
                        "extensions": leaf_ext,
                    },
                    "leader": {
                        "subject": "leader",
                        "issuer": "interm",
                        "validity": current,
                        "extensions": leaf_ext,
                    },
                    "leader-revoked": {
                        "subject": "leader-revoked",
                        "issuer": "interm",
                        "validity": current,
                        "revocation": {
                            "revoked-since": _iso(now - timedelta(days=30)),
                            "reason": "key_compromise",
                        },
                        "extensions": leaf_ext,
                    },
                    "leader-expired": {
                        "subject": "leader-expired",
                        "issuer": "interm",
                        "validity": {
                            "valid-from": _iso(long_ago + timedelta(days=1)),
                            "valid-to": _iso(now - timedelta(days=400)),
                        },
                        "extensions": leaf_ext,
                    },
                    "leader-sha1": {
                        "subject": "leader-sha1",
                        "issuer": "interm",
                        "validity": current,
                        "digest-algo": "sha1",
                        "extensions": leaf_ext,
                    },
                    "leader-rsa1024": {
                        "subject": "leader-rsa1024",
                        "issuer": "interm",
                        "validity": current,
                        "extensions": leaf_ext,
                    },
                    "leader-ocsp": {
                        "subject": "leader-ocsp",
                        "issuer": "interm",
                        "validity": current,
                        "extensions": [
                            _ku("digital_signature", "non_repudiation"),
                            _ocsp_aia("interm"),
                        ],
                    },
                    "leader-cccd": {
                        "subject": "leader-cccd",
                        "issuer": "interm",
                        "validity": current,
                        "extensions": leaf_ext,
                    },
                    "leader-h41": {
                        "subject": "leader-h41",
                        "issuer": "interm",
                        "validity": current,
                        "extensions": leaf_ext,
                    },
                    "leader-unattributed": {
                        "subject": "leader-unattributed",
                        "issuer": "interm",
                        "validity": current,
                        "extensions": leaf_ext,
                    },
                    "selfsigned": {
                        "subject": "selfsigned",
                        "issuer": "selfsigned",
                        "validity": current,
                        "extensions": [_ku("digital_signature", "non_repudiation")],
                    },
                    "rogue-root": {
                        "subject": "rogue-root",
                        "issuer": "rogue-root",
                        "validity": ca_validity,
                        "extensions": [_CA, _ku("digital_signature", "key_cert_sign", "crl_sign")],
                    },
                    "rogue-leader": {
                        "subject": "rogue-leader",
                        "issuer": "rogue-root",
                        "validity": current,
                        "extensions": [_ku("digital_signature", "non_repudiation")],
                    },
                },
                "services": {
                    "crl-repo": {
                        "root": {
                            "for-issuer": "root",
                            "signing-key": "root",
                            "simulated-update-schedule": "P1D",
                        },
                        "interm": {
                            "for-issuer": "interm",
                            "signing-key": "interm",
                            "simulated-update-schedule": "P1D",
                        },
                    },
                    "time-stamping": {
                        "tsa": {"signing-cert": "tsa", "certs-to-embed": ["interm"]},
                    },
                    "ocsp": {
                        "interm": {
                            "for-issuer": "interm",
                            "responder-cert": "interm",
                            "signing-key": "interm",
                        }
                    },
                },
            }
        },
    }


class _InProcessTsa(TimeStamper):
    """pyHanko's TSA client talking to certomancer's TSA in-process (EC keys, no socket)."""

    def __init__(self, tsa: Any) -> None:
        super().__init__()
        self._tsa = tsa

    async def async_request_tsa_response(self, req: tsp.TimeStampReq) -> tsp.TimeStampResp:
        response: tsp.TimeStampResp = self._tsa.request_tsa_response(req)
        return response


@dataclass
class PadesPki:
    """The issued PKI, with what a signer needs and the trust configuration of a docex node."""

    arch: PKIArchitecture
    now: datetime
    _crls: list[asn1_crl.CertificateList] = field(default_factory=list)

    def cert(self, label: str) -> x509.Certificate:
        return self.arch.get_cert(CertLabel(label))

    def key(self, label: str) -> asn1_keys.PrivateKeyInfo:
        return self.arch.key_set.get_private_key(KeyLabel(label))

    def crls(self) -> list[asn1_crl.CertificateList]:
        """The current CRLs of the root and the issuing CA (what a B-LT signer embeds)."""
        if not self._crls:
            registry = self.arch.service_registry
            self._crls = [
                registry.get_crl(ServiceLabel(repo), at_time=self.now)
                for repo in ("root", "interm")
            ]
        return self._crls

    def trust(self, **overrides: Any) -> TrustConfig:
        """The node's trust configuration: the national root, nothing else."""
        return TrustConfig(roots=(self.cert("root").dump(),), **overrides)

    def timestamper(self) -> TimeStamper:
        return _InProcessTsa(self.arch.service_registry.summon_timestamper(ServiceLabel("tsa")))

    def signer(self, label: str) -> signers.SimpleSigner:
        chain = [self.cert("interm"), self.cert("root")]
        if label.startswith("rogue"):
            chain = [self.cert("rogue-root")]
        return signers.SimpleSigner(
            signing_cert=self.cert(label),
            signing_key=self.key(label),
            cert_registry=SimpleCertificateStore.from_certs(chain),
        )

    def sign(
        self,
        pdf: bytes,
        label: str,
        *,
        field_name: str,
        revinfo: RevinfoMode = "embed",
        md_algorithm: str = "sha256",
        timestamp: bool = True,
    ) -> bytes:
        """Add one incremental PAdES signature (B-T; B-LT unless ``revinfo="none"``).

        ``embed``: pyHanko validates the signer and embeds what it used (the real B-LT path).
        ``dss``: sign without validating (pyHanko refuses revoked or expired signers), then add a
        DSS update carrying the CRLs and the chain, as a careless signing tool would.
        """
        writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
        embed = revinfo == "embed"
        meta = signers.PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm=md_algorithm,
            subfilter=fields.SigSeedSubFilter.PADES,
            embed_validation_info=embed,
            validation_context=self._signing_context() if embed else None,
        )
        pdf_signer = signers.PdfSigner(
            meta, self.signer(label), timestamper=self.timestamper() if timestamp else None
        )
        # A fixed reservation spares pyHanko a dry run (a second signature and timestamp) to
        # size the /Contents placeholder.
        out = pdf_signer.sign_pdf(writer, bytes_reserved=RESERVED)
        if revinfo == "dss":
            DocumentSecurityStore.add_dss(
                out,
                None,
                certs=[self.cert("interm"), self.cert("root")],
                crls=self.crls(),
            )
        return bytes(out.getvalue())

    def document_timestamp(self, pdf: bytes) -> bytes:
        """Add a PAdES-LTA document timestamp (/DocTimeStamp) with its revocation data."""
        writer = IncrementalPdfFileWriter(BytesIO(pdf), strict=False)
        out = signers.PdfTimeStamper(self.timestamper()).timestamp_pdf(
            writer, "sha256", validation_context=self._signing_context()
        )
        return bytes(out.getvalue())

    def _signing_context(self) -> ValidationContext:
        return ValidationContext(
            trust_roots=[self.cert("root")],
            other_certs=[self.cert("interm")],
            crls=self.crls(),
            allow_fetching=False,
            revocation_mode="require",
        )


def build_pki(directory: Path, now: datetime | None = None) -> PadesPki:
    """Generate keys in ``directory`` and issue the whole PKI (about a second)."""
    now = now or datetime.now(UTC)
    _write_keys(directory)
    config = CertomancerConfig(
        _config(now, f"http://127.0.0.1:{_closed_port()}"), key_search_dir=str(directory)
    )
    return PadesPki(arch=config.get_pki_arch(ArchLabel("docex")), now=now)
