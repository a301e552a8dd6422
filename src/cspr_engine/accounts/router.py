"""HTTP for partnerships, users, API tokens and web sign-in."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Path, Query, Request, Response, status
from sqlmodel import Session

from cspr_engine.accounts import repository, signing_in
from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.dependencies import SESSION_COOKIE, ActorDep, SettingsDep
from cspr_engine.accounts.exceptions import (
    CsrfTokenInvalid,
    EmailTaken,
    NotAnAdministrator,
    PartnershipExists,
    SignInBackoff,
    SignInFailed,
    TokenIssueForbidden,
    TokenNotFound,
    TokenRateLimited,
    UserNotFound,
)
from cspr_engine.accounts.models import ApiToken, Partnership, User, WebSession
from cspr_engine.accounts.schemas import (
    Actor,
    Me,
    PartnershipCode,
    PartnershipCreate,
    PartnershipList,
    PartnershipRead,
    SignedIn,
    SignInRequest,
    TokenCreate,
    TokenCreated,
    TokenList,
    TokenRead,
    UserCreate,
    UserList,
    UserRead,
)
from cspr_engine.config import Settings
from cspr_engine.db import SessionDep
from cspr_engine.errors import (
    FieldError,
    InvalidData,
    InvalidQuery,
    MalformedBody,
    Unauthenticated,
    error_responses,
)
from cspr_engine.kit.clock import ClockDep
from cspr_engine.kit.pagination import (
    CursorQuery,
    LimitQuery,
    decode_cursor,
    decode_keyset,
    encode_cursor,
    encode_keyset,
)

router = APIRouter(tags=["accounts"])

# Responses that carry a secret (a new token, a CSRF token) must not be kept by any cache.
NO_STORE = {"Cache-Control": "no-store"}


def _require_admin(actor: Actor) -> None:
    if not accounts_service.is_admin(actor):
        raise NotAnAdministrator("Only an administrator manages partnerships and users.")


def _user_read(user: User, code: str | None) -> UserRead:
    return UserRead(
        id=user.id,
        email=user.email,
        display_name=user.display_name,
        partnership=code,
        roles=list(user.roles),
        agency=user.agency,
        is_platform_admin=user.is_platform_admin,
        service_account=user.is_service_account,
        is_active=user.is_active,
        has_password=user.password_hash is not None,
        created_at=user.created_at,
    )


def _token_read(token: ApiToken) -> TokenRead:
    return TokenRead(
        id=token.id,
        name=token.name,
        user_id=token.user_id,
        created_at=token.created_at,
        expires_at=token.expires_at,
        last_used_at=token.last_used_at,
        revoked_at=token.revoked_at,
    )


def _cursor_value(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    (value,) = decode_cursor(cursor, 1)
    if not isinstance(value, str):
        raise InvalidQuery("The cursor is not one this service issued.")
    return value


# -- partnerships -------------------------------------------------------------------------------


@router.post(
    "/partnerships",
    response_model=PartnershipRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create a partnership (tenant); platform admins only",
    responses=error_responses(MalformedBody, NotAnAdministrator, PartnershipExists),
)
def create_partnership(
    body: PartnershipCreate, session: SessionDep, actor: ActorDep, clock: ClockDep
) -> PartnershipRead:
    if not actor.is_platform_admin:
        raise NotAnAdministrator("Only a platform admin creates partnerships.")
    partnership = accounts_service.create_partnership(
        session=session, code=body.code, name=body.name, now=clock.now(), by=actor
    )
    shown = PartnershipRead.model_validate(partnership, from_attributes=True)
    session.commit()
    return shown


@router.get(
    "/partnerships",
    response_model=PartnershipList,
    summary="Partnerships by code: all for a platform admin, its own for a partnership admin",
    responses=error_responses(NotAnAdministrator),
)
def list_partnerships(
    session: SessionDep, actor: ActorDep, limit: LimitQuery = 50, cursor: CursorQuery = None
) -> PartnershipList:
    _require_admin(actor)
    only = None if actor.is_platform_admin else actor.partnership_id
    rows = repository.partnerships_page(
        session, only=only, after_code=_cursor_value(cursor), limit=limit
    )
    page = rows[:limit]
    return PartnershipList(
        items=[PartnershipRead.model_validate(p, from_attributes=True) for p in page],
        next_cursor=encode_cursor([page[-1].code]) if len(rows) > limit else None,
    )


# -- users --------------------------------------------------------------------------------------


def _target_partnership(session: Session, actor: Actor, code: str | None) -> Partnership:
    """The partnership a new user joins: any (named) for a platform admin, else the admin's own."""
    if actor.is_platform_admin:
        if code is None:
            raise InvalidData(
                [
                    FieldError(
                        loc="partnership",
                        message="a platform admin names the partnership",
                        type="missing",
                    )
                ]
            )
        found = repository.partnership_by_code(session, code)
        if found is None:
            raise InvalidData(
                [FieldError(loc="partnership", message="no such partnership", type="unknown")]
            )
        return found
    own = session.get(Partnership, actor.partnership_id) if actor.partnership_id else None
    if own is None or (code is not None and code != own.code):
        raise NotAnAdministrator("An administrator manages its own partnership's users.")
    return own


