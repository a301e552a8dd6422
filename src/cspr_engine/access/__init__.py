"""Authorisation in one place (policy), and the access log of who reached for which case."""
