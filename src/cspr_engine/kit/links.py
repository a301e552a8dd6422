"""Absolute links the service writes into what leaves it (calendar feeds, alert e-mails,
webhook payloads), all from the one public base URL (Settings.public_base_url)."""

from __future__ import annotations

from urllib.parse import quote


def case_page(base_url: str, reference: str) -> str:
    """The web UI page of a case, by its reference."""
    return f"{base_url.rstrip('/')}/ui/cases/{quote(reference, safe='')}"


def calendar_feed(base_url: str, secret: str) -> str:
    """A person's calendar feed, by its secret."""
    return f"{base_url.rstrip('/')}/feeds/{quote(secret, safe='')}.ics"
