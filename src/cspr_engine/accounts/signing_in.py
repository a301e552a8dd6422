"""A sign-in as two units of work, each in its own transaction, for the API's and the web UI's
sign-in routes (the edge: this module commits, as routers do).

The first only reads: the backoff, then the password (argon2, about a third of a second). The
second writes the attempt and, for a match, the web session, and commits at once. So no write
transaction is open while a password is checked (on SQLite a writer holds the one write lock of
the whole database), and a sign-in refused by the backoff writes nothing at all.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session

from cspr_engine.accounts import repository
from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.exceptions import SignInFailed
from cspr_engine.accounts.models import User, WebSession
from cspr_engine.db import get_engine, writer_bind


@dataclass(frozen=True)
class SignedIn:
    user: User
    partnership_code: str | None
    web_session: WebSession
    secret: str  # the cookie's value; only its hash is kept


def sign_in(
    *,
    email: str,
    password: str,
    client: str | None,
    now: datetime,
    session_hours: int,
    previous_secret: str | None = None,
) -> SignedIn:
    """Check and record a sign-in; SignInBackoff (nothing written) or SignInFailed (the failed
    attempt recorded) when it does not open a session."""
    engine = get_engine()
    with accounts_service.attempt_lock(email, client):
        with Session(engine) as reader:
            check = accounts_service.check_sign_in(
                session=reader, email=email, password=password, client=client, now=now
            )
        with Session(writer_bind(engine), expire_on_commit=False) as writer:
            try:
                user, web_session, secret = accounts_service.record_sign_in(
                    session=writer,
                    check=check,
                    now=now,
                    session_hours=session_hours,
                    previous_secret=previous_secret,
                )
            except SignInFailed:
                writer.commit()  # the failed attempt stays on record: the backoff counts it
                raise
            code = repository.partnership_code(writer, user.partnership_id)
            writer.commit()
    return SignedIn(user, code, web_session, secret)
