"""HTTP for calendar feeds: creating, listing and revoking one's feeds under /api/v1, and the
feed itself at `/feeds/{secret}.ics`, outside /api/v1: a calendar client sends no header, so
the secret in the URL is the credential."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from sqlmodel import Session

from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.dependencies import ActorDep, SettingsDep
from cspr_engine.accounts.exceptions import CsrfTokenInvalid, UserNotFound
from cspr_engine.accounts.models import User
from cspr_engine.accounts.schemas import Actor
from cspr_engine.db import SessionDep
from cspr_engine.errors import MalformedBody, Unauthenticated, error_responses, problem_response
from cspr_engine.feeds import repository
from cspr_engine.feeds import service as feed_service
from cspr_engine.feeds.exceptions import CalendarFeedNotFound, FeedRateLimited, FeedUnavailable
from cspr_engine.feeds.models import CalendarFeed
from cspr_engine.feeds.schemas import (
    CalendarFeedCreate,
    CalendarFeedCreated,
    CalendarFeedList,
    CalendarFeedRead,
)
from cspr_engine.kit import links
from cspr_engine.kit.clock import ClockDep
from cspr_engine.kit.pagination import CursorQuery, LimitQuery, decode_keyset, encode_keyset

router = APIRouter(tags=["calendar-feeds"])
feed_router = APIRouter(tags=["calendar-feeds"])

ICS_MEDIA_TYPE = "text/calendar; charset=utf-8"
# The feed URL carries the secret: no cache may keep the response (nor a new feed's URL).
NO_STORE = {"Cache-Control": "no-store"}


def _feed_read(feed: CalendarFeed) -> CalendarFeedRead:
    return CalendarFeedRead(
        id=feed.id,
        name=feed.name,
        user_id=feed.user_id,
        created_at=feed.created_at,
        last_used_at=feed.last_used_at,
        revoked_at=feed.revoked_at,
    )


def _owner(session: Session, actor: Actor, user_id: uuid.UUID) -> User:
    """The user whose feeds `actor` may see and revoke: itself, or one it administers (the
    rule for API tokens); anyone else is not found."""
    user = session.get(User, user_id)
    if user is None or not accounts_service.may_manage_tokens_of(actor, user):
        raise UserNotFound("No such user.")
    return user


@router.post(
    "/calendar-feeds",
    response_model=CalendarFeedCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create a calendar feed of the clocks of the cases you can see; its URL is shown once",
    responses=error_responses(MalformedBody, CsrfTokenInvalid, FeedRateLimited),
)
def create_calendar_feed(
    body: CalendarFeedCreate,
    response: Response,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> CalendarFeedCreated:
    # For oneself only: a feed reads as its user, so no one makes one for somebody else.
    user = session.get(User, actor.user_id)
    if user is None:  # gone since authentication a moment ago
        raise Unauthenticated("The account no longer exists.")
    feed, secret = feed_service.create_feed(
        session=session,
        user=user,
        name=body.name,
        now=clock.now(),
        per_hour=settings.token_create_per_hour,
    )
    shown = CalendarFeedCreated(
        id=feed.id,
        name=feed.name,
        user_id=feed.user_id,
        created_at=feed.created_at,
        url=links.calendar_feed(settings.public_base_url, secret),
    )
    session.commit()
    response.headers.update(NO_STORE)
    return shown


@router.get(
    "/calendar-feeds",
    response_model=CalendarFeedList,
    summary="A user's calendar feeds, oldest first (never their URLs)",
    responses=error_responses(UserNotFound),
)
def list_calendar_feeds(
    session: SessionDep,
    actor: ActorDep,
    user_id: Annotated[
        uuid.UUID | None,
        Query(description="Whose feeds (default: your own; admins: a user they administer)."),
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> CalendarFeedList:
    owner = _owner(session, actor, user_id or actor.user_id)
    rows = repository.feeds_page(
        session, user_id=owner.id, after=decode_keyset(cursor), limit=limit
    )
    page = rows[:limit]
    return CalendarFeedList(
        items=[_feed_read(f) for f in page],
        next_cursor=(
            encode_keyset(page[-1].created_at, page[-1].id) if len(rows) > limit else None
        ),
    )


@router.delete(
    "/calendar-feeds/{feed_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke a calendar feed: its URL answers 404 from now on (yours, or an admin's users')",
    responses=error_responses(CsrfTokenInvalid, CalendarFeedNotFound),
)
def revoke_calendar_feed(
    feed_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
) -> Response:
    feed = session.get(CalendarFeed, feed_id)
    owner = session.get(User, feed.user_id) if feed is not None else None
    if feed is None or owner is None or not accounts_service.may_manage_tokens_of(actor, owner):
        raise CalendarFeedNotFound("No such calendar feed.")
    feed_service.revoke_feed(feed=feed, now=clock.now())
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@feed_router.get(
    "/feeds/{secret}.ics",
    response_class=Response,
    # A URL for calendar clients, not an API operation: POST /calendar-feeds documents it.
    include_in_schema=False,
)
def calendar_feed(
    secret: str,
    request: Request,
    session: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> Response:
    """The feed as iCalendar: one all-day event per running or breached clock of the cases
    its user can read now; 404 (the same answer) for an unknown secret, a revoked feed or a
    disabled user."""
    now = clock.now()
    try:
        _feed, actor = feed_service.open_feed(session=session, secret=secret, now=now)
    except FeedUnavailable as exc:
        # Answered here rather than by the handler, whose problem would quote the path.
        return problem_response(exc.status, exc.to_problem(feed_service.REDACTED_PATH), NO_STORE)
    body = feed_service.render(
        session=session, actor=actor, now=now, public_base_url=settings.public_base_url
    )
    # One access log row per fetch, written with the last-used time: a fetch that cannot be
    # recorded is not served.
    feed_service.record_fetch(
        session=session,
        actor=actor,
        now=now,
        request_id=getattr(request.state, "request_id", None),
    )
    session.commit()
    return Response(
        content=body.encode(),
        media_type=ICS_MEDIA_TYPE,
        headers={**NO_STORE, "Content-Disposition": 'inline; filename="cspr-clocks.ics"'},
    )
