"""The web UI's pages, under /ui. Each page reads and changes cases through the same services
as the API; nothing here decides a rule of its own."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlmodel import Session
from starlette.concurrency import run_in_threadpool

from cspr_engine.access import policy
from cspr_engine.access import service as access_service
from cspr_engine.accounts import service as accounts_service
from cspr_engine.accounts import signing_in
from cspr_engine.accounts.dependencies import SESSION_COOKIE, SettingsDep
from cspr_engine.accounts.exceptions import SignInBackoff, SignInFailed
from cspr_engine.accounts.models import WebSession
from cspr_engine.alerts.router import inbox as alert_inbox
from cspr_engine.approvals import service as approvals_service
from cspr_engine.approvals.schemas import VoteCreate
from cspr_engine.cases import repository as case_repository
from cspr_engine.cases import service as case_service
from cspr_engine.cases.exceptions import (
    CaseNotFound,
    ConcurrentUpdate,
    SharedCaseReadOnly,
    StaleVersion,
)
from cspr_engine.cases.models import Case
from cspr_engine.cases.schemas import CaseCreate, TransitionRequest
from cspr_engine.db import SessionDep
from cspr_engine.errors import CsprError, FieldError, InvalidData, pydantic_errors
from cspr_engine.kit.clock import ClockDep
from cspr_engine.web import casepages, forms
from cspr_engine.web.auth import (
    CSRF_FIELD,
    LoggedWebUserDep,
    WebUser,
    WebUserDep,
    check_csrf,
    safe_next,
)
from cspr_engine.web.templating import templates
from cspr_engine.workflow import service as workflow_service
from cspr_engine.workflow.definitions import OPENED_CASE

router = APIRouter(prefix="/ui", include_in_schema=False)

NO_STORE = {"Cache-Control": "no-store"}
MAX_FORM_FIELDS = 200


FLASH_COOKIE = "cspr_flash"


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    user: WebUser | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    """A page. Case data must not linger in a shared cache or the browser's. A success
    message left by the redirect before (see `see_other`) is shown once."""
    context = {"user": user, "csrf_field": CSRF_FIELD, **context}
    response = templates.TemplateResponse(request, name, context, status_code=status_code)
    response.headers.update(NO_STORE)
    if FLASH_COOKIE in request.cookies:
        response.delete_cookie(FLASH_COOKIE, path="/ui", httponly=True, samesite="lax")
    return response


def see_other(url: str) -> RedirectResponse:
    """Post/Redirect/Get. A `done` message in `url` travels in a short-lived cookie, not in
    the address: a link from elsewhere cannot put words in this service's success banner."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    done = next((v for k, v in query if k == "done"), None)
    kept = urlencode([(k, v) for k, v in query if k != "done"])
    response = RedirectResponse(
        urlunsplit(parts._replace(query=kept)), status_code=303, headers=NO_STORE
    )
    if done:
        response.set_cookie(
            FLASH_COOKIE, quote(done[:200]), max_age=60, path="/ui", httponly=True, samesite="lax"
        )
    return response


async def posted_form(request: Request, user: WebUser) -> Any:
    """The posted form, once its CSRF token is checked."""
    form = await request.form(max_fields=MAX_FORM_FIELDS, max_files=0)
    check_csrf(user, form.get(CSRF_FIELD))
    return form


def flash(request: Request) -> str | None:
    """The success message the last redirect left, if any."""
    done = request.cookies.get(FLASH_COOKIE)
    return unquote(done)[:200] if done else None


# -- sign in and out ---------------------------------------------------------------------------


@router.get("/sign-in", name="ui_sign_in")
def sign_in_page(request: Request, next: str | None = None) -> HTMLResponse:
    return render(
        request,
        "sign_in.html",
        {"next": safe_next(next), "email": "", "errors": [], "field_errors": {}},
    )


