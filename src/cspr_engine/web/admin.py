"""The administration pages, under /ui/admin: a partnership's users and their passwords, API
tokens, webhook subscriptions, the working-day calendar and the partnership's choices among the
rules its workflows mark configurable.

Every change is made by the API's own route functions (or, for a password, which the API does not
set, by `accounts_service.set_password` behind `accounts_service.manages`; for the configuration,
by `configuration_service.configure`, which the API's route calls too, for the admin's own
partnership or the one a platform admin picks), so a page and an API client meet the same
permission checks and the same rules; a refusal is shown on the form."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import date, datetime
from typing import Annotated, Any, get_args
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cspr_engine.accounts import repository as accounts_repository
from cspr_engine.accounts import router as accounts_api
from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts.dependencies import SettingsDep
from cspr_engine.accounts.exceptions import EmailTaken, NotAnAdministrator, UserNotFound
from cspr_engine.accounts.models import Partnership, User
from cspr_engine.accounts.schemas import (
    MIN_PASSWORD_LENGTH,
    Agency,
    Role,
    TokenCreate,
    UserCreate,
    UserRead,
)
from cspr_engine.alerts import router as alerts_api
from cspr_engine.alerts import secrets as webhook_secrets
from cspr_engine.alerts.schemas import EventType, WebhookCreate, WebhookRead
from cspr_engine.configuration import repository as configuration_repository
from cspr_engine.configuration import service as configuration_service
from cspr_engine.configuration.exceptions import ConfigurationChanged, PartnershipNotFound
from cspr_engine.configuration.schemas import ConfigurationUpdate
from cspr_engine.configuration.service import Setting
from cspr_engine.db import SessionDep
from cspr_engine.deadlines import router as deadlines_api
from cspr_engine.deadlines import service as deadline_service
from cspr_engine.deadlines.schemas import HolidayCreate
from cspr_engine.errors import CsprError, FieldError, InvalidData, Unprocessable, pydantic_errors
from cspr_engine.kit.clock import ClockDep
from cspr_engine.kit.pagination import MAX_LIMIT
from cspr_engine.kit.schemas import IsoDate
from cspr_engine.web import forms
from cspr_engine.web.auth import WebUser, WebUserDep
from cspr_engine.web.router import flash, posted_form, render, see_other
from cspr_engine.web.templating import humanise
from cspr_engine.workflow import service as workflow_service
from cspr_engine.workflow.definitions import WorkflowDefinition

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
    "case.migrated": "A case moves to a new version of its workflow",
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
                session=session, user=target, password=password, now=clock.now(), by=user.actor
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
    return webhook_secrets.new_secret()


def _webhooks(session: Session, user: WebUser, scope: Scope) -> list[WebhookRead]:
    """The partnership's subscriptions, oldest first, every page of the API's own listing."""
    if scope.empty:
        return []
    found: list[WebhookRead] = []
    cursor = None
    while True:
        page = alerts_api.list_webhooks(
            session=session,
            actor=user.actor,
            partnership=scope.code,
            limit=MAX_LIMIT,
            cursor=cursor,
        )
        found += page.items
        if page.next_cursor is None:
            return found
        cursor = page.next_cursor


@router.get("/webhooks", name="ui_admin_webhooks")
def webhooks_page(
    request: Request, session: SessionDep, user: AdminDep, partnership: PartnershipQuery = None
) -> HTMLResponse:
    scope = _scope(session, user, partnership)
    subs = _webhooks(session, user, scope)
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
    settings: SettingsDep,
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
                body=body, session=session, actor=user.actor, clock=clock, settings=settings
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
            added = deadline_service.add_holiday(
                session,
                day=body.date,
                title=body.title,
                reason=body.reason,
                actor=user.actor,
                now=clock.now(),
            )
            session.commit()
            return see_other(
                _with_query(
                    "/ui/admin/calendar",
                    year=str(added.day.year),
                    done=f"{added.title} on {added.day.day} {added.day:%B %Y} was added",
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


@router.post("/calendar/{day}/withdrawal", name="ui_admin_withdraw_holiday")
async def withdraw_holiday(
    request: Request,
    session: SessionDep,
    user: AdminDep,
    clock: ClockDep,
    day: Annotated[IsoDate, Path()],
) -> Response:
    posted = await posted_form(request, user)
    reason = str(posted.get("reason") or "").strip()[:2000]
    form = holiday_form()
    refusal: CsprError | None = None
    if not reason:
        form.add_error(None, f"Enter why the day on {day.day} {day:%B %Y} is withdrawn")
    else:
        try:
            withdrawn = deadline_service.withdraw_holiday(
                session, day=day, reason=reason, actor=user.actor, now=clock.now()
            )
            session.commit()
            return see_other(
                _with_query(
                    "/ui/admin/calendar",
                    year=str(day.year),
                    done=f"{withdrawn.title} on {day.day} {day:%B %Y} was withdrawn",
                )
            )
        except CsprError as exc:
            session.rollback()
            refusal = exc
            _refused(form, exc, None)
    context = _calendar_context(session, user, clock, str(day.year))
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


# -- workflow configuration ------------------------------------------------------------------

# The page shows this many of a workflow's latest versions (the API lists them all).
HISTORY_ROWS = 10
UNIT_WORDS = {
    "working_days": "working days",
    "working_days_before": "working days before",
    "months": "months",
    "years": "years",
}
# The referral's own dates, where a clock may start (they are the case's, not a trigger's).
CASE_DATE_LABELS = {"became_aware_on": "date the local authority became aware"}
WHOLE_NUMBER = re.compile(r"-?[0-9]{1,6}")


@dataclass(frozen=True)
class Change:
    label: str
    before: str
    after: str


@dataclass(frozen=True)
class VersionRow:
    """One version of a partnership's configuration of a workflow, as the history shows it."""

    version: int
    changed_at: datetime
    changed_by: str
    reason: str
    changes: tuple[Change, ...]  # empty: the same rules as the version before


