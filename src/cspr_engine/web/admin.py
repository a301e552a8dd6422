"""The administration pages, under /ui/admin: a partnership's users and their passwords, API
tokens, webhook subscriptions and the working-day calendar.

Every change is made by the API's own route functions (or, for a password, which the API does not
set, by `accounts_service.set_password` behind `accounts_service.manages`), so a page and an API
client meet the same permission checks and the same rules; a refusal is shown on the form."""

from __future__ import annotations

import base64
import re
import secrets
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session

from cspr_engine.accounts import repository as accounts_repository
from cspr_engine.accounts import router as accounts_api
from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.dependencies import SettingsDep
from cspr_engine.accounts.exceptions import EmailTaken, NotAnAdministrator, UserNotFound
from cspr_engine.accounts.models import User
from cspr_engine.accounts.schemas import (
    MIN_PASSWORD_LENGTH,
    Agency,
    Role,
    TokenCreate,
    UserCreate,
    UserRead,
)
from cspr_engine.alerts import router as alerts_api
from cspr_engine.alerts.schemas import EventType, WebhookCreate
from cspr_engine.db import SessionDep
from cspr_engine.deadlines import router as deadlines_api
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.deadlines.schemas import HolidayCreate
from cspr_engine.errors import CsprError, FieldError, InvalidData, Unprocessable, pydantic_errors
from cspr_engine.kit.clock import ClockDep
from cspr_engine.kit.pagination import MAX_LIMIT
from cspr_engine.web import forms
from cspr_engine.web.auth import WebUser, WebUserDep
from cspr_engine.web.router import flash, posted_form, render, see_other
from cspr_engine.web.templating import humanise
from cspr_engine.workflow import service as workflow_service

router = APIRouter(prefix="/ui/admin", include_in_schema=False)

# A partnership has tens of users, not thousands: the pages list them all, up to this many.
MAX_USERS = 2_000
FIRST_YEAR, LAST_YEAR = 2012, 2100  # the years the calendar API answers for

ROLE_LABELS = {
    Role.referrer: "Referrer (a partner agency that refers incidents)",
    Role.business_unit: "Business unit",
    Role.panel_chair: "Panel chair",
    Role.dsp: "Delegated safeguarding partner (DSP)",
    Role.lsp: "Lead safeguarding partner (LSP)",
    Role.scrutineer: "Independent scrutineer",
    Role.qpd: "Quality and performance group",
    Role.admin: "Administrator",
}
EVENT_LABELS = {
    "*": "Every event, including kinds added later",
    "case.created": "A case is recorded",
    "case.transitioned": "A case moves to its next step",
    "deadline.warning": "A statutory clock is 2 working days from its due date",
    "deadline.breached": "A statutory clock is breached",
    "deadline.escalated": "A breach is escalated to the lead safeguarding partners",
    "approval.disputed": "The safeguarding partners disagree on a joint decision",
    "action.overdue": "An improvement action is overdue",
    "information_request.overdue": "A request for information is overdue",
}
SOURCE_LABELS = {"gov.uk": "GOV.UK", "computed": "Computed", "added": "Added"}

# GOV.UK-style messages for the API's own refusals, where its words are about the JSON shape.
PATTERN_MESSAGES = {
    "email": "Enter an e-mail address in the right format, like name@example.org",
    "url": "Enter a web address in the right format, like https://example.org/hooks/cspr",
}
CHOICE_ERRORS = frozenset({"enum", "literal_error", "uuid_parsing", "uuid_type", "bool_parsing"})
_AT_MOST = re.compile(r"at most (\d+) characters?")


def get_admin(user: WebUserDep) -> WebUser:
    """An administration page is for administrators: anyone else gets the API's 403."""
    if not user.is_admin:
        raise NotAnAdministrator("Only an administrator manages partnerships and users.")
    return user


AdminDep = Annotated[WebUser, Depends(get_admin)]
PartnershipQuery = Annotated[str | None, Query(max_length=16)]


