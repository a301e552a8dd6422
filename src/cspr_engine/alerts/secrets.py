"""Standard Webhooks signing secrets: `whsec_` and the key's random bytes in base64."""

from __future__ import annotations

import base64
import binascii
import secrets

PREFIX = "whsec_"
KEY_BYTES = (24, 62)  # the key's length, in bytes: at least 192 bits
# The same rule as a pattern, for the API's schema: whole groups of four base64 characters
# (24 to 60 bytes), then at most one padded group (one or two bytes more).
PATTERN = r"^whsec_(?:[A-Za-z0-9+/]{4}){8,20}(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$"


def is_standard_secret(value: str) -> bool:
    if not value.startswith(PREFIX):
        return False
    try:
        key = base64.b64decode(value.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError):
        return False
    return KEY_BYTES[0] <= len(key) <= KEY_BYTES[1]


def new_secret() -> str:
    """A fresh secret: 32 random bytes."""
    return PREFIX + base64.b64encode(secrets.token_bytes(32)).decode()