@router.post(
    "/users",
    response_model=UserRead,
    status_code=status.HTTP_201_CREATED,
    summary="Create a user (a person or a partner's service account) in a partnership",
    responses=error_responses(MalformedBody, NotAnAdministrator, EmailTaken),
)
def create_user(
    body: UserCreate, session: SessionDep, actor: ActorDep, clock: ClockDep
) -> UserRead:
    _require_admin(actor)
    partnership = _target_partnership(session, actor, body.partnership)
    user = accounts_service.create_user(
        session=session,
        email=body.email,
        display_name=body.display_name,
        partnership=partnership,
        roles=[role.value for role in body.roles],
        agency=body.agency.value if body.agency else None,
        is_service_account=body.service_account,
        now=clock.now(),
        by=actor,
    )
    shown = _user_read(user, partnership.code)
    session.commit()
    return shown


@router.get(
    "/users",
    response_model=UserList,
    summary="Users by e-mail: a partnership admin's own partnership; a platform admin's choice",
    responses=error_responses(NotAnAdministrator),
)
def list_users(
    session: SessionDep,
    actor: ActorDep,
    partnership: Annotated[
        PartnershipCode | None,
        Query(description="A partnership's code (platform admins; default: every user)."),
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> UserList:
    _require_admin(actor)
    every = False
    partnership_id = actor.partnership_id
    if actor.is_platform_admin:
        if partnership is None:
            every = True
        else:
            found = repository.partnership_by_code(session, partnership)
            if found is None:
                raise InvalidQuery(
                    f"There is no partnership {partnership!r}.", parameter="partnership"
                )
            partnership_id = found.id
    elif partnership is not None and partnership != actor.partnership_code:
        raise NotAnAdministrator("An administrator manages its own partnership's users.")
    rows = repository.users_page(
        session,
        partnership_id=partnership_id,
        every_partnership=every,
        after_email=_cursor_value(cursor),
        limit=limit,
    )
    page = rows[:limit]
    return UserList(
        items=[_user_read(user, code) for user, code in page],
        next_cursor=encode_cursor([page[-1][0].email]) if len(rows) > limit else None,
    )


# -- API tokens ---------------------------------------------------------------------------------


def _token_owner(session: Session, actor: Actor, user_id: uuid.UUID) -> User:
    """The user whose tokens `actor` may manage: itself, or one it administers; else 404."""
    user = session.get(User, user_id)
    if user is None or not accounts_service.may_manage_tokens_of(actor, user):
        raise UserNotFound("No such user.")
    return user


@router.post(
    "/tokens",
    response_model=TokenCreated,
    status_code=status.HTTP_201_CREATED,
    summary="Create an API token for yourself, or (admins) for a service account; shown once",
    responses=error_responses(
        MalformedBody, CsrfTokenInvalid, UserNotFound, TokenIssueForbidden, TokenRateLimited
    ),
)
def create_token(
    body: TokenCreate,
    response: Response,
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
    settings: SettingsDep,
) -> TokenCreated:
    user = _token_owner(session, actor, body.user_id)
    if not accounts_service.may_issue_token_for(actor, user):
        raise TokenIssueForbidden(
            "A person creates their own tokens; an administrator creates them only for its "
            "partnership's service accounts (a token for a person would let it act as them)."
        )
    token, secret = accounts_service.create_token(
        session=session,
        user=user,
        name=body.name,
        now=clock.now(),
        by=actor,
        expires_at=body.expires_at,
        note=f"created by user {actor.user_id}",
        per_hour=settings.token_create_per_hour,
    )
    shown = TokenCreated(
        id=token.id,
        token=secret,
        name=token.name,
        user_id=token.user_id,
        created_at=token.created_at,
        expires_at=token.expires_at,
    )
    session.commit()
    response.headers.update(NO_STORE)
    return shown


@router.get(
    "/tokens",
    response_model=TokenList,
    summary="A user's API tokens, oldest first (never their secrets)",
    responses=error_responses(UserNotFound),
)
def list_tokens(
    session: SessionDep,
    actor: ActorDep,
    user_id: Annotated[
        uuid.UUID | None, Query(description="Whose tokens (default: your own).")
    ] = None,
    limit: LimitQuery = 50,
    cursor: CursorQuery = None,
) -> TokenList:
    owner = _token_owner(session, actor, user_id or actor.user_id)
    after = decode_keyset(cursor)
    rows = repository.tokens_page(session, user_id=owner.id, after=after, limit=limit)
    page = rows[:limit]
    return TokenList(
        items=[_token_read(t) for t in page],
        next_cursor=(
            encode_keyset(page[-1].created_at, page[-1].id) if len(rows) > limit else None
        ),
    )


@router.delete(
    "/tokens/{token_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="Revoke an API token (at once: it authenticates nothing from now on)",
    responses=error_responses(CsrfTokenInvalid, TokenNotFound),
)
def revoke_token(
    token_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    actor: ActorDep,
    clock: ClockDep,
) -> Response:
    token = session.get(ApiToken, token_id)
    owner = session.get(User, token.user_id) if token is not None else None
    if token is None or owner is None or not accounts_service.may_manage_tokens_of(actor, owner):
        raise TokenNotFound("No such API token.")
    accounts_service.revoke_token(token=token, now=clock.now(), session=session, by=actor)
    session.commit()
    return Response(status_code=status.HTTP_204_NO_CONTENT)


# -- web sign-in --------------------------------------------------------------------------------


def _set_session_cookie(response: Response, secret: str, seconds: int, settings: Settings) -> None:
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=seconds,
        path="/",
        secure=settings.cookie_secure,
        httponly=True,
        samesite="lax",
    )


@router.post(
    "/auth/sign-in",
    response_model=SignedIn,
    summary="Sign in with e-mail and password; sets the `cspr_session` cookie",
    responses=error_responses(MalformedBody, SignInFailed, SignInBackoff),
)
def sign_in(
    body: SignInRequest,
    request: Request,
    response: Response,
    clock: ClockDep,
    settings: SettingsDep,
) -> SignedIn:
    # Its own two short transactions (accounts.signing_in), not the request's session.
    now = clock.now()
    done = signing_in.sign_in(
        email=body.email,
        password=body.password,
        client=request.client.host if request.client else None,
        now=now,
        session_hours=settings.session_hours,
        previous_secret=request.cookies.get(SESSION_COOKIE),
    )
    seconds = int((done.web_session.expires_at - now).total_seconds())
    _set_session_cookie(response, done.secret, seconds, settings)
    response.headers.update(NO_STORE)
    return SignedIn(
        user=_user_read(done.user, done.partnership_code),
        csrf_token=done.web_session.csrf_token,
        expires_at=done.web_session.expires_at,
    )


@router.post(
    "/auth/sign-out",
    status_code=status.HTTP_204_NO_CONTENT,
    summary="End the web session (with a bearer token there is none: nothing changes)",
    responses=error_responses(CsrfTokenInvalid),
)
def sign_out(
    session: SessionDep, actor: ActorDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    if actor.session_id is not None:
        web_session = session.get(WebSession, actor.session_id)
        if web_session is not None:
            accounts_service.end_session(web_session=web_session, now=clock.now())
    session.commit()
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=settings.cookie_secure, httponly=True, samesite="lax"
    )
    return response


@router.get(
    "/auth/me",
    response_model=Me,
    summary="Who you are signed in as (and, with a session, its CSRF token)",
    responses=error_responses(),
)
def me(session: SessionDep, actor: ActorDep, response: Response) -> Me:
    user = session.get(User, actor.user_id)
    if user is None:  # gone since authentication a moment ago
        raise Unauthenticated("The account no longer exists.")
    web_session = session.get(WebSession, actor.session_id) if actor.session_id else None
    response.headers.update(NO_STORE)
    return Me(
        user=_user_read(user, actor.partnership_code),
        authenticated_by="session" if web_session is not None else "token",
        csrf_token=web_session.csrf_token if web_session else None,
        session_expires_at=web_session.expires_at if web_session else None,
    )
