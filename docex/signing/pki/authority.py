"""``Pki``: an open PKI directory that issues, rotates and revokes certificates and signs CRLs,
under an exclusive ``flock`` for each read-modify-write of ``pki.json``."""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from docex.kit.files import atomic_write
from docex.signing import keys
from docex.signing.errors import PkiError
from docex.signing.pki.index import (
    CertRecord,
    PkiLayout,
    Revocation,
    _ensure_dir,
    _Index,
    _read_crl,
    load_certificate,
    load_private_key,
)
from docex.signing.pki.profiles import (
    _REASONS,
    COUNTRY,
    CRL_NAMES,
    CRL_REFRESH,
    CRL_VALIDITY,
    INDEX_FILE,
    ISSUING_NAME,
    ISSUING_VALIDITY,
    OCSP_NAME,
    ORG_NAME,
    ROOT_NAME,
    ROOT_VALIDITY,
    SERVICE_VALIDITY,
    SUBJECT_VALIDITY,
    TSA_NAME,
    CaName,
    PrivateKey,
    Role,
    _as_utc,
    _attr,
    _cdp,
    _certificate,
    _ee_revocation_exts,
    _full_name,
    _key_usage,
    _name,
    _signer_exts,
    agency_code_of,
    person_key_id,
    person_subject,
    seal_key_id,
    seal_subject,
)

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
