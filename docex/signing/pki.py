"""The demo and test PKI of a docex node: a root CA, an issuing CA, agency seals, personal signers,
a time-stamping authority and an OCSP responder, built offline with ``cryptography``.

What it guarantees
------------------
- Certificates follow the RFC 5280 profile: v3, SHA-256 with ECDSA on P-256 keys, subject and
  authority key identifiers, critical basic constraints and key usage, a CRL distribution point
  and an OCSP access location (``<base_url>/pki/crl/<ca>.crl``, ``<base_url>/pki/ocsp``) on every
  certificate whose revocation can be checked.
- The chain is ``root (self-signed) → issuing CA (pathLen 0) → end entities``:

  ========== ===================================================================================
  seal       the agency's organisation certificate (ETSI EN 319 412-3 "legal person"): subject
             C=VN, O=<agency name>, CN=<agency name>, organizationIdentifier=``VN:<agency code>``;
             no givenName/surname; keyUsage digitalSignature + nonRepudiation (critical)
  person     a personal signer (ETSI EN 319 412-2 "natural person"): C=VN, O=<agency name>,
             organizationIdentifier=``VN:<agency code>``, CN=<full name>, surname=<first word of
             the name, họ>, givenName=<the rest>; keyUsage digitalSignature + nonRepudiation
  tsa        RFC 3161 time-stamping unit: extendedKeyUsage timeStamping, critical (§2.3)
  ocsp       RFC 6960 delegated responder: extendedKeyUsage OCSPSigning, id-pkix-ocsp-nocheck
  ========== ===================================================================================

  ``organizationIdentifier`` (OID 2.5.4.97) uses the ETSI EN 319 412-1 §5.1.4 form for a
  nationally defined identifier: the ISO 3166 country code, a colon, then the identifier, here the
  agency code exactly as in the directory, e.g. ``VN:000.00.00.G22``. Use
  :func:`organization_identifier` and :func:`agency_code_from_organization_identifier` rather than
  string surgery.
- Every private key is written as PKCS#8 PEM, encrypted with the passphrase (PBES2, the best
  algorithm ``cryptography`` offers) when one is given, with mode 0600 inside 0700 directories,
  atomically (write to a temporary file, fsync, rename). Without a passphrase the keys are written
  in the clear and a :class:`UnencryptedKeysWarning` is issued: that is for throw-away test PKIs.
- The PKI is idempotent: building it again over an existing directory only adds what is missing.
  Re-issuing a key id (:meth:`Pki.rotate`) creates a new key and certificate and keeps the old
  certificate in the index, marked superseded, so signatures made with it still verify.
- :meth:`Pki.revoke` records the revocation in ``pki.json`` (the OCSP responder's database) and
  re-issues the issuer's CRL (RFC 5280 §5, with cRLNumber) in the same locked operation.

Layout of the directory (``pki.json`` is the index; paths in it are relative)::

    <directory>/                0700
      pki.json                  index: certificates by serial and key id, revocations, CRL numbers
      certs/                    0700; PEM certificates (public)
        root.pem  issuing.pem  tsa.pem  ocsp.pem  chain.pem (issuing + root)
        <serial hex>.pem        one per seal / person certificate, old ones kept
      crl/                      0700; DER CRLs, served at <base_url>/pki/crl/<name>.crl
        root.crl  issuing.crl
      private/                  0700; PKCS#8 PEM keys, 0600
        root.key.pem  issuing.key.pem  tsa.key.pem  ocsp.key.pem  <serial hex>.key.pem
      .lock                     flock(2) for read-modify-write of the index

Key ids: ``seal:<agency code>`` and ``person:<username>`` for signing keys; the infrastructure
keys are ``ca:root``, ``ca:issuing``, ``tsa`` and ``ocsp``.
"""

from __future__ import annotations

import fcntl
import json
import os
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from docex.kit.files import atomic_write
from docex.signing import keys
from docex.signing.keys import KeyStoreError

INDEX_FILE = "pki.json"
INDEX_VERSION = 1
ROOT_NAME = "docex Demo Root CA"
ISSUING_NAME = "docex Demo Issuing CA"
TSA_NAME = "docex Demo Time-Stamping Authority"
OCSP_NAME = "docex Demo OCSP Responder"
ORG_NAME = "docex demo PKI"
COUNTRY = "VN"
ORGANIZATION_IDENTIFIER_PREFIX = "VN:"
DEFAULT_BASE_URL = "http://127.0.0.1:8000"

CRL_NAMES = ("root", "issuing")
UB_COMMON_NAME = 64
CLOCK_SKEW = timedelta(minutes=5)
ROOT_VALIDITY = timedelta(days=20 * 365)
ISSUING_VALIDITY = timedelta(days=10 * 365)
SERVICE_VALIDITY = timedelta(days=5 * 365)  # TSA and OCSP responder
SUBJECT_VALIDITY = timedelta(days=3 * 365)  # seals and people
CRL_VALIDITY = timedelta(days=7)
CRL_REFRESH = timedelta(days=1)  # re-issue a CRL older than this when it is asked for

