"""Who is signed in to the web UI: the session cookie the API's sign-in sets, and its CSRF
token, which every form posts back as a hidden field."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated
from urllib.parse import quote, unquote

from fastapi import Depends, Request
from sqlmodel import Session

from cspr_engine.access import service as access_service
from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.dependencies import MAX_SECRET_LENGTH, SESSION_COOKIE
from cspr_engine.accounts.models import User
from cspr_engine.accounts.schemas import Actor
from cspr_engine.db import get_engine
from cspr_engine.errors import Forbidden, Unauthenticated
from cspr_engine.kit.clock import ClockDep
from cspr_engine.kit.logs import note_actor_id

CSRF_FIELD = "csrf_token"


class SignInRequired(Unauthenticated):
    """No live session: a page sends the browser to sign in, then back to where it was."""

    def __init__(self, next_path: str) -> None:
        super().__init__("Sign in to continue.")
        self.next_path = next_path


class FormExpired(Forbidden):
    slug, title = "form-expired", "The form has expired"


@dataclass(frozen=True)
class WebUser:
    actor: Actor
    display_name: str
    email: str
    csrf_token: str

    @property
    def is_admin(self) -> bool:
        return accounts_service.is_admin(self.actor)


def safe_next(path: str | None) -> str:
    """Only a path of this service's UI: never another site (no open redirect), nor a way out
    of /ui by dot segments (`/ui/../api/...`, `/ui/%2e%2e/...`), which browsers resolve."""
    if not path or not path.startswith("/ui") or path.startswith("//") or "\\" in path:
        return "/ui"
    segments = unquote(path.split("?", 1)[0].split("#", 1)[0]).split("/")
    if "." in segments or ".." in segments:
        return "/ui"
    return path


def sign_in_url(request: Request) -> str:
    here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/ui/sign-in?next={quote(safe_next(here), safe='/')}"


def get_web_user(request: Request, clock: ClockDep) -> WebUser:
    """The signed-in user, or SignInRequired. Like the API's authentication it is its own
    short unit of work (the session's last-seen time)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie or len(cookie) > MAX_SECRET_LENGTH:
        raise SignInRequired(sign_in_url(request))
    with Session(get_engine()) as session:
        try:
            actor, csrf_token = accounts_service.authenticate_session(
                session=session, secret=cookie, now=clock.now()
            )
        except Unauthenticated:
            raise SignInRequired(sign_in_url(request)) from None
        user = session.get(User, actor.user_id)
        if user is None:
            raise SignInRequired(sign_in_url(request))
        web_user = WebUser(
            actor=actor, display_name=user.display_name, email=user.email, csrf_token=csrf_token
        )
        session.commit()
    note_actor_id(actor.user_id)  # issue #7: the actor's id on this request's log lines
    return web_user


WebUserDep = Annotated[WebUser, Depends(get_web_user)]


def get_logged_web_user(request: Request, user: WebUserDep, clock: ClockDep) -> WebUser:
    """A page that reaches for cases: the request goes to the access log, as the API's do."""
    access_service.note_actor(request.scope, user.actor, clock.now())
    return user


LoggedWebUserDep = Annotated[WebUser, Depends(get_logged_web_user)]


def check_csrf(user: WebUser, sent: object) -> None:
    """A form posted with the session cookie must carry the session's CSRF token: a page on
    another site can make the browser post, but cannot read the token to put in the form."""
    if not isinstance(sent, str) or not hmac.compare_digest(
        sent.encode(), user.csrf_token.encode()
    ):
        raise FormExpired(
            "This form has expired or did not come from this service. Go back, reload the page "
            "and try again."
        )