def _with_query(path: str, **params: str | None) -> str:
    query = urlencode({k: v for k, v in params.items() if v})
    return f"{path}?{query}" if query else path


# -- whose partnership a page is about ---------------------------------------------------------


@dataclass(frozen=True)
class Scope:
    """The partnership a page is about. A partnership admin's pages are about its own (the
    `partnership` query is the platform admin's picker, and is not read for anyone else); a
    platform admin picks one, by default the first."""

    code: str | None  # what the API calls are given: None for a partnership admin (its own)
    shown: str | None  # the code to show in headings (None: there is no partnership yet)
    choices: tuple[tuple[str, str], ...] = ()  # platform admins: (code, name) of each

    @property
    def pick(self) -> bool:
        return bool(self.choices)

    @property
    def empty(self) -> bool:
        """A platform admin with no partnership to administer yet."""
        return self.shown is None

    def url(self, path: str, **params: str | None) -> str:
        return _with_query(path, partnership=self.code if self.pick else None, **params)


def _scope(session: Session, user: WebUser, code: str | None) -> Scope:
    if not user.actor.is_platform_admin:
        return Scope(code=None, shown=user.actor.partnership_code)
    code = code.strip().upper() if code and code.strip() else None
    rows = accounts_repository.partnerships_page(
        session, only=None, after_code=None, limit=MAX_LIMIT
    )
    choices = tuple((p.code, p.name) for p in rows)
    chosen = code or (choices[0][0] if choices else None)
    return Scope(code=chosen, shown=chosen, choices=choices)


def _users(session: Session, user: WebUser, scope: Scope) -> list[UserRead]:
    """The partnership's users, by e-mail, through the API's own listing (and its checks)."""
    if scope.empty:
        return []
    found: list[UserRead] = []
    cursor = None
    while len(found) < MAX_USERS:
        page = accounts_api.list_users(
            session=session,
            actor=user.actor,
            partnership=scope.code,
            limit=MAX_LIMIT,
            cursor=cursor,
        )
        found += page.items
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return found


# -- forms -------------------------------------------------------------------------------------


def _add_errors(form: forms.Form, errors: Iterable[FieldError]) -> None:
    """The API's field errors beside their fields, in GOV.UK words where the API's are about
    the JSON shape (a pattern, a length, a value outside a list)."""
    known = form.by_name()
    for err in errors:
        name = err.loc.split(".")[0]
        fld = known.get(name)
        message = None
        if fld is not None:
            at_most = _AT_MOST.search(err.message)
            if err.type == "string_pattern_mismatch":
                message = PATTERN_MESSAGES.get(name)
            elif err.type == "string_too_long" and at_most:
                message = f"{fld.label} must be {at_most[1]} characters or fewer"
            elif err.type in CHOICE_ERRORS:
                message = f"Select {fld.error_name} from the list"
        if message:
            form.add_error(name, message)
        else:
            form.add_api_errors([err])


def _refused(form: forms.Form, exc: CsprError, field: str | None) -> None:
    """A rule of the service refused the form: its message, beside `field` if it is about one."""
    if isinstance(exc, InvalidData):
        _add_errors(form, exc.errors)
    else:
        form.add_error(field, exc.detail or exc.title)


def _form_response(response: HTMLResponse, exc: CsprError | None) -> HTMLResponse:
    if exc is not None:
        response.headers.update(exc.headers)  # e.g. Retry-After on a 429
    return response


def _status(exc: CsprError | None) -> int:
    """A form shown again answers with the status the API gives the same refusal."""
    return exc.status if exc is not None else 422


def role_options() -> tuple[tuple[str, str], ...]:
    """The roles the workflows name that the accounts API accepts, in the API's order."""
    named = {r for d in workflow_service.get_definitions().values() for r in d.roles}
    return tuple((r.value, ROLE_LABELS.get(r, humanise(r))) for r in Role if r.value in named)