Role = Literal["root", "issuing", "tsa", "ocsp", "seal", "person"]
CaName = Literal["root", "issuing"]
PrivateKey = ec.EllipticCurvePrivateKey

_REASONS = {flag.name: flag for flag in x509.ReasonFlags}


class PkiError(RuntimeError):
    """The PKI directory is missing, inconsistent, or its keys cannot be decrypted."""


class UnencryptedKeysWarning(UserWarning):
    """Private keys are being written without a passphrase (acceptable for tests only)."""


def organization_identifier(agency_code: str) -> str:
    """The organizationIdentifier value that binds a certificate to ``agency_code``."""
    return f"{ORGANIZATION_IDENTIFIER_PREFIX}{agency_code}"


def agency_code_from_organization_identifier(value: str) -> str | None:
    """The agency code of an organizationIdentifier written by :func:`organization_identifier`."""
    if not value.startswith(ORGANIZATION_IDENTIFIER_PREFIX):
        return None
    code = value[len(ORGANIZATION_IDENTIFIER_PREFIX) :]
    return code or None


def agency_code_of(certificate: x509.Certificate) -> str | None:
    """The agency code carried in the subject's organizationIdentifier, if any."""
    values = certificate.subject.get_attributes_for_oid(NameOID.ORGANIZATION_IDENTIFIER)
    if len(values) != 1 or not isinstance(values[0].value, str):
        return None
    return agency_code_from_organization_identifier(values[0].value)


def seal_subject(agency_code: str, agency_name: str) -> x509.Name:
    """The subject of an agency's seal certificate (see the table above)."""
    return _name(
        (NameOID.COUNTRY_NAME, COUNTRY),
        (NameOID.ORGANIZATION_NAME, agency_name),
        (NameOID.ORGANIZATION_IDENTIFIER, organization_identifier(agency_code)),
        (NameOID.COMMON_NAME, _common_name(agency_name)),
    )


def person_subject(full_name: str, agency_code: str, agency_name: str) -> x509.Name:
    """The subject of a personal signer's certificate (see the table above)."""
    surname, given = _split_person_name(full_name)
    return _name(
        (NameOID.COUNTRY_NAME, COUNTRY),
        (NameOID.ORGANIZATION_NAME, agency_name),
        (NameOID.ORGANIZATION_IDENTIFIER, organization_identifier(agency_code)),
        (NameOID.SURNAME, surname),
        (NameOID.GIVEN_NAME, given),
        (NameOID.COMMON_NAME, _common_name(full_name)),
    )


def seal_key_id(agency_code: str) -> str:
    return f"seal:{agency_code}"


def person_key_id(username: str) -> str:
    return f"person:{username}"


