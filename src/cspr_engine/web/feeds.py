"""The calendar feed page, /ui/calendar-feed: what the feed is, the signed-in user's feeds with
a revoke button each, and the form that creates one (its address shown once). Every change is
made by the API's own route functions (feeds.router), so the page meets the API's rules."""

from __future__ import annotations

import uuid
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from cspr_engine.accounts.dependencies import SettingsDep
from cspr_engine.db import SessionDep
from cspr_engine.errors import CsprError, pydantic_errors
from cspr_engine.feeds import router as feeds_api
from cspr_engine.feeds.schemas import CalendarFeedCreate, CalendarFeedRead
from cspr_engine.kit.clock import ClockDep
from cspr_engine.kit.pagination import MAX_LIMIT
from cspr_engine.web import forms
from cspr_engine.web.auth import WebUser, WebUserDep
from cspr_engine.web.router import flash, posted_form, render, see_other

router = APIRouter(prefix="/ui/calendar-feed", include_in_schema=False)

PAGE = "/ui/calendar-feed"
# A person has a handful of feeds, not thousands: the page lists them all, up to this many.
MAX_FEEDS = 1_000


def feed_form() -> forms.Form:
    return forms.Form(
        [
            forms.Field(
                name="name",
                id="feed-name",
                label="Name of the feed",
                kind="input",
                hint="To tell it apart later, for example Outlook at work",
                noun="a name for the feed",
                required=True,
                max_length=100,
            )
        ]
    )


def _feeds(session: Session, user: WebUser) -> list[CalendarFeedRead]:
    """The user's own feeds, oldest first, through the API's own listing."""
    found: list[CalendarFeedRead] = []
    cursor = None
    while len(found) < MAX_FEEDS:
        page = feeds_api.list_calendar_feeds(
            session=session, actor=user.actor, user_id=None, limit=MAX_LIMIT, cursor=cursor
        )
        found += page.items
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return found


def _page(
    request: Request,
    session: Session,
    user: WebUser,
    form: forms.Form,
    *,
    status_code: int = 200,
    done: str | None = None,
) -> HTMLResponse:
    return render(
        request,
        "feeds/index.html",
        {
            "feeds": _feeds(session, user),
            "form": form,
            "done": done,
        },
        user=user,
        status_code=status_code,
    )


@router.get("", name="ui_calendar_feed")
def feeds_page(request: Request, session: SessionDep, user: WebUserDep) -> HTMLResponse:
    return _page(request, session, user, feed_form(), done=flash(request))


@router.post("", name="ui_create_calendar_feed")
async def create_feed(
    request: Request,
    session: SessionDep,
    user: WebUserDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> Response:
    posted = await posted_form(request, user)
    form = feed_form()
    data = forms.read(form, posted)
    refusal: CsprError | None = None
    if not data.get("name"):
        form.add_error("name", "Enter a name for the feed")
    else:
        try:
            created = feeds_api.create_calendar_feed(
                body=CalendarFeedCreate.model_validate(data),
                response=Response(),
                session=session,
                actor=user.actor,
                clock=clock,
                settings=settings,
            )
            # The address is in this page alone (not stored, not in a redirect): no PRG.
            return render(
                request,
                "feeds/created.html",
                {"feed": created},
                user=user,
            )
        except ValidationError as exc:
            session.rollback()
            for err in pydantic_errors(exc.errors()):
                if err.type == "string_too_long":
                    form.add_error("name", "The name of the feed must be 100 characters or fewer")
                else:
                    form.add_api_errors([err])
        except CsprError as exc:
            session.rollback()
            refusal = exc
            form.add_error(None, exc.detail or exc.title)
    response = _page(
        request,
        session,
        user,
        form,
        status_code=refusal.status if refusal is not None else 422,
    )
    if refusal is not None:
        response.headers.update(refusal.headers)  # Retry-After on a 429
    return response


@router.post("/{feed_id}/revoke", name="ui_revoke_calendar_feed")
async def revoke_feed(
    request: Request,
    feed_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    user: WebUserDep,
    clock: ClockDep,
) -> Response:
    await posted_form(request, user)
    feeds_api.revoke_calendar_feed(feed_id=feed_id, session=session, actor=user.actor, clock=clock)
    return see_other(f"{PAGE}?" + urlencode({"done": "The calendar feed was revoked"}))
