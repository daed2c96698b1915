"""Principals, credentials and the one access-policy function."""
