"""What accounts, sign-in and tokens refuse with; the 429s carry `Retry-After`.

Unauthenticated (401) ... SignInFailed
Forbidden (403) ......... NotAnAdministrator, CsrfTokenInvalid, TokenIssueForbidden
NotFound (404) .......... UserNotFound, TokenNotFound
Conflict (409) .......... PartnershipExists, EmailTaken
TooManyRequests (429) ... SignInBackoff, TokenRateLimited
"""

from __future__ import annotations

from cspr_engine.errors import (
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthenticated,
)


class SignInFailed(Unauthenticated):
    # One answer for an unknown e-mail, a wrong password, a service account and a disabled
    # account: a caller cannot learn which addresses have accounts.
    slug, title = "sign-in-failed", "Sign-in failed"

    def __init__(self) -> None:
        super().__init__("The e-mail address or the password is wrong.")


class NotAnAdministrator(Forbidden):
    slug, title = "not-an-administrator", "Only an administrator may do this"


class CsrfTokenInvalid(Forbidden):
    slug, title = "csrf-token-invalid", "X-CSRF-Token missing or wrong"


class UserNotFound(NotFound):
    slug, title = "user-not-found", "No such user"


class TokenNotFound(NotFound):
    slug, title = "token-not-found", "No such API token"


class PartnershipExists(Conflict):
    slug, title = "partnership-exists", "A partnership with this code exists"


class EmailTaken(Conflict):
    slug, title = "email-taken", "A user with this e-mail address exists"


class SignInBackoff(TooManyRequests):
    slug, title = "sign-in-backoff", "Too many failed sign-ins; wait before trying again"


class TokenRateLimited(TooManyRequests):
    slug, title = "token-rate-limited", "Too many API tokens created for this user"


class TokenIssueForbidden(Forbidden):
    slug, title = "token-issue-forbidden", "An administrator issues tokens to service accounts only"