@dataclass(frozen=True)
class CertRecord:
    """One certificate the PKI issued, as listed in ``pki.json``."""

    serial: int
    role: Role
    key_id: str
    """``seal:<code>``, ``person:<username>``, ``ca:root``, ``ca:issuing``, ``tsa`` or ``ocsp``."""
    issuer: CaName | None
    """The CA that signed it; ``None`` for the self-signed root."""
    cert: str
    """Path of the PEM certificate, relative to the PKI directory."""
    key: str
    """Path of the PKCS#8 private key, relative to the PKI directory; empty when the key is
    held elsewhere (a PKCS#11 token) and only its public half was certified here."""
    subject: str
    """RFC 4514 string of the subject, for people and logs."""
    not_before: datetime
    not_after: datetime
    superseded_at: datetime | None = None
    """Set when a newer key replaced this one; the certificate is kept for verification."""

    def to_json(self) -> dict[str, Any]:
        return {
            "serial": format(self.serial, "x"),
            "role": self.role,
            "key_id": self.key_id,
            "issuer": self.issuer,
            "cert": self.cert,
            "key": self.key,
            "subject": self.subject,
            "not_before": self.not_before.isoformat(),
            "not_after": self.not_after.isoformat(),
            "superseded_at": self.superseded_at.isoformat() if self.superseded_at else None,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CertRecord:
        superseded = data.get("superseded_at")
        return cls(
            serial=int(data["serial"], 16),
            role=data["role"],
            key_id=data["key_id"],
            issuer=data["issuer"],
            cert=data["cert"],
            key=data["key"],
            subject=data["subject"],
            not_before=datetime.fromisoformat(data["not_before"]),
            not_after=datetime.fromisoformat(data["not_after"]),
            superseded_at=datetime.fromisoformat(superseded) if superseded else None,
        )


@dataclass(frozen=True)
class Revocation:
    """A revoked certificate: what the CRL and the OCSP responder report."""

    serial: int
    reason: x509.ReasonFlags
    revoked_at: datetime
    issuer: CaName


@dataclass(frozen=True)
class PkiLayout:
    """Where :func:`build_pki` put things (all paths absolute)."""

    directory: Path
    index: Path
    base_url: str
    root_cert: Path
    issuing_cert: Path
    chain: Path
    tsa_cert: Path
    ocsp_cert: Path
    crls: Mapping[str, Path]
    """``root`` and ``issuing`` → DER CRL file."""
    certificates: Mapping[str, Path]
    """Current certificate of each signing key id (``seal:…``, ``person:…``)."""
    encrypted: bool


@dataclass(frozen=True)
class _Index:
    base_url: str
    encrypted: bool
    records: tuple[CertRecord, ...]
    revocations: tuple[Revocation, ...]
    crl_numbers: Mapping[str, int]
    agencies: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": INDEX_VERSION,
            "base_url": self.base_url,
            "encrypted": self.encrypted,
            "agencies": dict(self.agencies),
            "certificates": [r.to_json() for r in self.records],
            "revocations": [
                {
                    "serial": format(r.serial, "x"),
                    "reason": r.reason.name,
                    "revoked_at": r.revoked_at.isoformat(),
                    "issuer": r.issuer,
                }
                for r in self.revocations
            ],
            "crl_numbers": dict(self.crl_numbers),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> _Index:
        if data.get("version") != INDEX_VERSION:
            raise PkiError(f"unsupported {INDEX_FILE} version {data.get('version')!r}")
        return cls(
            base_url=data["base_url"],
            encrypted=bool(data["encrypted"]),
            records=tuple(CertRecord.from_json(r) for r in data["certificates"]),
            revocations=tuple(
                Revocation(
                    serial=int(r["serial"], 16),
                    reason=_REASONS[r["reason"]],
                    revoked_at=datetime.fromisoformat(r["revoked_at"]),
                    issuer=r["issuer"],
                )
                for r in data["revocations"]
            ),
            crl_numbers={str(k): int(v) for k, v in data["crl_numbers"].items()},
            agencies={str(k): str(v) for k, v in data.get("agencies", {}).items()},
        )


# -- files -----------------------------------------------------------------------------------


def _ensure_dir(path: Path) -> None:
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    os.chmod(path, 0o700)


def load_private_key(path: Path, passphrase: str | None) -> PrivateKey:
    """Load a PKCS#8 key written by this module; :class:`PkiError` if it cannot be decrypted."""
    try:
        return keys.load_private_key(path, passphrase)
    except KeyStoreError as exc:
        raise PkiError(str(exc)) from exc


def load_certificate(path: Path) -> x509.Certificate:
    try:
        return x509.load_pem_x509_certificate(path.read_bytes())
    except FileNotFoundError as exc:
        raise PkiError(f"no certificate at {path}") from exc


# -- certificate profiles ----------------------------------------------------------------------


def _name(*attributes: tuple[x509.ObjectIdentifier, str]) -> x509.Name:
    return x509.Name([x509.NameAttribute(oid, value) for oid, value in attributes])


def _common_name(text: str) -> str:
    """``text`` cut at a word to the X.520 upper bound of a commonName (64, which
    ``cryptography`` counts in UTF-8 bytes). organizationName and the names keep the full text."""
    if len(text.encode()) <= UB_COMMON_NAME:
        return text
    words, out = text.split(), ""
    for word in words:
        candidate = f"{out} {word}" if out else word
        if len(candidate.encode()) > UB_COMMON_NAME - len("…".encode()):
            break
        out = candidate
    if not out:  # one enormous word
        out = text.encode()[: UB_COMMON_NAME - 3].decode(errors="ignore")
    return f"{out}…"


def _split_person_name(full_name: str) -> tuple[str, str]:
    """(surname, given names): a Vietnamese name puts the family name (họ) first."""
    parts = full_name.split()
    if len(parts) < 2:
        return full_name.strip() or full_name, full_name.strip() or full_name
    return parts[0], " ".join(parts[1:])


def _key_usage(*, ca: bool = False, non_repudiation: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=not ca,
        content_commitment=non_repudiation,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=ca,
        crl_sign=ca,
        encipher_only=False,
        decipher_only=False,
    )


def _certificate(
    *,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    issuer_cert: x509.Certificate | None,
    issuer_key: PrivateKey,
    serial: int,
    now: datetime,
    validity: timedelta,
    extensions: Sequence[tuple[x509.ExtensionType, bool]],
) -> x509.Certificate:
    issuer_name = issuer_cert.subject if issuer_cert is not None else subject
    not_after = now + validity
    if issuer_cert is not None:
        # RFC 5280 §6.1.3: a certificate outliving its issuer fails validation afterwards.
        not_after = min(not_after, issuer_cert.not_valid_after_utc)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(public_key)
        .serial_number(serial)
        .not_valid_before(now - CLOCK_SKEW)
        .not_valid_after(not_after)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer_key.public_key()),
            critical=False,
        )
    )
    for extension, critical in extensions:
        builder = builder.add_extension(extension, critical=critical)
    return builder.sign(issuer_key, hashes.SHA256())


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return value.astimezone(UTC)


