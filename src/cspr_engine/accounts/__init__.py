"""Partnerships, users and API tokens, and the Actor a request acts as."""
