"""Calendar feeds: created (the secret shown once, only its hash kept), revoked, and read by
whoever holds the URL as the feed's user, with that user's roles as they are now. Nothing here
commits.

A feed lists every clock still running (pending) or breached of the cases its user may read
(`access.policy.readable_cases`), as an all-day event on its due date. It carries a case's
reference and the clock (label, rule, basis, due date, status), nothing else of the case."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlmodel import Session

from cspr_engine.accounts import repository as accounts_repository
from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.models import User
from cspr_engine.accounts.schemas import Actor
from cspr_engine.audit.models import AccessEvent
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.errors import Unprocessable
from cspr_engine.feeds import ics, repository
from cspr_engine.feeds.exceptions import FeedRateLimited, FeedUnavailable
from cspr_engine.feeds.models import CalendarFeed
from cspr_engine.kit import links
from cspr_engine.kit.clock import window_wait
from cspr_engine.workflow import service as workflow_service

# The feed's path as the access log and a refusal name it: never with the secret in it.
REDACTED_PATH = "/feeds/….ics"
FEED_ACTION = "calendar.feed"
# Secrets longer than any this service issues are refused before they are hashed.
MAX_SECRET_LENGTH = 200
# How often calendar clients are asked to fetch the feed again.
REFRESH = timedelta(hours=1)
UID_DOMAIN = "cspr-engine"


def _long_date(day: date) -> str:
    """`1 June 2026`, as GOV.UK writes dates."""
    return f"{day.day} {day:%B %Y}"


# -- creating and revoking ----------------------------------------------------------------------


def create_feed(
    *, session: Session, user: User, name: str, now: datetime, per_hour: int | None = None
) -> tuple[CalendarFeed, str]:
    """A new feed for `user`; the secret is returned once and only its hash is kept. With
    `per_hour`, refuses (429) when the user was given that many feeds in the past hour."""
    if not user.is_active:
        raise Unprocessable("The user is disabled.")
    if per_hour is not None:
        _check_rate(session=session, user=user, now=now, per_hour=per_hour)
    # The same shape as an API token's secret: the suite's log check finds both by it.
    secret = accounts_service.new_token_secret()
    feed = CalendarFeed(
        user_id=user.id,
        name=name.strip()[:100],
        token_hash=accounts_service.hash_token(secret),
        created_at=now,
    )
    session.add(feed)
    session.flush()
    return feed, secret


def _check_rate(*, session: Session, user: User, now: datetime, per_hour: int) -> None:
    accounts_repository.serialise_on(session, f"calendar-feeds:{user.id}")
    hour = timedelta(hours=1)
    recent = repository.feed_times_since(session, user_id=user.id, since=now - hour)
    if wait := window_wait(recent, per_hour, hour, now):
        raise FeedRateLimited(
            f"At most {per_hour} calendar feeds may be created for one user per hour.",
            retry_after=wait,
        )


def revoke_feed(*, feed: CalendarFeed, now: datetime) -> None:
    """From this instant the feed's URL answers 404; revoking twice keeps the first time."""
    if feed.revoked_at is None:
        feed.revoked_at = now


# -- reading the feed ---------------------------------------------------------------------------


def open_feed(*, session: Session, secret: str, now: datetime) -> tuple[CalendarFeed, Actor]:
    """The feed behind `secret` and the user it reads as (their roles as they are now);
    FeedUnavailable when the secret is unknown, the feed revoked or its user disabled."""
    if not secret or len(secret) > MAX_SECRET_LENGTH:
        raise FeedUnavailable()
    found = repository.live_feed(session, token_hash=accounts_service.hash_token(secret))
    if found is None:
        raise FeedUnavailable()
    feed, user, partnership = found
    actor = Actor(
        user_id=user.id,
        partnership_id=user.partnership_id,
        partnership_code=partnership.code if partnership else None,
        roles=frozenset(user.roles),
        agency=user.agency,
        is_platform_admin=user.is_platform_admin,
    )
    feed.last_used_at = now
    return feed, actor


def record_fetch(
    *, session: Session, actor: Actor, now: datetime, request_id: str | None
) -> AccessEvent:
    """The access log row of one fetch: it reads many cases' clocks, so it names no case;
    its path is the feed's with the secret cut out."""
    event = AccessEvent(
        at=now,
        actor_id=actor.user_id,
        method="GET",
        path=REDACTED_PATH,
        action=FEED_ACTION,
        case_id=None,
        outcome="allowed",
        status=200,
        request_id=request_id,
    )
    session.add(event)
    return event


def events(
    *, session: Session, actor: Actor, now: datetime, public_base_url: str
) -> list[ics.AllDayEvent]:
    """One all-day event per clock still running or breached (as of `now`, before the sweep
    has had its turn) of the cases `actor` may read, on the clock's due date."""
    out: list[ics.AllDayEvent] = []
    for deadline, case in repository.open_clocks(session, actor):
        definition = workflow_service.definition_for(case)
        clock = definition.clocks.get(deadline.key)
        status = deadline_service.effective_status(deadline, clock, now)
        if status not in repository.OPEN:
            continue  # a clock met by its due date passing (met_at_due)
        label = clock.label if clock else deadline.key
        breached = status == "breached"
        summary = f"{case.reference}: {label} due" + (" (BREACHED)" if breached else "")
        url = links.case_page(public_base_url, case.reference)
        details = [
            f"Case {case.reference}: {label}.",
            f"Due by the end of {_long_date(deadline.due_on)}."
            + (" Breached." if breached else ""),
            f"{deadline.kind.capitalize()} clock"
            + (
                f", for {deadline.subject_agency.replace('_', ' ')}"
                if deadline.subject_agency
                else ""
            )
            + ".",
        ]
        if clock is not None and clock.rule:
            details.append(f"Rule: {clock.rule}.")
        if clock is not None and clock.basis:
            details.append(f"Basis: {clock.basis}")
        details.append(f"Case page: {url}")
        out.append(
            ics.AllDayEvent(
                uid=f"{deadline.id}@{UID_DOMAIN}",
                day=deadline.due_on,
                summary=summary,
                description="\n".join(details),
                url=url,
                last_modified=deadline.updated_at,
            )
        )
    return out


def render(*, session: Session, actor: Actor, now: datetime, public_base_url: str) -> str:
    """The feed's iCalendar text for `actor` as of `now`."""
    where = f" ({actor.partnership_code})" if actor.partnership_code else ""
    return ics.calendar(
        name=f"CSPR clocks{where}",
        description=(
            "The statutory and local clocks still running or breached on the cases you can "
            "see, each on its due date."
        ),
        events=events(session=session, actor=actor, now=now, public_base_url=public_base_url),
        now=now,
        refresh=REFRESH,
    )