@router.post("/sign-in", name="ui_sign_in_post")
async def sign_in(request: Request, clock: ClockDep, settings: SettingsDep) -> Response:
    form = await request.form(max_fields=10, max_files=0)
    email = str(form.get("email") or "").strip()[:320]
    password = str(form.get("password") or "")[:1000]
    next_path = safe_next(str(form.get("next") or ""))
    errors: list[tuple[str, str]] = []
    if not email:
        errors.append(("email", "Enter your e-mail address"))
    if not password:
        errors.append(("password", "Enter your password"))
    if not errors:
        now = clock.now()
        try:
            # argon2 takes a third of a second: in a worker thread, never in the event loop.
            done = await run_in_threadpool(
                signing_in.sign_in,
                email=email,
                password=password,
                client=request.client.host if request.client else None,
                now=now,
                session_hours=settings.session_hours,
                previous_secret=request.cookies.get(SESSION_COOKIE),
            )
        except SignInBackoff as exc:  # nothing was written
            errors.append(
                ("email", f"Too many failed sign-ins: wait {exc.headers['Retry-After']} seconds")
            )
        except SignInFailed:
            errors.append(("email", "The e-mail address or password is not right"))
        else:
            response = see_other(next_path)
            response.set_cookie(
                SESSION_COOKIE,
                done.secret,
                max_age=int((done.web_session.expires_at - now).total_seconds()),
                path="/",
                secure=settings.cookie_secure,
                httponly=True,
                samesite="lax",
            )
            return response
    return render(
        request,
        "sign_in.html",
        {"next": next_path, "email": email, "errors": errors, "field_errors": dict(errors)},
        status_code=401 if errors and password and email else 422,
    )


@router.post("/sign-out", name="ui_sign_out")
async def sign_out(
    request: Request, user: WebUserDep, session: SessionDep, clock: ClockDep, settings: SettingsDep
) -> Response:
    await posted_form(request, user)
    if user.actor.session_id is not None:
        web_session = session.get(WebSession, user.actor.session_id)
        if web_session is not None:
            accounts_service.end_session(web_session=web_session, now=clock.now())
    session.commit()
    response = see_other("/ui/sign-in?signed_out=1")
    response.delete_cookie(
        SESSION_COOKIE, path="/", secure=settings.cookie_secure, httponly=True, samesite="lax"
    )
    return response


# -- dashboard -------------------------------------------------------------------------------


@router.get("", name="ui_dashboard")
def dashboard(
    request: Request,
    session: SessionDep,
    user: LoggedWebUserDep,
    clock: ClockDep,
    state: Annotated[str | None, Query(max_length=64)] = None,
    agency: Annotated[str | None, Query(max_length=32)] = None,
    clocks: Annotated[str | None, Query(max_length=16)] = None,
    closed: Annotated[str | None, Query(max_length=8)] = None,
) -> HTMLResponse:
    states = casepages.state_options()
    agencies = casepages.agency_options()
    # An unknown filter value is ignored (shown as "any"), never an error page.
    filters = casepages.DashboardFilters(
        state=state if state in dict(states) else None,
        agency=agency if agency in dict(agencies) else None,
        clocks=clocks if clocks in ("breached", "due_soon") else None,
        closed=closed == "yes",
    )
    rows, cut = casepages.dashboard(session, user.actor, filters, clock.now())
    return render(
        request,
        "dashboard.html",
        {
            "rows": rows,
            "cut": cut,
            "filters": filters,
            "states": states,
            "agencies": agencies,
            "filtered": filters != casepages.DashboardFilters(),
            "breached_count": sum(1 for r in rows if r.breached),
            "owed": casepages.owed_by_agency(session, user.actor, clock.now()),
            "may_refer": _may_refer(user),
            "done": flash(request),
        },
        user=user,
    )


def _may_refer(user: WebUser) -> bool:
    return any(
        d.may_create(user.actor.roles, user.actor.agency)
        for d in workflow_service.get_definitions().values()
    )


# -- a new referral ------------------------------------------------------------------------------


@router.get("/cases/new", name="ui_new_case")
def new_case_page(request: Request, user: WebUserDep) -> HTMLResponse:
    workflows = casepages.referral_workflows(user.actor)
    return render(
        request,
        "referral.html",
        {
            "form": casepages.referral_form(workflows),
            "comment": "",
            "may_refer": bool(workflows),
            "only": casepages.only_workflow(workflows),
        },
        user=user,
    )