@dataclass(frozen=True)
class WorkflowSection:
    definition: WorkflowDefinition
    version: int  # 0: never configured
    settings: dict[str, Setting]
    form: forms.Form
    action: str
    history: tuple[VersionRow, ...]
    older: bool  # versions older than the history shows

    @property
    def current(self) -> VersionRow | None:
        return self.history[0] if self.history else None

    @property
    def anchor(self) -> str:
        return f"workflow-{self.definition.name}"


def _field_id(workflow: str, key: str) -> str:
    return f"{workflow}-{key}".replace(".", "-").replace("_", "-")


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:]


def _option_text(definition: WorkflowDefinition, setting: Setting, option: str) -> str:
    """A clock start option in words: the event whose date it counts from."""
    clock = definition.clocks.get(setting.key.split(".")[1])
    events = clock.start_options.get(option, ()) if clock is not None else ()
    event = events[0] if events else None
    if event is not None and event.date:
        if event.date.startswith("gate:"):
            gate = definition.gates.get(event.date.removeprefix("gate:").split(".")[0])
            if gate is not None:
                return f"{gate.label}: date agreed"
        elif event.trigger == "create" and event.date in CASE_DATE_LABELS:
            return f"The referral: {CASE_DATE_LABELS[event.date]}"
        trigger = definition.triggers.get(event.trigger)
        found = trigger.fields.get(event.date) if trigger is not None else None
        if trigger is not None and found is not None and found.label:
            return f"{trigger.label}: {_lower_first(found.label)}"
    return humanise(option)


def _noun(definition: WorkflowDefinition, setting: Setting) -> str:
    """The setting in an error message ("Select the start of ...", "The ... must be ...")."""
    kind, name, what = [*setting.key.split("."), "", "", ""][:3]
    clock = definition.clocks.get(name) if kind == "clocks" else None
    if clock is not None and what == "start":
        return f"the start of “{clock.label}”"
    if clock is not None:
        return f"the time allowed for “{clock.label}”"
    return f"the escalation ladder's {name.replace('_', ' ')}"


def _bounds(setting: Setting) -> str:
    """A number setting's unit, bounds and default, for its hint."""
    unit = UNIT_WORDS.get(setting.unit or "", setting.unit or "")
    # An escalation rung counts from the due date, on the side it stays on.
    side = ""
    if setting.key.startswith("escalation."):
        negative = setting.maximum is not None and setting.maximum < 0
        side = " before the due date" if negative else " after the due date"
    return (
        f"In {unit}{side}: a whole number from {setting.minimum} to {setting.maximum}. "
        f"The default is {setting.default}."
    )


def _shown_value(definition: WorkflowDefinition, setting: Setting | None, value: Any) -> str:
    if setting is None:  # a setting an earlier definition of the workflow had
        return "its default" if value is None else str(value)
    if setting.type == "choice":
        return _option_text(definition, setting, str(value))
    unit = UNIT_WORDS.get(setting.unit or "", setting.unit or "")
    if value in (1, -1):
        unit = unit.replace("days", "day").removesuffix("s")
    return f"{value} {unit}".strip()