def user_form(scope: Scope) -> forms.Form:
    fields: list[forms.Field] = []
    if scope.pick:
        fields.append(
            forms.Field(
                name="partnership",
                id="user-partnership",
                label="Partnership",
                kind="select",
                options=tuple((code, f"{name} ({code})") for code, name in scope.choices),
                value=scope.code,
                noun="a partnership",
            )
        )
    fields += [
        forms.Field(
            name="email",
            id="user-email",
            label="E-mail address",
            kind="input",
            hint="The address they sign in with",
            noun="an e-mail address",
            required=True,
        ),
        forms.Field(
            name="display_name",
            id="user-display-name",
            label="Name",
            kind="input",
            hint="A person's full name, or for a service account the agency and its case system",
            noun="a name",
            required=True,
        ),
        forms.Field(
            name="roles",
            id="user-roles",
            label="Roles",
            kind="checkboxes",
            hint="Select all that apply",
            options=role_options(),
            noun="at least one role",
            required=True,
        ),
        forms.Field(
            name="agency",
            id="user-agency",
            label="Agency",
            kind="select",
            hint="The agency they act for. A DSP acts for the local authority, police or health.",
            options=(("", "No agency"), *((a.value, humanise(a.value)) for a in Agency)),
            noun="an agency",
        ),
        forms.Field(
            name="service_account",
            id="user-service-account",
            label="Is this a service account?",
            kind="radios",
            hint="A partner agency's case system. It uses API tokens and never signs in here.",
            options=(("false", "No, a person"), ("true", "Yes, a case system")),
            value="false",
            noun="whether this is a service account",
        ),
    ]
    return forms.Form(fields)


def token_form(owners: list[UserRead], chosen: str | None = None) -> forms.Form:
    return forms.Form(
        [
            forms.Field(
                name="user_id",
                id="token-user",
                label="Whose token is it?",
                kind="select",
                hint="You create tokens for your partnership's service accounts and for yourself",
                options=tuple((str(u.id), f"{u.display_name} ({u.email})") for u in owners),
                value=chosen,
                noun="whose token it is",
            ),
            forms.Field(
                name="name",
                id="token-name",
                label="Name of the token",
                kind="input",
                hint="To tell it apart later, for example the system that will use it",
                noun="a name for the token",
                required=True,
            ),
            forms.Field(
                name="expires_on",
                id="token-expires-on",
                label="Expiry date (optional)",
                kind="date",
                hint=(
                    "It stops working at the end of this day, UK time. Leave it empty for a "
                    "token that does not expire. For example, 31 12 2026"
                ),
                noun="the expiry date",
            ),
        ]
    )


def webhook_form(scope: Scope) -> forms.Form:
    fields: list[forms.Field] = []
    if scope.pick:
        fields.append(
            forms.Field(
                name="partnership",
                id="webhook-partnership",
                label="Partnership",
                kind="select",
                options=tuple((code, f"{name} ({code})") for code, name in scope.choices),
                value=scope.code,
                noun="a partnership",
            )
        )
    fields += [
        forms.Field(
            name="url",
            id="webhook-url",
            label="Web address to send events to",
            kind="url",
            hint="A full address, starting https://",
            noun="the web address",
            required=True,
        ),
        forms.Field(
            name="events",
            id="webhook-events",
            label="Which events?",
            kind="checkboxes",
            hint="Select all that apply",
            options=tuple((e, f"{EVENT_LABELS.get(e, e)} ({e})") for e in get_args(EventType)),
            noun="at least one event",
            required=True,
        ),
    ]
    return forms.Form(fields)


