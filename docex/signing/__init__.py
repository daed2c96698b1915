"""Signing: digital signatures and the keys behind them. It imports no other domain package and
never raises HTTP errors: callers get keys, signatures and frozen reports, and failures from one
tree (``errors``), which ``docex.api.errors`` maps to HTTP in one place.

- ``validation`` (a package): PAdES validation of an incoming PDF under Decree 30 (pyHanko),
  a frozen report with one machine-readable indication; ``sandbox`` runs it, and every other
  parse of untrusted PDF bytes, in bounded worker processes.
- ``pades``: one more incremental PAdES signature on a PDF (B-T, or B-LT with revocation data);
  ``font`` draws the Vietnamese stamp; ``attribution`` says which agency a certificate names.
- ``service``: the node's signature services (validate on intake, sign for the API and the
  CLI, audited) and ``wiring``, which builds their collaborators once.
- Keys: ``keys`` (the node's receipt key), ``keystore`` and ``hsm`` (signing keys in files or on
  a PKCS#11 token), ``keks`` and ``agency_keys`` (key-encryption keys, recipient agencies' keys);
  ``jws`` signs receipts with the node key (RFC 7515, ES256).
- The demo PKI the node may host: ``pki`` (a package: CAs, seals, people, CRLs), ``ocsp``
  (RFC 6960 responder), ``timestamps`` (RFC 3161 authority, and the ``TimeStamper`` a signature's
  token comes from: that authority in-process, or an outside one over HTTP).

Where the keys live (one module for paths) and the audited operations on them: ``docex.keys``.
"""
