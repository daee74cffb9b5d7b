"""The protocol: option markets with their pools, accounts and positions (struct-of-arrays)."""