def holiday_form() -> forms.Form:
    return forms.Form(
        [
            forms.Field(
                name="date",
                id="holiday-date",
                label="Date of the holiday",
                kind="date",
                hint="For example, 26 6 2026",
                noun="the date of the holiday",
                required=True,
            ),
            forms.Field(
                name="title",
                id="holiday-title",
                label="Name of the holiday",
                kind="input",
                hint="As the proclamation names it, for example Bank holiday for the coronation",
                noun="the name of the holiday",
                required=True,
            ),
            forms.Field(
                name="reason",
                id="holiday-reason",
                label="Reason (optional)",
                kind="textarea",
                hint="For example, the proclamation and its date",
            ),
        ]
    )


def password_field(error: str | None = None) -> forms.Field:
    hint = (
        f"At least {MIN_PASSWORD_LENGTH} characters, and not their e-mail address. "
        "Setting it signs them out everywhere."
    )
    return forms.Field(
        name="password",
        id="password",
        label="New password",
        kind="input",
        hint=hint,
        error=error,
        noun="a password",
        required=True,
    )


# -- the index ---------------------------------------------------------------------------------


@router.get("", name="ui_admin")
def index(request: Request, user: AdminDep) -> HTMLResponse:
    return render(request, "admin/index.html", {}, user=user)


# -- users -------------------------------------------------------------------------------------


@router.get("/users", name="ui_admin_users")
def users_page(
    request: Request, session: SessionDep, user: AdminDep, partnership: PartnershipQuery = None
) -> HTMLResponse:
    scope = _scope(session, user, partnership)
    return render(
        request,
        "admin/users.html",
        {
            "scope": scope,
            "users": _users(session, user, scope),
            "role_labels": ROLE_LABELS,
            "done": flash(request),
        },
        user=user,
    )


@router.get("/users/new", name="ui_admin_new_user")
def new_user_page(
    request: Request, session: SessionDep, user: AdminDep, partnership: PartnershipQuery = None
) -> HTMLResponse:
    scope = _scope(session, user, partnership)
    return render(
        request, "admin/user_new.html", {"scope": scope, "form": user_form(scope)}, user=user
    )


@router.post("/users/new", name="ui_admin_create_user")
async def create_user(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    clock: ClockDep,
    partnership: PartnershipQuery = None,
) -> Response:
    posted = await posted_form(request, user)
    scope = _scope(session, user, str(posted.get("partnership") or "") or partnership)
    form = user_form(scope)
    data = forms.read(form, posted)
    if "service_account" in data:
        data["service_account"] = {"true": True, "false": False}.get(
            data["service_account"], data["service_account"]
        )
    refusal: CsprError | None = None
    if not form.errors:
        try:
            body = UserCreate.model_validate(data)
            created = accounts_api.create_user(
                body=body, session=session, actor=user.actor, clock=clock
            )
            return see_other(
                scope.url(
                    "/ui/admin/users",
                    done=f"{created.display_name} was added",
                )
            )
        except ValidationError as exc:
            session.rollback()
            _add_errors(form, pydantic_errors(exc.errors()))
        except CsprError as exc:
            session.rollback()
            refusal = exc
            # A taken address is about the e-mail; the service's other refusal a form can meet
            # (a DSP acts for the local authority, police or health) is about the agency.
            _refused(
                form,
                exc,
                "email"
                if isinstance(exc, EmailTaken)
                else "agency"
                if isinstance(exc, Unprocessable)
                else None,
            )
    return _form_response(
        render(
            request,
            "admin/user_new.html",
            {"scope": scope, "form": form},
            user=user,
            status_code=_status(refusal),
        ),
        refusal,
    )


def _managed_user(session: Session, user: WebUser, user_id: uuid.UUID) -> User:
    """A user the admin manages; anyone else is not found (as the API hides other tenants)."""
    target = session.get(User, user_id)
    if target is None or not accounts_service.manages(user.actor, target):
        raise UserNotFound("No such user.")
    return target


def _users_url(session: Session, user: WebUser, target: User, done: str | None = None) -> str:
    code = accounts_repository.partnership_code(session, target.partnership_id)
    return _with_query(
        "/ui/admin/users", partnership=code if user.actor.is_platform_admin else None, done=done
    )