@router.post("/cases/new", name="ui_create_case")
async def create_case(
    request: Request, session: SessionDep, user: LoggedWebUserDep, clock: ClockDep
) -> Response:
    posted = await posted_form(request, user)
    workflows = casepages.referral_workflows(user.actor)
    form = casepages.referral_form(workflows)
    data = forms.read(form, posted)
    unreadable = bool(form.errors)  # a value the browser sent that is not even of its type
    chosen = True
    if len(workflows) == 1:
        data["workflow"] = workflows[0].name
    elif len(workflows) > 1 and data.get("workflow") not in {d.name for d in workflows}:
        # A choice, never the API's default: a case opened in the wrong workflow would run
        # the wrong clocks. The other fields are still checked, so every error shows at once.
        chosen = False
        data.pop("workflow", None)
        form.add_error("workflow", "Select the kind of case")
        form.errors.insert(0, form.errors.pop())
    if not unreadable:
        try:
            # Sent even when empty: its own fields' errors read better than "incident: required".
            payload = CaseCreate.model_validate({"incident": {}, **forms.unflatten(data)})
            if chosen:
                now = clock.now()
                case = case_service.create_case(
                    session=session, payload=payload, actor=user.actor, now=now
                )
                access_service.note_case(request.scope, case.id)
                session.commit()
                return see_other(
                    f"/ui/cases/{case.reference}?" + urlencode({"done": "Referral recorded"})
                )
        except ValidationError as exc:
            session.rollback()
            form.add_api_errors(_referral_errors(pydantic_errors(exc.errors())))
        except InvalidData as exc:
            session.rollback()
            form.add_api_errors(exc.errors)
    return render(
        request,
        "referral.html",
        {"form": form, "may_refer": bool(workflows), "only": casepages.only_workflow(workflows)},
        user=user,
        status_code=422,
    )


# -- the case page ---------------------------------------------------------------------------


def _referral_errors(errors: list[FieldError]) -> list[FieldError]:
    """The referral's one rule across fields, placed on the incident date with its meaning."""
    return [
        FieldError(
            loc="incident.occurred_on",
            message="cannot be after the date the local authority became aware",
            type=e.type,
        )
        if e.loc == "body" and e.message.startswith("incident.occurred_on cannot be after")
        else e
        for e in errors
    ]


def _case_or_404(request: Request, session: Session, user: WebUser, key: str) -> Case:
    case = case_repository.get_visible(session, user.actor, key)
    if case is None:
        access_service.note_case(
            request.scope, case_repository.attempted_case_id(session, key), denied=True
        )
        raise CaseNotFound("No case with that reference is visible to you.")
    access_service.note_case(request.scope, case.id)
    if request.method != "GET" and not policy.may_change(user.actor, case):
        access_service.note_case(request.scope, case.id, denied=True)
        raise SharedCaseReadOnly(
            "This case is shared with your partnership to read; only its own partnership "
            "changes it."
        )
    return case


def _case_context(
    page: casepages.CasePage, *, done: str | None = None, problem: str | None = None
) -> dict[str, Any]:
    return {"page": page, "case": page.read, "done": done, "problem": problem}


CaseKey = Annotated[str, Path(max_length=64)]


@router.get("/cases/{key}", name="ui_case")
def case_page(
    request: Request, key: CaseKey, session: SessionDep, user: LoggedWebUserDep, clock: ClockDep
) -> HTMLResponse:
    case = _case_or_404(request, session, user, key)
    page = casepages.case_page(session, case, user.actor, clock.now())
    return render(request, "case.html", _case_context(page, done=flash(request)), user=user)


STALE_FORM = (
    "Someone else changed this case while you had it open. Check what changed, then try again."
)


def _stale(version: object, case: Case) -> bool:
    return str(version) != str(case.version)