def configuration_form(
    definition: WorkflowDefinition, settings: Iterable[Setting], values: Mapping[str, Any]
) -> forms.Form:
    """Each setting with the value in force (`values`, else its default), and the reason."""
    fields: list[forms.Field] = []
    for s in settings:
        value = values.get(s.key, s.default)
        if s.type == "choice":
            options = tuple(
                (o, _option_text(definition, s, o) + (" (default)" if o == s.default else ""))
                for o in s.options
            )
            fields.append(
                forms.Field(
                    name=s.key,
                    id=_field_id(definition.name, s.key),
                    label=s.label,
                    kind="select",
                    hint=s.basis,
                    options=options,
                    value=str(value),
                    noun=_noun(definition, s),
                    required=True,
                )
            )
        else:
            fields.append(
                forms.Field(
                    name=s.key,
                    id=_field_id(definition.name, s.key),
                    label=s.label,
                    kind="number",
                    hint=_bounds(s),
                    value=str(value),
                    width="4",
                    noun=_noun(definition, s),
                    required=True,
                )
            )
    fields.append(
        forms.Field(
            name="reason",
            id=_field_id(definition.name, "reason"),
            label="Reason for the change",
            kind="textarea",
            hint="For example, the meeting of the lead safeguarding partners that agreed it",
            noun="the reason for the change",
            required=True,
            max_length=2_000,
        )
    )
    return forms.Form(fields)


def _read_configuration(
    form: forms.Form, settings: Mapping[str, Setting], posted: Any
) -> tuple[dict[str, Any], str]:
    """The posted values and reason. Settings left at their default are omitted, so a stored
    value always means the partnership chose something other than the default."""
    form.with_values(posted)
    values: dict[str, Any] = {}
    for f in form.fields:
        setting = settings.get(f.name)
        raw = str(f.value or "").strip()
        if setting is None:
            continue
        if not raw:
            verb = "Select" if setting.type == "choice" else "Enter"
            form.add_error(f.name, f"{verb} {f.error_name}")
            continue
        value: Any = raw
        if setting.type == "integer":
            if not WHOLE_NUMBER.fullmatch(raw):
                noun = f.error_name
                form.add_error(f.name, f"{noun[:1].upper()}{noun[1:]} must be a whole number")
                continue
            value = int(raw)
        if value != setting.default:
            values[setting.key] = value
    reason = str(form.by_name()["reason"].value or "").strip()
    if not reason:
        form.add_error("reason", "Enter the reason for the change")
    return values, reason


def _configuration_errors(
    form: forms.Form, settings: Mapping[str, Setting], errors: Iterable[FieldError]
) -> None:
    """The service's refusals beside their settings, in GOV.UK words."""
    known = form.by_name()
    for err in errors:
        name = err.loc.removeprefix("values.")
        setting, fld = settings.get(name), known.get(name)
        if setting is None or fld is None:
            _add_errors(form, [err])
        elif setting.type == "choice":
            form.add_error(name, f"Select {fld.error_name} from the list")
        else:
            noun = fld.error_name
            form.add_error(name, f"{noun[:1].upper()}{noun[1:]} {err.message}")


def _history(
    session: Session,
    partnership_id: uuid.UUID,
    definition: WorkflowDefinition,
    settings: Mapping[str, Setting],
) -> tuple[tuple[VersionRow, ...], bool]:
    """The latest versions, newest first, each with what it changed from the one before."""
    rows = configuration_repository.versions_page(
        session, partnership_id, definition.name, before=None, limit=HISTORY_ROWS + 1
    )
    ids = {r.created_by for r in rows}
    people = list(session.exec(select(User).where(col(User.id).in_(ids)))) if ids else []
    names = {u.id: u.display_name for u in people}

    def in_force(values: Mapping[str, Any], key: str) -> Any:
        setting = settings.get(key)
        return values.get(key, setting.default if setting is not None else None)

    shown: list[VersionRow] = []
    for i, row in enumerate(rows[:HISTORY_ROWS]):
        before: Mapping[str, Any] = rows[i + 1].values if i + 1 < len(rows) else {}
        keys = list(settings) + sorted((set(row.values) | set(before)) - set(settings))
        changes = []
        for key in keys:
            old, new = in_force(before, key), in_force(row.values, key)
            if old != new:
                setting = settings.get(key)
                changes.append(
                    Change(
                        label=setting.label if setting is not None else key,
                        before=_shown_value(definition, setting, old),
                        after=_shown_value(definition, setting, new),
                    )
                )
        shown.append(
            VersionRow(
                version=row.version,
                changed_at=row.created_at,
                changed_by=names.get(row.created_by, "Unknown"),
                reason=row.reason,
                changes=tuple(changes),
            )
        )
    return tuple(shown), len(rows) > HISTORY_ROWS


def _partnership_of(session: Session, scope: Scope) -> Partnership:
    found = accounts_repository.partnership_by_code(session, scope.shown) if scope.shown else None
    if found is None:
        raise PartnershipNotFound(f"There is no partnership {scope.shown!r}.")
    return found


def _workflows() -> list[WorkflowDefinition]:
    """Every workflow the service runs, each in its latest definition (what new cases use)."""
    names = sorted({name for name, _ in workflow_service.get_definitions()})
    return [workflow_service.latest(name) for name in names]