UserIdPath = Annotated[uuid.UUID, Path()]


@router.get("/users/{user_id}/password", name="ui_admin_password")
def password_page(
    request: Request, user_id: UserIdPath, session: SessionDep, user: AdminDep
) -> HTMLResponse:
    target = _managed_user(session, user, user_id)
    return render(
        request,
        "admin/password.html",
        {
            "target": target,
            "field": password_field(),
            "errors": [],
            "users_url": _users_url(session, user, target),
        },
        user=user,
    )


@router.post("/users/{user_id}/password", name="ui_admin_set_password")
async def set_password(
    request: Request, user_id: UserIdPath, session: SessionDep, user: AdminDep, clock: ClockDep
) -> Response:
    posted = await posted_form(request, user)
    target = _managed_user(session, user, user_id)
    raw = posted.get("password")
    password = raw if isinstance(raw, str) else ""
    message: str
    if not password:
        message = "Enter a password"
    else:
        try:
            accounts_service.set_password(
                session=session, user=target, password=password, now=clock.now()
            )
            session.commit()
            return see_other(
                _users_url(
                    session, user, target, done=f"The password of {target.display_name} was set"
                )
            )
        except CsprError as exc:
            session.rollback()
            message = exc.detail or exc.title
    field = password_field(message)
    return render(
        request,
        "admin/password.html",
        {
            "target": target,
            "field": field,
            "errors": [(field.anchor, message)],
            "users_url": _users_url(session, user, target),
        },
        user=user,
        status_code=422,
    )


# -- API tokens --------------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenRow:
    id: uuid.UUID
    name: str
    owner: UserRead
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None
    expired: bool


def _issuable(session: Session, user: WebUser, people: list[UserRead]) -> list[UserRead]:
    """Those the admin may create a token for (the service's rule, asked of each)."""
    out = []
    for person in people:
        row = session.get(User, person.id)
        if row is not None and accounts_service.may_issue_token_for(user.actor, row):
            out.append(person)
    return out


@router.get("/tokens", name="ui_admin_tokens")
def tokens_page(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    clock: ClockDep,
    partnership: PartnershipQuery = None,
) -> HTMLResponse:
    scope = _scope(session, user, partnership)
    now = clock.now()
    rows: list[TokenRow] = []
    for owner in _users(session, user, scope):
        listed = accounts_api.list_tokens(
            session=session, actor=user.actor, user_id=owner.id, limit=MAX_LIMIT, cursor=None
        )
        rows += [
            TokenRow(
                id=t.id,
                name=t.name,
                owner=owner,
                created_at=t.created_at,
                expires_at=t.expires_at,
                last_used_at=t.last_used_at,
                revoked_at=t.revoked_at,
                expired=t.expires_at is not None and t.expires_at <= now,
            )
            for t in listed.items
        ]
    return render(
        request,
        "admin/tokens.html",
        {"scope": scope, "tokens": rows, "done": flash(request)},
        user=user,
    )


@router.get("/tokens/new", name="ui_admin_new_token")
def new_token_page(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    partnership: PartnershipQuery = None,
    user_id: Annotated[str | None, Query(max_length=64)] = None,
) -> HTMLResponse:
    scope = _scope(session, user, partnership)
    owners = _issuable(session, user, _users(session, user, scope))
    return render(
        request,
        "admin/token_new.html",
        {"scope": scope, "form": token_form(owners, user_id), "owners": owners},
        user=user,
    )


