"""Queries on calendar feeds and the open clocks a feed lists. Nothing here commits."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import tuple_
from sqlmodel import Session, col, select

from cspr_engine.access import policy
from cspr_engine.accounts.models import Partnership, User
from cspr_engine.accounts.schemas import Actor
from cspr_engine.cases.models import Case
from cspr_engine.deadlines.models import Deadline
from cspr_engine.feeds.models import CalendarFeed

OPEN = ("pending", "breached")


def live_feed(
    session: Session, *, token_hash: str
) -> tuple[CalendarFeed, User, Partnership | None] | None:
    """The feed with this hash if it is not revoked and its user is active. The lookup is by
    an exact match on the hash of the secret: a caller controls the secret, never its hash, so
    how long the match takes tells them nothing about any stored secret."""
    row = session.exec(
        select(CalendarFeed, User, Partnership)
        .join(User, col(User.id) == col(CalendarFeed.user_id))
        .outerjoin(Partnership, col(Partnership.id) == col(User.partnership_id))
        .where(col(CalendarFeed.token_hash) == token_hash)
        .where(col(CalendarFeed.revoked_at).is_(None))
        .where(col(User.is_active).is_(True))
    ).first()
    return None if row is None else (row[0], row[1], row[2])


def feeds_page(
    session: Session,
    *,
    user_id: uuid.UUID,
    after: tuple[datetime, uuid.UUID] | None,
    limit: int,
) -> list[CalendarFeed]:
    """A user's feeds, revoked ones included, oldest first; `limit + 1` to tell a next page."""
    query = (
        select(CalendarFeed)
        .where(col(CalendarFeed.user_id) == user_id)
        .order_by(col(CalendarFeed.created_at), col(CalendarFeed.id))
        .limit(limit + 1)
    )
    if after is not None:
        query = query.where(tuple_(col(CalendarFeed.created_at), col(CalendarFeed.id)) > after)
    return list(session.exec(query))


def feed_times_since(session: Session, *, user_id: uuid.UUID, since: datetime) -> list[datetime]:
    """When each of a user's feeds created after `since` was created, oldest first."""
    return list(
        session.exec(
            select(col(CalendarFeed.created_at))
            .where(col(CalendarFeed.user_id) == user_id, col(CalendarFeed.created_at) > since)
            .order_by(col(CalendarFeed.created_at))
        )
    )


def open_clocks(session: Session, actor: Actor) -> list[tuple[Deadline, Case]]:
    """Every pending or breached clock of the cases `actor` may read, soonest due first."""
    rows = session.exec(
        select(Deadline, Case)
        .join(Case, col(Case.id) == col(Deadline.case_id))
        .where(policy.readable_cases(actor))
        .where(col(Deadline.status).in_(OPEN))
        .order_by(
            col(Deadline.due_on),
            col(Case.reference),
            col(Deadline.key),
            col(Deadline.sequence),
            col(Deadline.id),
        )
    )
    return [(deadline, case) for deadline, case in rows]
