"""What an auditor asks of the audit log, under the access policy: the latest checkpoint with its
cosignatures, entries by position, inclusion and consistency proofs, search by document, agency,
principal, event and time; witnesses' cosignatures and fork reports come in here too.

The log itself (leaves, the sequencer, the Merkle tree, checkpoints, notes, the verifier) is
``docex.audit``, which every domain writes events through and which therefore imports none of
them; this package sits above the domains so that it may ask ``docex.auth.policy`` who is
asking (and, for the evidence bundle of one document, read the document and its receipts).
"""
