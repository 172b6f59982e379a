"""Reliability benches: what a user's home survives (issue 12's figures)."""
