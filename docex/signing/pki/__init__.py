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
  :func:`organization_identifier` to write it and :func:`agency_code_of` to read it (the answer of
  ``docex.signing.attribution``, the same as intake's) rather than string surgery.
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
The package: ``profiles`` (subjects, extensions, constants), ``index`` (``pki.json`` and the files),
``authority`` (:class:`Pki`), ``build`` (:func:`build_pki`, :func:`certify_node_key`).
"""

from docex.signing.errors import PkiError
from docex.signing.pki.authority import Pki
from docex.signing.pki.build import NODE_CERT_FILE, build_pki, certify_node_key
from docex.signing.pki.index import (
    CertRecord,
    PkiLayout,
    Revocation,
    load_certificate,
    load_private_key,
)
from docex.signing.pki.profiles import (
    CLOCK_SKEW,
    CRL_NAMES,
    CRL_REFRESH,
    CRL_VALIDITY,
    DEFAULT_BASE_URL,
    INDEX_FILE,
    CaName,
    PrivateKey,
    Role,
    UnencryptedKeysWarning,
    agency_code_of,
    organization_identifier,
    person_key_id,
    person_subject,
    seal_key_id,
    seal_subject,
)

__all__ = [
    "CLOCK_SKEW",
    "CRL_NAMES",
    "CRL_REFRESH",
    "CRL_VALIDITY",
    "DEFAULT_BASE_URL",
    "INDEX_FILE",
    "NODE_CERT_FILE",
    "CaName",
    "CertRecord",
    "Pki",
    "PkiError",
    "PkiLayout",
    "PrivateKey",
    "Revocation",
    "Role",
    "UnencryptedKeysWarning",
    "agency_code_of",
    "build_pki",
    "certify_node_key",
    "load_certificate",
    "load_private_key",
    "organization_identifier",
    "person_key_id",
    "person_subject",
    "seal_key_id",
    "seal_subject",
]
