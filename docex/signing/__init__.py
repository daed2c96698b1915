"""Signing: the cryptography of the node's private keys, and nothing else.

The node key and its JWS receipts (``keys.py``, ``jws.py``), the KEK ring that wraps each blob's
data key (``keks.py``), the agencies' HPKE decryption keys (``agency_keys.py``), the PKI and its
key stores — files (``pki.py``, ``keystore.py``) or a PKCS#11 token (``hsm.py``) — PAdES signing
and validation (``pades.py``, ``validation.py``, ``sandbox.py``), RFC 3161 time-stamps and OCSP.
It imports no other domain package and never raises HTTP errors: callers get keys, signatures
and frozen reports. Where the keys live and the audited operations on them: ``docex.keys``.
"""
