"""The node's keys: where they are, which store holds them, and every operation on them.

What touches private keys, by file name:

- ``paths.py``        where every key file and key directory of a node lives (the only place
                      that spells them);
- ``node.py``         opening the node's stores: its receipt-signing key (file or PKCS#11
                      token), the token, the KEK ring, the agencies' custodial keys;
- ``enrolment.py``    the node's PKI, and certifying, rotating, requesting and installing the
                      certificates of the seals and personal keys;
- ``service.py``      what an operator does to keys, each an audit event: rotation, certificate
                      request and installation, KEK rotation, handing an agency its key;
- ``directory.py``    who the keys are for (agencies and leaders hosted here): queries only.

The cryptography itself — key files, the KEK ring, HPKE agency keys, the key stores (files and
PKCS#11), PAdES, JWS — is ``docex.signing``, which imports no domain package; this package
imports it, never the reverse.
"""