@router.post("/tokens/new", name="ui_admin_create_token")
async def create_token(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    clock: ClockDep,
    settings: SettingsDep,
    partnership: PartnershipQuery = None,
) -> Response:
    posted = await posted_form(request, user)
    scope = _scope(session, user, partnership)
    owners = _issuable(session, user, _users(session, user, scope))
    form = token_form(owners)
    data = forms.read(form, posted)
    refusal: CsprError | None = None
    if not form.errors:
        expires_on = data.pop("expires_on", None)
        if expires_on is not None:
            data["expires_at"] = deadline_service.end_of_day(date.fromisoformat(expires_on))
        try:
            body = TokenCreate.model_validate(data)
            created = accounts_api.create_token(
                body=body,
                response=Response(),
                session=session,
                actor=user.actor,
                clock=clock,
                settings=settings,
            )
            owner = session.get(User, created.user_id)
            # The secret is in this page alone (not stored, not in a URL): no Post/Redirect/Get.
            return render(
                request,
                "admin/token_created.html",
                {"scope": scope, "token": created, "owner": owner},
                user=user,
            )
        except ValidationError as exc:
            session.rollback()
            errors = pydantic_errors(exc.errors())
            _add_errors(
                form,
                [
                    e.model_copy(update={"loc": "expires_on"}) if e.loc == "expires_at" else e
                    for e in errors
                ],
            )
        except CsprError as exc:
            session.rollback()
            refusal = exc
            detail = exc.detail or ""
            if "expires_at" in detail:
                form.add_error("expires_on", detail.replace("expires_at", "The expiry date"))
            else:
                # Refusals are about whose token it is (a person, someone else's user); a
                # rate limit is about the form as a whole.
                _refused(form, exc, None if exc.status == 429 else "user_id")
    return _form_response(
        render(
            request,
            "admin/token_new.html",
            {"scope": scope, "form": form, "owners": owners},
            user=user,
            status_code=_status(refusal),
        ),
        refusal,
    )


@router.post("/tokens/{token_id}/revoke", name="ui_admin_revoke_token")
async def revoke_token(
    request: Request,
    token_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    user: AdminDep,
    clock: ClockDep,
    partnership: PartnershipQuery = None,
) -> Response:
    await posted_form(request, user)
    accounts_api.revoke_token(token_id=token_id, session=session, actor=user.actor, clock=clock)
    scope = _scope(session, user, partnership)
    return see_other(scope.url("/ui/admin/tokens", done="The API token was revoked"))


# -- webhooks ----------------------------------------------------------------------------------


