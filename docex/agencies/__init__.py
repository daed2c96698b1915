"""The registry: agencies, their codes and succession, recipient groups."""
