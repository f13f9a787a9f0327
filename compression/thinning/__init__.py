"""Physically remove zeroed filters and channels (and everything that depends on them)."""