# -- the PKI ---------------------------------------------------------------------------------


class Pki:
    """An open PKI directory: issues, rotates and revokes certificates, signs CRLs.

    The index is re-read when ``pki.json`` changes on disk, so a responder in the server
    process sees a revocation made by ``docex`` on the command line. Mutations hold an
    exclusive ``flock`` on ``.lock`` for their read-modify-write.
    """

    def __init__(self, directory: Path, passphrase: str | None) -> None:
        self.directory = directory
        self._passphrase = passphrase
        self._index_cache: tuple[int, _Index] | None = None
        self._certs: dict[str, x509.Certificate] = {}
        self._keys: dict[str, PrivateKey] = {}

    @classmethod
    def open(cls, directory: Path, passphrase: str | None) -> Pki:
        if not (directory / INDEX_FILE).exists():
            raise PkiError(f"no PKI at {directory}; run `docex pki init` first")
        return cls(directory, passphrase)

    # -- index ----------------------------------------------------------------------------

    @property
    def index_path(self) -> Path:
        return self.directory / INDEX_FILE

    def _index(self) -> _Index:
        try:
            mtime = self.index_path.stat().st_mtime_ns
        except FileNotFoundError as exc:
            raise PkiError(f"no PKI at {self.directory}") from exc
        if self._index_cache is None or self._index_cache[0] != mtime:
            data = json.loads(self.index_path.read_text(encoding="utf-8"))
            self._index_cache = (mtime, _Index.from_json(data))
        return self._index_cache[1]

    def _save(self, index: _Index) -> None:
        payload = json.dumps(index.to_json(), ensure_ascii=False, indent=2).encode()
        atomic_write(self.index_path, payload, 0o600)
        self._index_cache = None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        _ensure_dir(self.directory)
        fd = os.open(self.directory / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            self._index_cache = None
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @property
    def base_url(self) -> str:
        return self._index().base_url

    @property
    def encrypted(self) -> bool:
        return self._index().encrypted

    def records(self) -> tuple[CertRecord, ...]:
        return self._index().records

    def record(self, serial: int) -> CertRecord | None:
        for rec in self._index().records:
            if rec.serial == serial:
                return rec
        return None

    def history(self, key_id: str) -> tuple[CertRecord, ...]:
        """Every certificate issued for ``key_id``, oldest first (superseded ones included)."""
        return tuple(r for r in self._index().records if r.key_id == key_id)

    def current(self, key_id: str) -> CertRecord | None:
        """The certificate ``key_id`` signs with now, or ``None`` if it has none."""
        live = [r for r in self.history(key_id) if r.superseded_at is None]
        return live[-1] if live else None

    def signing_key_ids(self) -> tuple[str, ...]:
        seen: dict[str, None] = {}
        for rec in self._index().records:
            if rec.role in ("seal", "person") and rec.superseded_at is None:
                seen[rec.key_id] = None
        return tuple(seen)

    def agency_name(self, code: str) -> str | None:
        return self._index().agencies.get(code)

    def revocations(self) -> tuple[Revocation, ...]:
        return self._index().revocations

    def revocation(self, serial: int) -> Revocation | None:
        for rev in self._index().revocations:
            if rev.serial == serial:
                return rev
        return None

    # -- material -----------------------------------------------------------------------------

    def certificate(self, rec: CertRecord) -> x509.Certificate:
        cert = self._certs.get(rec.cert)
        if cert is None:
            cert = load_certificate(self.directory / rec.cert)
            self._certs[rec.cert] = cert
        return cert

    def private_key(self, rec: CertRecord) -> PrivateKey:
        if not rec.key:
            raise PkiError(f"the key of {rec.key_id} is not held in the PKI directory")
        key = self._keys.get(rec.key)
        if key is None:
            key = load_private_key(self.directory / rec.key, self._passphrase)
            self._keys[rec.key] = key
        return key

    def _infra(self, key_id: str) -> CertRecord:
        rec = self.current(key_id)
        if rec is None:
            raise PkiError(f"the PKI at {self.directory} has no {key_id}")
        return rec

    @property
    def root_certificate(self) -> x509.Certificate:
        return self.certificate(self._infra("ca:root"))

    @property
    def issuing_certificate(self) -> x509.Certificate:
        return self.certificate(self._infra("ca:issuing"))

    def ca_certificate(self, name: CaName) -> x509.Certificate:
        return self.certificate(self._infra(f"ca:{name}"))

    def ca_key(self, name: CaName) -> PrivateKey:
        return self.private_key(self._infra(f"ca:{name}"))

    def chain(self) -> tuple[x509.Certificate, ...]:
        """The CA certificates above every end entity: (issuing CA, root)."""
        return (self.issuing_certificate, self.root_certificate)

    def tsa_credentials(self) -> tuple[x509.Certificate, PrivateKey]:
        rec = self._infra("tsa")
        return self.certificate(rec), self.private_key(rec)

    def ocsp_credentials(self) -> tuple[x509.Certificate, PrivateKey]:
        rec = self._infra("ocsp")
        return self.certificate(rec), self.private_key(rec)

    def layout(self) -> PkiLayout:
        d = self.directory.resolve()
        certificates = {}
        for key_id in self.signing_key_ids():
            rec = self.current(key_id)
            if rec is not None:
                certificates[key_id] = d / rec.cert
        return PkiLayout(
            directory=d,
            index=d / INDEX_FILE,
            base_url=self.base_url,
            root_cert=d / "certs" / "root.pem",
            issuing_cert=d / "certs" / "issuing.pem",
            chain=d / "certs" / "chain.pem",
            tsa_cert=d / "certs" / "tsa.pem",
            ocsp_cert=d / "certs" / "ocsp.pem",
            crls={name: d / "crl" / f"{name}.crl" for name in CRL_NAMES},
            certificates=certificates,
            encrypted=self.encrypted,
        )

    # -- issuance ----------------------------------------------------------------------------

    def _issue(
        self,
        index: _Index,
        *,
        role: Role,
        key_id: str,
        subject: x509.Name,
        issuer: CaName | None,
        validity: timedelta,
        extensions: Sequence[tuple[x509.ExtensionType, bool]],
        now: datetime,
        file_stem: str | None = None,
        public_key: ec.EllipticCurvePublicKey | None = None,
    ) -> tuple[_Index, CertRecord]:
        """Issue a certificate: for a new key written here, or for ``public_key`` whose
        private half lives elsewhere (then nothing is written under ``private/``)."""
        key = ec.generate_private_key(ec.SECP256R1()) if public_key is None else None
        serial = x509.random_serial_number()
        if issuer is None:
            if key is None:
                raise PkiError("a self-signed certificate needs its key here")
            issuer_cert, issuer_key = None, key
        else:
            issuer_cert, issuer_key = self.ca_certificate(issuer), self.ca_key(issuer)
        cert = _certificate(
            subject=subject,
            public_key=key.public_key() if key is not None else public_key,  # type: ignore[arg-type]
            issuer_cert=issuer_cert,
            issuer_key=issuer_key,
            serial=serial,
            now=now,
            validity=validity,
            extensions=extensions,
        )
        stem = file_stem or format(serial, "x")
        cert_rel, key_rel = f"certs/{stem}.pem", f"private/{stem}.key.pem"
        if key is not None:
            keys.write_private_key(self.directory / key_rel, key, self._passphrase)
            self._keys[key_rel] = key
        else:
            key_rel = ""
        atomic_write(
            self.directory / cert_rel, cert.public_bytes(serialization.Encoding.PEM), 0o600
        )
        self._certs[cert_rel] = cert
        rec = CertRecord(
            serial=serial,
            role=role,
            key_id=key_id,
            issuer=issuer,
            cert=cert_rel,
            key=key_rel,
            subject=cert.subject.rfc4514_string(),
            not_before=cert.not_valid_before_utc,
            not_after=cert.not_valid_after_utc,
        )
        records = tuple(
            replace(r, superseded_at=now) if r.key_id == key_id and r.superseded_at is None else r
            for r in index.records
        )
        return replace(index, records=(*records, rec)), rec

    def _ensure_infrastructure(self, index: _Index, now: datetime) -> _Index:
        base = index.base_url
        if not any(r.key_id == "ca:root" for r in index.records):
            index, _ = self._issue(
                index,
                role="root",
                key_id="ca:root",
                subject=_name(
                    (NameOID.COUNTRY_NAME, COUNTRY),
                    (NameOID.ORGANIZATION_NAME, ORG_NAME),
                    (NameOID.COMMON_NAME, ROOT_NAME),
                ),
                issuer=None,
                validity=ROOT_VALIDITY,
                extensions=[
                    (x509.BasicConstraints(ca=True, path_length=None), True),
                    (_key_usage(ca=True), True),
                ],
                now=now,
                file_stem="root",
            )
            self._save(index)
        if not any(r.key_id == "ca:issuing" for r in index.records):
            builder_exts: list[tuple[x509.ExtensionType, bool]] = [
                (x509.BasicConstraints(ca=True, path_length=0), True),
                (_key_usage(ca=True), True),
                (_cdp(base, "root"), False),
            ]
            index, _ = self._issue(
                index,
                role="issuing",
                key_id="ca:issuing",
                subject=_name(
                    (NameOID.COUNTRY_NAME, COUNTRY),
                    (NameOID.ORGANIZATION_NAME, ORG_NAME),
                    (NameOID.COMMON_NAME, ISSUING_NAME),
                ),
                issuer="root",
                validity=ISSUING_VALIDITY,
                extensions=builder_exts,
                now=now,
                file_stem="issuing",
            )
            self._save(index)
        if not any(r.key_id == "tsa" for r in index.records):
            index, _ = self._issue(
                index,
                role="tsa",
                key_id="tsa",
                subject=_name(
                    (NameOID.COUNTRY_NAME, COUNTRY),
                    (NameOID.ORGANIZATION_NAME, ORG_NAME),
                    (NameOID.COMMON_NAME, TSA_NAME),
                ),
                issuer="issuing",
                validity=SERVICE_VALIDITY,
                extensions=[
                    (x509.BasicConstraints(ca=False, path_length=None), True),
                    (_key_usage(non_repudiation=True), True),
                    (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.TIME_STAMPING]), True),
                    *_ee_revocation_exts(base),
                ],
                now=now,
                file_stem="tsa",
            )
            self._save(index)
        if not any(r.key_id == "ocsp" for r in index.records):
            index, _ = self._issue(
                index,
                role="ocsp",
                key_id="ocsp",
                subject=_name(
                    (NameOID.COUNTRY_NAME, COUNTRY),
                    (NameOID.ORGANIZATION_NAME, ORG_NAME),
                    (NameOID.COMMON_NAME, OCSP_NAME),
                ),
                issuer="issuing",
                validity=SERVICE_VALIDITY,
                extensions=[
                    (x509.BasicConstraints(ca=False, path_length=None), True),
                    (_key_usage(), True),
                    (x509.ExtendedKeyUsage([ExtendedKeyUsageOID.OCSP_SIGNING]), False),
                    # RFC 6960 §4.2.2.2.1: clients need not check the responder's own status.
                    (x509.OCSPNoCheck(), False),
                ],
                now=now,
                file_stem="ocsp",
            )
            self._save(index)
        chain = b"".join(
            self.ca_certificate(n).public_bytes(serialization.Encoding.PEM)
            for n in ("issuing", "root")
        )
        atomic_write(self.directory / "certs" / "chain.pem", chain, 0o600)
        return index

    def issue_seal(
        self,
        agency_code: str,
        agency_name: str,
        *,
        now: datetime,
        rotate: bool = False,
        public_key: ec.EllipticCurvePublicKey | None = None,
    ) -> CertRecord:
        """The agency's seal certificate; issued if absent, re-keyed if ``rotate``. With
        ``public_key`` the certificate is for that key (held on a token), not a new one."""
        return self._issue_signer(
            "seal",
            seal_key_id(agency_code),
            agency_code,
            agency_name,
            lambda name: seal_subject(agency_code, name),
            now=now,
            rotate=rotate,
            public_key=public_key,
        )

    def issue_person(
        self,
        username: str,
        full_name: str,
        agency_code: str,
        *,
        now: datetime,
        agency_name: str | None = None,
        rotate: bool = False,
        public_key: ec.EllipticCurvePublicKey | None = None,
    ) -> CertRecord:
        """A personal signer certificate for ``username``; issued if absent, re-keyed if
        ``rotate``. The agency's name comes from ``agency_name`` or the PKI's agency list.
        With ``public_key`` the certificate is for that key (held on a token)."""
        return self._issue_signer(
            "person",
            person_key_id(username),
            agency_code,
            agency_name,
            lambda name: person_subject(full_name, agency_code, name),
            now=now,
            rotate=rotate,
            public_key=public_key,
        )

    def _issue_signer(
        self,
        role: Literal["seal", "person"],
        key_id: str,
        agency_code: str,
        agency_name: str | None,
        subject: Callable[[str], x509.Name],
        *,
        now: datetime,
        rotate: bool,
        public_key: ec.EllipticCurvePublicKey | None,
    ) -> CertRecord:
        """Issue (or, with ``rotate``, re-issue) the signing certificate of ``key_id`` from the
        issuing CA, and remember the agency's name (from ``agency_name`` or the PKI's list)."""
        now = _as_utc(now)
        with self._locked():
            index = self._index()
            existing = self.current(key_id)
            if existing is not None and not rotate:
                return existing
            name = agency_name or index.agencies.get(agency_code)
            if name is None:
                raise PkiError(f"agency {agency_code} is unknown to the PKI; give its name")
            index, rec = self._issue(
                index,
                role=role,
                key_id=key_id,
                subject=subject(name),
                issuer="issuing",
                validity=SUBJECT_VALIDITY,
                extensions=_signer_exts(index.base_url),
                now=now,
                public_key=public_key,
            )
            self._save(replace(index, agencies={**index.agencies, agency_code: name}))
            return rec

    def rotate(
        self,
        key_id: str,
        *,
        now: datetime,
        public_key: ec.EllipticCurvePublicKey | None = None,
    ) -> CertRecord:
        """A new key and certificate for ``key_id`` with the same subject (for ``public_key``
        when the new key is on a token); the old certificate stays listed (superseded) so
        that signatures made with it still verify."""
        rec = self.current(key_id)
        if rec is None or rec.role not in ("seal", "person"):
            raise PkiError(f"no signing key {key_id} to rotate")
        cert = self.certificate(rec)
        code = agency_code_of(cert)
        if code is None:
            raise PkiError(f"{key_id} has no agency code in its subject")
        if rec.role == "seal":
            name = _attr(cert, NameOID.ORGANIZATION_NAME)
            return self.issue_seal(code, name, now=now, rotate=True, public_key=public_key)
        return self.issue_person(
            key_id.removeprefix("person:"),
            _full_name(cert),
            code,
            agency_name=_attr(cert, NameOID.ORGANIZATION_NAME),
            now=now,
            rotate=True,
            public_key=public_key,
        )

    # -- revocation ------------------------------------------------------------------------------

    def revoke(self, serial: int, reason: str | x509.ReasonFlags, when: datetime) -> Revocation:
        """Revoke a certificate: listed by the OCSP responder and in its issuer's new CRL.

        Revoking again keeps the first revocation (RFC 5280 §5.3: the date does not move).
        """
        when = _as_utc(when).replace(microsecond=0)  # CRLs and OCSP carry whole seconds
        flag = reason if isinstance(reason, x509.ReasonFlags) else _REASONS.get(reason)
        if flag is None:
            raise PkiError(f"unknown revocation reason {reason!r}; one of {sorted(_REASONS)}")
        with self._locked():
            index = self._index()
            rec = next((r for r in index.records if r.serial == serial), None)
            if rec is None or rec.issuer is None:
                raise PkiError(f"serial {serial:x} was not issued by this PKI's CAs")
            previous = next((r for r in index.revocations if r.serial == serial), None)
            if previous is not None:
                return previous
            revocation = Revocation(serial=serial, reason=flag, revoked_at=when, issuer=rec.issuer)
            index = replace(index, revocations=(*index.revocations, revocation))
            index = self._issue_crl(index, rec.issuer, datetime.now(UTC))
            self._save(index)
            return revocation

    def _issue_crl(self, index: _Index, name: CaName, now: datetime) -> _Index:
        number = index.crl_numbers.get(name, 0) + 1
        ca_cert, ca_key = self.ca_certificate(name), self.ca_key(name)
        builder = (
            x509.CertificateRevocationListBuilder()
            .issuer_name(ca_cert.subject)
            .last_update(now)
            .next_update(now + CRL_VALIDITY)
            .add_extension(x509.CRLNumber(number), critical=False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
                critical=False,
            )
        )
        for rev in index.revocations:
            if rev.issuer != name:
                continue
            entry = (
                x509.RevokedCertificateBuilder()
                .serial_number(rev.serial)
                .revocation_date(rev.revoked_at)
            )
            if rev.reason is not x509.ReasonFlags.unspecified:
                entry = entry.add_extension(x509.CRLReason(rev.reason), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        crl = builder.sign(ca_key, hashes.SHA256())
        _ensure_dir(self.directory / "crl")
        atomic_write(
            self.directory / "crl" / f"{name}.crl",
            crl.public_bytes(serialization.Encoding.DER),
            0o600,
        )
        return replace(index, crl_numbers={**index.crl_numbers, name: number})

    def crl(self, name: str, *, now: datetime | None = None) -> x509.CertificateRevocationList:
        """The current CRL of CA ``name`` (``root`` or ``issuing``), re-issued first when it is
        older than a day, so a served CRL is always valid for at least six more days."""
        if name not in CRL_NAMES:
            raise PkiError(f"no CRL named {name!r}")
        ca: CaName = "root" if name == "root" else "issuing"
        now = _as_utc(now or datetime.now(UTC))
        path = self.directory / "crl" / f"{ca}.crl"
        crl = _read_crl(path)
        if crl is None or crl.last_update_utc + CRL_REFRESH < now:
            with self._locked():
                crl = _read_crl(path)
                if crl is None or crl.last_update_utc + CRL_REFRESH < now:
                    self._save(self._issue_crl(self._index(), ca, now))
                    crl = _read_crl(path)
        if crl is None:
            raise PkiError(f"CRL {name} could not be issued")
        return crl


def _read_crl(path: Path) -> x509.CertificateRevocationList | None:
    try:
        return x509.load_der_x509_crl(path.read_bytes())
    except FileNotFoundError:
        return None


def _attr(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str:
    values = cert.subject.get_attributes_for_oid(oid)
    if not values:
        raise PkiError(f"certificate has no {oid.dotted_string} in its subject")
    value = values[0].value
    return value if isinstance(value, str) else value.decode()


def _full_name(cert: x509.Certificate) -> str:
    """The person's whole name (the commonName may have been shortened)."""
    surname, given = _attr(cert, NameOID.SURNAME), _attr(cert, NameOID.GIVEN_NAME)
    return surname if surname == given else f"{surname} {given}"


def _cdp(base_url: str, issuer: CaName) -> x509.CRLDistributionPoints:
    return x509.CRLDistributionPoints(
        [
            x509.DistributionPoint(
                full_name=[x509.UniformResourceIdentifier(f"{base_url}/pki/crl/{issuer}.crl")],
                relative_name=None,
                reasons=None,
                crl_issuer=None,
            )
        ]
    )


def _ee_revocation_exts(base_url: str) -> list[tuple[x509.ExtensionType, bool]]:
    aia = x509.AuthorityInformationAccess(
        [
            x509.AccessDescription(
                x509.oid.AuthorityInformationAccessOID.OCSP,
                x509.UniformResourceIdentifier(f"{base_url}/pki/ocsp"),
            )
        ]
    )
    return [(_cdp(base_url, "issuing"), False), (aia, False)]


def _signer_exts(base_url: str) -> list[tuple[x509.ExtensionType, bool]]:
    return [
        (x509.BasicConstraints(ca=False, path_length=None), True),
        (_key_usage(non_repudiation=True), True),
        *_ee_revocation_exts(base_url),
    ]


def build_pki(
    directory: Path,
    agencies: Sequence[tuple[str, str]],
    people: Sequence[tuple[str, str, str]],
    *,
    passphrase: str | None,
    now: datetime,
    base_url: str = DEFAULT_BASE_URL,
) -> PkiLayout:
    """Build (or complete) the PKI under ``directory``.

    ``agencies`` are ``(code, name)``: each gets a seal certificate. ``people`` are
    ``(username, full name, agency code)``: each gets a personal signer certificate. What already
    exists is kept (same keys, same certificates); ``base_url`` is fixed at the first build.
    """
    now = _as_utc(now)
    if not passphrase:
        warnings.warn(
            f"PKI keys under {directory} are written without encryption: set a passphrase",
            UnencryptedKeysWarning,
            stacklevel=2,
        )
    _ensure_dir(directory)
    for sub in ("certs", "crl", "private"):
        _ensure_dir(directory / sub)
    pki = Pki(directory, passphrase)
    with pki._locked():
        if pki.index_path.exists():
            index = pki._index()
            if index.encrypted != bool(passphrase):
                raise PkiError(
                    "the PKI keys were written "
                    + ("with" if index.encrypted else "without")
                    + " a passphrase; give the same setting again"
                )
            # Fails early, before anything is added, if the passphrase is wrong.
            if any(r.key_id == "ca:issuing" for r in index.records):
                pki.ca_key("issuing")
        else:
            index = _Index(
                base_url=base_url.rstrip("/"),
                encrypted=bool(passphrase),
                records=(),
                revocations=(),
                crl_numbers={},
                agencies={},
            )
            pki._save(index)
        index = pki._ensure_infrastructure(index, now)
        for name in CRL_NAMES:
            if not (directory / "crl" / f"{name}.crl").exists():
                index = pki._issue_crl(index, "root" if name == "root" else "issuing", now)
        pki._save(replace(index, agencies={**index.agencies, **dict(agencies)}))
    for code, name in agencies:
        pki.issue_seal(code, name, now=now)
    for username, full_name, agency_code in people:
        pki.issue_person(username, full_name, agency_code, now=now)
    return pki.layout()


NODE_CERT_FILE = "node.pem"


def certify_node_key(
    pki: Pki, public_key: ec.EllipticCurvePublicKey, *, node_id: str, now: datetime
) -> Path:
    """Issue (once) the certificate of the node's receipt-signing key from the issuing CA, so a
    receipt's ``x5c`` chains to the root without docex. Returns the PEM chain's path."""
    path = pki.directory / "certs" / NODE_CERT_FILE
    if path.exists():
        current = x509.load_pem_x509_certificates(path.read_bytes())[0]
        if current.public_key() == public_key:
            return path
    issuer = pki.issuing_certificate
    now = _as_utc(now)
    cert = (
        x509.CertificateBuilder()
        .subject_name(
            x509.Name(
                [
                    x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
                    x509.NameAttribute(NameOID.ORGANIZATION_NAME, "docex"),
                    x509.NameAttribute(NameOID.COMMON_NAME, f"docex node {node_id}"[:64]),
                ]
            )
        )
        .issuer_name(issuer.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3 * 365))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(
                issuer.public_key()  # type: ignore[arg-type]
            ),
            critical=False,
        )
        .sign(pki.ca_key("issuing"), hashes.SHA256())
    )
    chain = [cert, issuer, pki.root_certificate]
    path.write_bytes(b"".join(c.public_bytes(serialization.Encoding.PEM) for c in chain))
    return path