def _section(
    session: Session,
    scope: Scope,
    partnership_id: uuid.UUID,
    definition: WorkflowDefinition,
    form: forms.Form | None = None,
) -> WorkflowSection:
    settings = {s.key: s for s in configuration_service.settings_of(definition)}
    row = configuration_repository.current(session, partnership_id, definition.name)
    history, older = _history(session, partnership_id, definition, settings)
    return WorkflowSection(
        definition=definition,
        version=row.version if row is not None else 0,
        settings=settings,
        form=form or configuration_form(definition, settings.values(), row.values if row else {}),
        action=scope.url(f"/ui/admin/configuration/{definition.name}"),
        history=history,
        older=older,
    )


def _configuration_page(
    request: Request,
    session: Session,
    user: WebUser,
    scope: Scope,
    *,
    failed: tuple[str, forms.Form] | None = None,
    refusal: CsprError | None = None,
) -> HTMLResponse:
    """The page; with `failed`, the form of that workflow as posted, with its errors."""
    sections: list[WorkflowSection] = []
    if not scope.empty:
        partnership_id = _partnership_of(session, scope).id
        for definition in _workflows():
            form = failed[1] if failed and failed[0] == definition.name else None
            sections.append(_section(session, scope, partnership_id, definition, form))
    context = {
        "scope": scope,
        "sections": sections,
        "errors": failed[1].errors if failed else [],
        "done": None if failed else flash(request),
        "units": UNIT_WORDS,
    }
    response = render(
        request,
        "admin/configuration.html",
        context,
        user=user,
        status_code=_status(refusal) if failed else 200,
    )
    return _form_response(response, refusal)


WorkflowPath = Annotated[str, Path(max_length=64)]


@router.get("/configuration", name="ui_admin_configuration")
def configuration_page(
    request: Request, session: SessionDep, user: AdminDep, partnership: PartnershipQuery = None
) -> HTMLResponse:
    return _configuration_page(request, session, user, _scope(session, user, partnership))


@router.post("/configuration/{workflow}", name="ui_admin_configure")
async def configure(
    request: Request,
    workflow: WorkflowPath,
    session: SessionDep,
    user: AdminDep,
    clock: ClockDep,
    partnership: PartnershipQuery = None,
) -> Response:
    posted = await posted_form(request, user)
    scope = _scope(session, user, partnership)
    target = _partnership_of(session, scope)
    definition = workflow_service.latest(workflow)
    settings = {s.key: s for s in configuration_service.settings_of(definition)}
    current = configuration_repository.current(session, target.id, definition.name)
    form = configuration_form(definition, settings.values(), {})
    values, reason = _read_configuration(form, settings, posted)
    try:
        # Every refusal at once, beside its field, even with the reason still to fill in.
        configuration_service.check_values(definition, values)
    except InvalidData as exc:
        _configuration_errors(form, settings, exc.errors)
    refusal: CsprError | None = None
    # The values are posted whole (a setting not named goes back to its default): a form shown
    # before someone else's change would silently undo it, so it must name the version it shows.
    stale = str(posted.get("version") or "") != str(current.version if current else 0)
    if not stale and not form.errors:
        try:
            # The API's own rules for the reason (its length); the values are the service's.
            ConfigurationUpdate.model_validate({"values": {}, "reason": reason})
            row = configuration_service.configure(
                session,
                partnership_id=target.id,
                definition=definition,
                values=values,
                reason=reason,
                actor=user.actor,
                now=clock.now(),
            )
            session.commit()
            return see_other(
                scope.url(
                    "/ui/admin/configuration",
                    done=f"Version {row.version} of the rules for “{definition.title}” was "
                    "saved. Cases opened from now on count by it.",
                )
            )
        except ValidationError as exc:
            session.rollback()
            _add_errors(form, pydantic_errors(exc.errors()))
        except InvalidData as exc:
            session.rollback()
            _configuration_errors(form, settings, exc.errors)
        except IntegrityError:
            # Another change took the same version number first.
            session.rollback()
            stale = True
            current = configuration_repository.current(session, target.id, definition.name)
    if stale:
        refusal = ConfigurationChanged(
            "Someone else changed these rules while you were editing them. The form now shows "
            "the rules in force: make your change again and save it."
        )
        form = configuration_form(definition, settings.values(), current.values if current else {})
        form.fields = [replace(f, value=reason) if f.name == "reason" else f for f in form.fields]
        form.add_error(None, refusal.detail or refusal.title)
    # The summary lists the errors in the order of the fields (a refusal of the whole form,
    # linked to the first field, comes first).
    order = {f.anchor: i for i, f in enumerate(form.fields)}
    form.errors.sort(key=lambda error: order.get(error[0], len(order)))
    return _configuration_page(
        request, session, user, scope, failed=(definition.name, form), refusal=refusal
    )
