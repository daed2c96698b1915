"""The audit trail: an append-only, monotonically indexed log of everything that happens."""
