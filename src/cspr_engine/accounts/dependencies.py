"""ActorDep: the authenticated caller of a request, by bearer token or web session cookie."""

from __future__ import annotations

import hmac
import logging
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyCookie, HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.exceptions import CsrfTokenInvalid
from cspr_engine.accounts.schemas import Actor
from cspr_engine.config import Settings
from cspr_engine.db import get_engine
from cspr_engine.errors import Unauthenticated
from cspr_engine.kit.clock import ClockDep
from cspr_engine.kit.logs import note_actor_id

log = logging.getLogger(__name__)

SESSION_COOKIE = "cspr_session"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
MAX_SECRET_LENGTH = 200

# The two ways in, as the OpenAPI document declares them (security schemes `bearer` and
# `session`, on every operation that depends on get_actor). get_actor reads the header and
# the cookie itself: these only document them, and never refuse a request.
BEARER_SCHEME = HTTPBearer(
    scheme_name="bearer",
    description="An API token (a person's or a service account's): "
    "`Authorization: Bearer <token>`. Wins over the session cookie when both are sent.",
    auto_error=False,
)
SESSION_SCHEME = APIKeyCookie(
    name=SESSION_COOKIE,
    scheme_name="session",
    description="The web session cookie that `POST /api/v1/auth/sign-in` sets. A request "
    "made with it and an unsafe method (POST, PUT, PATCH, DELETE) must also send the "
    f"session's CSRF token (from the sign-in answer or `GET /api/v1/auth/me`) in {CSRF_HEADER}.",
    auto_error=False,
)
DocumentedBearer = Annotated[HTTPAuthorizationCredentials | None, Security(BEARER_SCHEME)]
DocumentedSession = Annotated[str | None, Security(SESSION_SCHEME)]


def get_actor(
    request: Request,
    clock: ClockDep,
    _bearer: DocumentedBearer = None,
    _session: DocumentedSession = None,
) -> Actor:
    """Authentication is its own short unit of work, finished before the request's session
    begins, so recording a token's (or session's) last use never contends with the request's
    own writes. An `Authorization` header wins over the cookie; a cookie-authenticated request
    with an unsafe method must echo the session's CSRF token in `X-CSRF-Token`."""
    header = request.headers.get("authorization")
    cookie = request.cookies.get(SESSION_COOKIE)
    if not header and cookie:
        return _from_cookie(request, cookie, clock)
    scheme, _, secret = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not secret.strip():
        raise Unauthenticated(
            "Send an API token as `Authorization: Bearer <token>`, or sign in "
            "(POST /api/v1/auth/sign-in) for a session cookie."
        )
    if len(secret) > MAX_SECRET_LENGTH:
        raise Unauthenticated("The token is unknown, revoked or expired.")
    with Session(get_engine()) as session:
        actor = accounts_service.authenticate(
            session=session, secret=secret.strip(), now=clock.now()
        )
        _commit_bookkeeping(session, f"token {actor.token_id}")
    note_actor_id(actor.user_id)  # issue #7: the actor's id on this request's log lines
    return actor


def _from_cookie(request: Request, cookie: str, clock: ClockDep) -> Actor:
    if len(cookie) > MAX_SECRET_LENGTH:
        raise Unauthenticated("The session has ended or expired: sign in again.")
    with Session(get_engine()) as session:
        actor, csrf_token = accounts_service.authenticate_session(
            session=session, secret=cookie, now=clock.now()
        )
        if request.method not in SAFE_METHODS:
            # A cross-site page can make the browser send the cookie, but cannot read the
            # token (it is only in a sign-in or /auth/me response) to send it back.
            sent = request.headers.get(CSRF_HEADER, "")
            if not hmac.compare_digest(sent.encode(), csrf_token.encode()):
                raise CsrfTokenInvalid(
                    f"A request made with the session cookie must send the session's CSRF "
                    f"token in {CSRF_HEADER}."
                )
        _commit_bookkeeping(session, f"session {actor.session_id}")
    note_actor_id(actor.user_id)  # issue #7: the actor's id on this request's log lines
    return actor


def _commit_bookkeeping(session: Session, what: str) -> None:
    try:
        session.commit()  # the last-used (last-seen) time, at most every few minutes
    except OperationalError:
        # A busy database must not fail the request over a bookkeeping field.
        session.rollback()
        log.info("%s: last-used time not recorded (database busy)", what)


ActorDep = Annotated[Actor, Depends(get_actor)]


def get_app_settings(request: Request) -> Settings:
    """The settings the app was created with (tests may build an app with their own)."""
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(get_app_settings)]
