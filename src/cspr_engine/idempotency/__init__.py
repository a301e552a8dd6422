"""Idempotency-Key: a retried create or transition returns the first response."""
