"""Queries for partnerships, users, tokens, web sessions and sign-in attempts; never commits."""

from __future__ import annotations

import hashlib
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import or_, text, tuple_
from sqlmodel import Session, col, select

from cspr_engine.accounts.models import ApiToken, Partnership, SignInAttempt, User, WebSession


def partnership_by_code(session: Session, code: str) -> Partnership | None:
    return session.exec(
        select(Partnership).where(col(Partnership.code) == code.strip().upper())
    ).first()


def user_by_email(session: Session, email: str) -> User | None:
    return session.exec(select(User).where(col(User.email) == email)).first()


# A partnership's code never changes once it is made (nothing updates it), so the process keeps
# the codes it has read: every case answer and every alert names its partnership.
_CODES: dict[uuid.UUID, str] = {}
_MAX_CODES = 10_000


def partnership_code(session: Session, partnership_id: uuid.UUID | None) -> str | None:
    if partnership_id is None:
        return None
    if (known := _CODES.get(partnership_id)) is not None:
        return known
    partnership = session.get(Partnership, partnership_id)
    if partnership is None:
        return None
    if len(_CODES) >= _MAX_CODES:
        _CODES.clear()
    _CODES[partnership_id] = partnership.code
    return partnership.code


def partnerships_page(
    session: Session, *, only: uuid.UUID | None, after_code: str | None, limit: int
) -> list[Partnership]:
    """Partnerships by code (just `only` when given), `limit + 1` of them to tell a next page."""
    query = select(Partnership).order_by(col(Partnership.code)).limit(limit + 1)
    if only is not None:
        query = query.where(col(Partnership.id) == only)
    if after_code is not None:
        query = query.where(col(Partnership.code) > after_code)
    return list(session.exec(query))


def users_page(
    session: Session,
    *,
    partnership_id: uuid.UUID | None,
    every_partnership: bool,
    after_email: str | None,
    limit: int,
) -> list[tuple[User, str | None]]:
    """Users by e-mail with their partnership's code: one partnership's, or everyone's."""
    query = (
        select(User, col(Partnership.code))
        .outerjoin(Partnership, col(Partnership.id) == col(User.partnership_id))
        .order_by(col(User.email))
        .limit(limit + 1)
    )
    if not every_partnership:
        query = query.where(col(User.partnership_id) == partnership_id)
    if after_email is not None:
        query = query.where(col(User.email) > after_email)
    return [(user, code) for user, code in session.exec(query)]


def tokens_page(
    session: Session,
    *,
    user_id: uuid.UUID,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[ApiToken]:
    """A user's tokens, revoked and expired ones included, oldest first."""
    query = (
        select(ApiToken)
        .where(col(ApiToken.user_id) == user_id)
        .order_by(col(ApiToken.created_at), col(ApiToken.id))
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(tuple_(col(ApiToken.created_at), col(ApiToken.id)) > after)
    return list(session.exec(query))


def token_times_since(session: Session, *, user_id: uuid.UUID, since: datetime) -> list[datetime]:
    """When each of a user's tokens created after `since` was created, oldest first."""
    return list(
        session.exec(
            select(col(ApiToken.created_at))
            .where(col(ApiToken.user_id) == user_id, col(ApiToken.created_at) > since)
            .order_by(col(ApiToken.created_at))
        )
    )


def live_token(
    session: Session, *, token_hash: str, now: datetime
) -> tuple[ApiToken, User, Partnership | None] | None:
    """The token with this hash if it is neither revoked nor expired and its user is active."""
    row = session.exec(
        select(ApiToken, User, Partnership)
        .join(User, col(User.id) == col(ApiToken.user_id))
        .outerjoin(Partnership, col(Partnership.id) == col(User.partnership_id))
        .where(col(ApiToken.token_hash) == token_hash)
        .where(col(ApiToken.revoked_at).is_(None))
        .where(or_(col(ApiToken.expires_at).is_(None), col(ApiToken.expires_at) > now))
        .where(col(User.is_active).is_(True))
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def live_web_session(
    session: Session, *, secret_hash: str, now: datetime
) -> tuple[WebSession, User, Partnership | None] | None:
    """The web session with this hash if it has not ended or expired and may still sign in."""
    row = session.exec(
        select(WebSession, User, Partnership)
        .join(User, col(User.id) == col(WebSession.user_id))
        .outerjoin(Partnership, col(Partnership.id) == col(User.partnership_id))
        .where(col(WebSession.secret_hash) == secret_hash)
        .where(col(WebSession.ended_at).is_(None))
        .where(col(WebSession.expires_at) > now)
        .where(col(User.is_active).is_(True))
        .where(col(User.is_service_account).is_(False))
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def open_web_sessions(session: Session, *, user_id: uuid.UUID) -> list[WebSession]:
    return list(
        session.exec(
            select(WebSession).where(
                col(WebSession.user_id) == user_id, col(WebSession.ended_at).is_(None)
            )
        )
    )


def _from(client: str | None) -> Any:
    return (
        col(SignInAttempt.client).is_(None)
        if client is None
        else col(SignInAttempt.client) == client
    )


def recent_attempts(
    session: Session, *, email: str, client: str | None, since: datetime, limit: int
) -> list[tuple[datetime, bool]]:
    """The latest sign-in attempts for an e-mail from one address after `since`, newest
    first."""
    rows = session.exec(
        select(col(SignInAttempt.at), col(SignInAttempt.succeeded))
        .where(col(SignInAttempt.email) == email, _from(client), col(SignInAttempt.at) > since)
        .order_by(col(SignInAttempt.at).desc())
        .limit(limit)
    )
    return [(at, succeeded) for at, succeeded in rows]


def recent_failures_from(
    session: Session, *, client: str | None, since: datetime, limit: int
) -> list[datetime]:
    """When the latest failed sign-ins from one address (any e-mail) after `since` were,
    newest first."""
    rows = session.exec(
        select(col(SignInAttempt.at))
        .where(
            _from(client), col(SignInAttempt.succeeded).is_(False), col(SignInAttempt.at) > since
        )
        .order_by(col(SignInAttempt.at).desc())
        .limit(limit)
    )
    return list(rows)


def serialise_on(session: Session, key: str) -> None:
    """Queue this transaction behind any other holding `key` until it ends. PostgreSQL needs
    this (an advisory lock), so parallel sign-ins for one e-mail cannot all pass the backoff
    check before any failure is recorded; SQLite writers already queue for its one lock."""
    if session.get_bind().dialect.name != "postgresql":
        return
    digest = hashlib.sha256(key.encode()).digest()
    session.execute(
        text("SELECT pg_advisory_xact_lock(:key)"),
        {"key": int.from_bytes(digest[:8], "big", signed=True)},
    )


def any_platform_admin(session: Session) -> bool:
    return (
        session.exec(select(User.id).where(col(User.is_platform_admin).is_(True))).first()
        is not None
    )