@router.post("/cases/{key}/transitions/{trigger}", name="ui_fire")
async def fire(
    request: Request,
    key: CaseKey,
    trigger: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    user: LoggedWebUserDep,
    clock: ClockDep,
) -> Response:
    case = _case_or_404(request, session, user, key)
    posted = await posted_form(request, user)
    now = clock.now()
    definition = workflow_service.definition_for(case)
    t = definition.triggers.get(trigger)
    fields = t.fields if t is not None else {}
    form = forms.trigger_form(trigger, fields)
    data = forms.trigger_data(form, posted, fields)
    comment = str(posted.get("comment") or "").strip()
    problem = None
    problem_status = 409
    if not form.errors:
        # The API's request rules hold here too: no NUL character anywhere (PostgreSQL cannot
        # store one), a comment of at most 10,000 characters.
        try:
            TransitionRequest.model_validate(
                {"trigger": trigger, "data": data, "comment": comment or None}
            )
        except ValidationError as exc:
            form.add_api_errors(pydantic_errors(exc.errors()), strip="data.")
    if not form.errors:
        if _stale(posted.get("version"), case):
            problem = STALE_FORM
        else:
            try:
                workflow_service.fire(
                    session=session,
                    case=case,
                    trigger=trigger,
                    data=data,
                    comment=comment or None,
                    actor=user.actor,
                    now=now,
                    expected_version=frozenset({case.version}),
                )
                session.commit()
                label = t.label if t is not None else trigger
                done = f"Done: {label}"
                if t is not None and t.opens is not None:
                    # The trigger opened a linked case: say which, the link shows below.
                    done += f". Opened {case.recorded[trigger][OPENED_CASE]}"
                return see_other(f"/ui/cases/{case.reference}?" + urlencode({"done": done}))
            except InvalidData as exc:
                session.rollback()
                form.add_api_errors(exc.errors, strip="data.")
            except (ConcurrentUpdate, StaleVersion):
                session.rollback()
                problem = STALE_FORM
            except CsprError as exc:
                session.rollback()
                guard_field = _guard_field(exc, fields)
                if guard_field:
                    form.add_error(guard_field, exc.detail or exc.title)
                else:
                    problem, problem_status = exc.detail or exc.title, exc.status
    session.expire_all()
    fresh = _case_or_404(request, session, user, key)
    page = casepages.case_page(session, fresh, user.actor, now)
    for action in page.actions:
        if action.trigger == trigger:
            action.form, action.comment, action.open = form, comment, True
    return render(
        request,
        "case.html",
        _case_context(page, problem=problem) | {"errors_for": trigger},
        user=user,
        status_code=problem_status if problem else 422,
    )


def _guard_field(exc: CsprError, fields: dict[str, Any]) -> str | None:
    """A guard that names a field of the form is about it; one that compares two of the form's
    dates is about the later one."""
    named = exc.extensions.get("field")
    if isinstance(named, str) and named in fields:
        return named
    if exc.extensions.get("guard") != "working_days_between":
        return None
    for candidate in ("to", "published_on", "planned_publication_on"):
        if candidate in fields:
            return candidate
    return next((n for n in reversed(list(fields)) if n.endswith("_on")), None)


@router.post("/cases/{key}/decisions/{gate}", name="ui_vote")
async def vote(
    request: Request,
    key: CaseKey,
    gate: Annotated[str, Path(max_length=64)],
    session: SessionDep,
    user: LoggedWebUserDep,
    clock: ClockDep,
) -> Response:
    case = _case_or_404(request, session, user, key)
    posted = await posted_form(request, user)
    now = clock.now()
    definition = workflow_service.definition_for(case)
    page = casepages.case_page(session, case, user.actor, now)
    target = next((v for v in page.votes if v.gate.gate == gate), None)
    form = target.form if target is not None else forms.Form([])
    data = forms.read(form, posted)
    problem = None
    problem_status = 409
    if target is None:
        problem = "There is no decision to record here."
    elif not form.errors:
        if _stale(posted.get("version"), case):
            problem = STALE_FORM
        else:
            try:
                ballot = VoteCreate.model_validate(data)
                approvals_service.cast_vote(
                    session=session,
                    case=case,
                    definition=definition,
                    gate_name=gate,
                    vote=ballot,
                    actor=user.actor,
                    now=now,
                    expected_version=frozenset({case.version}),
                )
                session.commit()
                return see_other(
                    f"/ui/cases/{case.reference}?"
                    + urlencode({"done": "Your decision is recorded"})
                )
            except ValidationError as exc:
                form.add_api_errors(pydantic_errors(exc.errors()))
            except InvalidData as exc:
                session.rollback()
                form.add_api_errors(exc.errors)
            except CsprError as exc:
                session.rollback()
                problem, problem_status = exc.detail or exc.title, exc.status
    session.expire_all()
    fresh = _case_or_404(request, session, user, key)
    page = casepages.case_page(session, fresh, user.actor, now)
    for v in page.votes:
        if v.gate.gate == gate:
            v.form = form
    return render(
        request,
        "case.html",
        _case_context(page, problem=problem) | {"errors_for": f"vote-{gate}"},
        user=user,
        status_code=problem_status if problem else 422,
    )


# -- alerts -----------------------------------------------------------------------------------


@router.get("/alerts", name="ui_alerts")
def alerts_page(
    request: Request,
    session: SessionDep,
    user: WebUserDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    try:
        page = alert_inbox(session=session, actor=user.actor, limit=50, cursor=cursor)
    except CsprError:
        page = alert_inbox(session=session, actor=user.actor, limit=50, cursor=None)
    return render(request, "alerts.html", {"alerts": page}, user=user)
