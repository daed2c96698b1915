"""Signing: the only package that touches private keys.

Today it holds the node's signing key and signs receipts as JWS (RFC 7515, ES256). PAdES
validation and signing of PDFs (pyHanko) will live here too. It imports no other domain package
and never raises HTTP errors: callers get keys, signatures and frozen reports.
"""
