"""Alerts: the outbox of events, and their delivery by webhook, e-mail and the in-app inbox."""