def new_webhook_secret() -> str:
    """A Standard Webhooks signing secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


@router.get("/webhooks", name="ui_admin_webhooks")
def webhooks_page(
    request: Request, session: SessionDep, user: AdminDep, partnership: PartnershipQuery = None
) -> HTMLResponse:
    scope = _scope(session, user, partnership)
    subs = (
        []
        if scope.empty
        else alerts_api.list_webhooks(session=session, actor=user.actor, partnership=scope.code)
    )
    return render(
        request,
        "admin/webhooks.html",
        {"scope": scope, "webhooks": subs, "event_labels": EVENT_LABELS, "done": flash(request)},
        user=user,
    )


@router.get("/webhooks/new", name="ui_admin_new_webhook")
def new_webhook_page(
    request: Request, session: SessionDep, user: AdminDep, partnership: PartnershipQuery = None
) -> HTMLResponse:
    scope = _scope(session, user, partnership)
    return render(
        request, "admin/webhook_new.html", {"scope": scope, "form": webhook_form(scope)}, user=user
    )


@router.post("/webhooks/new", name="ui_admin_create_webhook")
async def create_webhook(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    clock: ClockDep,
    partnership: PartnershipQuery = None,
) -> Response:
    posted = await posted_form(request, user)
    scope = _scope(session, user, str(posted.get("partnership") or "") or partnership)
    form = webhook_form(scope)
    data = forms.read(form, posted)
    refusal: CsprError | None = None
    if not form.errors:
        secret = new_webhook_secret()
        try:
            body = WebhookCreate.model_validate({**data, "secret": secret})
            created = alerts_api.create_webhook(
                body=body, session=session, actor=user.actor, clock=clock
            )
            scope = _scope(session, user, created.partnership)
            return render(
                request,
                "admin/webhook_created.html",
                {
                    "scope": scope,
                    "webhook": created,
                    "secret": secret,
                    "event_labels": EVENT_LABELS,
                },
                user=user,
            )
        except ValidationError as exc:
            session.rollback()
            _add_errors(form, pydantic_errors(exc.errors()))
        except CsprError as exc:
            session.rollback()
            refusal = exc
            _refused(form, exc, "url")
    return _form_response(
        render(
            request,
            "admin/webhook_new.html",
            {"scope": scope, "form": form},
            user=user,
            status_code=_status(refusal),
        ),
        refusal,
    )


@router.post("/webhooks/{webhook_id}/delete", name="ui_admin_delete_webhook")
async def delete_webhook(
    request: Request,
    webhook_id: Annotated[uuid.UUID, Path()],
    session: SessionDep,
    user: AdminDep,
    clock: ClockDep,
    partnership: PartnershipQuery = None,
) -> Response:
    await posted_form(request, user)
    alerts_api.delete_webhook(webhook_id=webhook_id, session=session, actor=user.actor, clock=clock)
    scope = _scope(session, user, partnership)
    return see_other(scope.url("/ui/admin/webhooks", done="The webhook subscription was stopped"))


# -- the calendar ------------------------------------------------------------------------------

YearQuery = Annotated[str | None, Query(max_length=8)]


def _year(raw: str | None) -> tuple[int | None, str | None]:
    """The year asked for (None: this year), or this year and why the one typed will not do."""
    if raw is None or not raw.strip():
        return None, None
    text = raw.strip()
    if text.isdigit() and FIRST_YEAR <= int(text) <= LAST_YEAR:
        return int(text), None
    return None, f"Enter a year from {FIRST_YEAR} to {LAST_YEAR}, like 2026"


def _calendar_context(
    session: Session, user: WebUser, clock: ClockDep, raw_year: str | None
) -> dict[str, Any]:
    year, year_error = _year(raw_year)
    listed = deadlines_api.list_holidays(session=session, _actor=user.actor, clock=clock, year=year)
    return {
        "calendar": listed,
        "year_error": year_error,
        "typed_year": raw_year if year_error else listed.year,
        "sources": SOURCE_LABELS,
        "previous_year": listed.year - 1 if listed.year > FIRST_YEAR else None,
        "next_year": listed.year + 1 if listed.year < LAST_YEAR else None,
    }


@router.get("/calendar", name="ui_admin_calendar")
def calendar_page(
    request: Request, session: SessionDep, user: AdminDep, clock: ClockDep, year: YearQuery = None
) -> HTMLResponse:
    context = _calendar_context(session, user, clock, year)
    return render(
        request,
        "admin/calendar.html",
        {**context, "form": holiday_form(), "done": flash(request)},
        user=user,
    )


@router.post("/calendar", name="ui_admin_add_holiday")
async def add_holiday(
    request: Request, session: SessionDep, user: AdminDep, clock: ClockDep, year: YearQuery = None
) -> Response:
    posted = await posted_form(request, user)
    form = holiday_form()
    data = forms.read(form, posted)
    refusal: CsprError | None = None
    if not form.errors:
        try:
            body = HolidayCreate.model_validate(data)
            added = deadlines_api.add_holiday(
                body=body, session=session, actor=user.actor, clock=clock
            )
            return see_other(
                _with_query(
                    "/ui/admin/calendar",
                    year=str(added.date.year),
                    done=f"{added.title} on {added.date.day} {added.date:%B %Y} was added",
                )
            )
        except ValidationError as exc:
            session.rollback()
            _add_errors(form, pydantic_errors(exc.errors()))
        except CsprError as exc:
            session.rollback()
            refusal = exc
            _refused(form, exc, "date")
    context = _calendar_context(session, user, clock, year)
    return _form_response(
        render(
            request,
            "admin/calendar.html",
            {**context, "form": form},
            user=user,
            status_code=_status(refusal),
        ),
        refusal,
    )
