"""Web pages for a case's linked cases and its read-only shares with other partnerships, over
the same services as the API (`links.service`)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import HTMLResponse, Response
from pydantic import ValidationError
from sqlmodel import Session, col, select

from cspr_engine.access import policy
from cspr_engine.accounts import repository as accounts_repository
from cspr_engine.accounts.models import User
from cspr_engine.accounts.schemas import Actor
from cspr_engine.cases.models import Case
from cspr_engine.db import SessionDep
from cspr_engine.errors import CsprError, InvalidData, pydantic_errors
from cspr_engine.kit.clock import ClockDep
from cspr_engine.links import repository as link_repository
from cspr_engine.links import service as link_service
from cspr_engine.links.exceptions import LinkTargetNotFound
from cspr_engine.links.schemas import LinkCreate, LinkRead, ShareCreate, ShareRead, ShareRevoke
from cspr_engine.web.auth import LoggedWebUserDep, WebUser
from cspr_engine.web.forms import Field, Form, read
from cspr_engine.web.router import _case_or_404, posted_form, render, see_other
from cspr_engine.web.router import flash as flash_message
from cspr_engine.workflow import service as workflow_service

router = APIRouter(prefix="/ui/cases", include_in_schema=False)

CaseKey = Annotated[str, Path(max_length=64)]

LINK_TYPE_LABELS: dict[str, str] = {
    "sibling": "Sibling",
    "same_incident": "Same incident",
    "child_death_review": "Child death review",
    "other_partnership": "Another partnership's case",
}
LINK_TYPE_HINTS: dict[str, str] = {
    "sibling": "A case of this partnership about the child's brother or sister.",
    "same_incident": "A case of this partnership about another child in the same incident.",
    "child_death_review": "The child death review: a case of this partnership, or a record "
    "held elsewhere.",
    "other_partnership": "A case of another partnership, by that partnership's reference.",
}
NO_IDENTIFIERS = "Do not give the child's name, address, date of birth or NHS number."


@dataclass(frozen=True)
class CaseHead:
    """What the page's heading and the shared-case notice need of the case."""

    reference: str
    partner_reference: str | None
    state_label: str
    partnership: str


@dataclass(frozen=True)
class LinkRow:
    link: LinkRead
    type_label: str
    added_by: str


@dataclass(frozen=True)
class ShareRow:
    share: ShareRead
    granted_by: str
    revoked_by: str | None
    form: Form | None  # the revoke form, for an active share and a user who may revoke


def link_form() -> Form:
    return Form(
        [
            Field(
                name="type",
                id="link-type",
                label="How is the case linked?",
                kind="radios",
                required=True,
                options=tuple(LINK_TYPE_LABELS.items()),
                noun="how the case is linked",
            ),
            Field(
                name="target",
                id="link-target",
                label="Case reference",
                kind="input",
                hint="A case of this partnership, for example TW-2026-0007.",
                width="10",
                noun="the case reference",
            ),
            Field(
                name="external_partnership",
                id="link-external-partnership",
                label="Partnership",
                kind="input",
                hint="Its code or name.",
                width="20",
                noun="the other partnership",
            ),
            Field(
                name="external_reference",
                id="link-external-reference",
                label="Their reference for the case",
                kind="input",
                hint="Never the child's NHS number.",
                width="20",
                noun="their reference for the case",
            ),
            Field(
                name="note",
                id="link-note",
                label="Note (optional)",
                kind="textarea",
                hint=NO_IDENTIFIERS,
                noun="the note",
            ),
        ]
    )


def share_form(session: Session, case: Case) -> Form:
    others = link_repository.other_partnerships(session, case.partnership_id)
    return Form(
        [
            Field(
                name="partnership",
                id="share-partnership",
                label="Partnership to share with",
                kind="select",
                required=True,
                options=(
                    ("", "Choose a partnership"),
                    *((p.code, f"{p.code}: {p.name}") for p in others),
                ),
                noun="the partnership to share with",
            ),
            Field(
                name="reason",
                id="share-reason",
                label="Why is the case shared?",
                kind="textarea",
                required=True,
                hint="For example, the child's home authority in a cross-boundary incident. "
                + NO_IDENTIFIERS,
                noun="why the case is shared",
            ),
        ]
    )


def revoke_form(share_id: uuid.UUID) -> Form:
    return Form(
        [
            Field(
                name="reason",
                id=f"revoke-{share_id}-reason",
                label="Why is the share revoked?",
                kind="textarea",
                required=True,
                hint=NO_IDENTIFIERS,
                noun="why the share is revoked",
            )
        ]
    )


def _names(session: Session, ids: Iterable[uuid.UUID | None]) -> dict[uuid.UUID, str]:
    wanted = sorted({i for i in ids if i is not None})
    if not wanted:
        return {}
    return {
        u.id: u.display_name for u in session.exec(select(User).where(col(User.id).in_(wanted)))
    }


def _may(actor: Actor, case: Case, permission: policy.Casework) -> bool:
    return policy.may_change(actor, case) and policy.may_casework(actor, permission)


def _head(session: Session, case: Case) -> CaseHead:
    definition = workflow_service.definition_for(case)
    state = definition.states.get(case.state)
    return CaseHead(
        reference=case.reference,
        partner_reference=case.partner_reference,
        state_label=state.label if state is not None else case.state,
        partnership=accounts_repository.partnership_code(session, case.partnership_id) or "",
    )


def _render(
    request: Request,
    session: Session,
    user: WebUser,
    case: Case,
    *,
    add: Form | None = None,
    share: Form | None = None,
    revoking: tuple[uuid.UUID, Form] | None = None,
    problem: str | None = None,
    done: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    actor = user.actor
    links = link_service.links_for(session, case, actor)
    shares = link_service.present_shares(
        session, link_service.shares_for(session, case, actor), {case.id: case}
    )
    names = _names(
        session,
        [li.created_by for li in links]
        + [s.granted_by for s in shares]
        + [s.revoked_by for s in shares],
    )
    may_link = _may(actor, case, policy.Casework.link_cases)
    may_share = _may(actor, case, policy.Casework.share_case)
    share_rows = []
    for s in shares:
        form: Form | None = None
        if may_share and s.active:
            form = revoking[1] if revoking and revoking[0] == s.id else revoke_form(s.id)
        share_rows.append(
            ShareRow(
                share=s,
                granted_by=names.get(s.granted_by, ""),
                revoked_by=names.get(s.revoked_by) if s.revoked_by else None,
                form=form,
            )
        )
    add = add or link_form()
    share = share or share_form(session, case)
    errors = [*add.errors, *share.errors, *(revoking[1].errors if revoking else [])]
    context: dict[str, Any] = {
        "case": _head(session, case),
        "case_reference": case.reference,
        "case_tab": "links",
        "links": [
            LinkRow(
                link=li,
                type_label=LINK_TYPE_LABELS.get(li.type, li.type),
                added_by=names.get(li.created_by, ""),
            )
            for li in links
        ],
        "shares": share_rows,
        "may_link": may_link,
        "may_share": may_share,
        "own_partnership": policy.may_change(actor, case),
        "link_form": add,
        "share_form": share,
        "type_hints": LINK_TYPE_HINTS,
        "errors": errors,
        "problem": problem,
        "done": done,
    }
    return render(request, "casework/links.html", context, user=user, status_code=status_code)


@router.get("/{key}/links", name="ui_links")
def links_page(
    request: Request, key: CaseKey, session: SessionDep, user: LoggedWebUserDep
) -> HTMLResponse:
    case = _case_or_404(request, session, user, key)
    return _render(request, session, user, case, done=flash_message(request))


def _back(case: Case, done: str) -> Response:
    return see_other(f"/ui/cases/{case.reference}/links?" + urlencode({"done": done}))


def _refused(
    request: Request,
    session: Session,
    user: WebUser,
    key: str,
    exc: CsprError,
    **forms: Any,
) -> HTMLResponse:
    """The page again with the service's refusal at the top, nothing having changed."""
    session.rollback()
    fresh = _case_or_404(request, session, user, key)
    return _render(
        request,
        session,
        user,
        fresh,
        problem=exc.detail or exc.title,
        status_code=exc.status,
        **forms,
    )


@router.post("/{key}/links", name="ui_add_link")
async def add_link(
    request: Request, key: CaseKey, session: SessionDep, user: LoggedWebUserDep, clock: ClockDep
) -> Response:
    case = _case_or_404(request, session, user, key)
    posted = await posted_form(request, user)
    form = link_form()
    data = read(form, posted)
    try:
        payload = LinkCreate.model_validate(data)
        link_service.add_link(
            session,
            case=case,
            payload=payload,
            actor=user.actor,
            now=clock.now(),
            expected_version=None,
        )
        session.commit()
        return _back(case, "Link added")
    except ValidationError as exc:
        form.add_api_errors(pydantic_errors(exc.errors()))
    except InvalidData as exc:
        session.rollback()
        form.add_api_errors(exc.errors)
    except LinkTargetNotFound:
        session.rollback()
        form.add_error(
            "target", "No case of this partnership with that reference is visible to you"
        )
    except CsprError as exc:
        return _refused(request, session, user, key, exc, add=form)
    return _render(request, session, user, case, add=form, status_code=422)


@router.post("/{key}/links/{link_id}/remove", name="ui_remove_link")
async def remove_link(
    request: Request,
    key: CaseKey,
    link_id: uuid.UUID,
    session: SessionDep,
    user: LoggedWebUserDep,
    clock: ClockDep,
) -> Response:
    case = _case_or_404(request, session, user, key)
    await posted_form(request, user)
    try:
        link_service.remove_link(
            session,
            case=case,
            link_id=link_id,
            actor=user.actor,
            now=clock.now(),
            expected_version=None,
        )
        session.commit()
    except CsprError as exc:
        return _refused(request, session, user, key, exc)
    return _back(case, "Link removed")


@router.post("/{key}/shares", name="ui_share")
async def share_case(
    request: Request, key: CaseKey, session: SessionDep, user: LoggedWebUserDep, clock: ClockDep
) -> Response:
    case = _case_or_404(request, session, user, key)
    posted = await posted_form(request, user)
    form = share_form(session, case)
    data = read(form, posted)
    try:
        payload = ShareCreate.model_validate(data)
        link_service.grant_share(
            session,
            case=case,
            payload=payload,
            actor=user.actor,
            now=clock.now(),
            expected_version=None,
        )
        session.commit()
        return _back(case, f"Case shared with {payload.partnership}, read-only")
    except ValidationError as exc:
        form.add_api_errors(pydantic_errors(exc.errors()))
    except InvalidData as exc:
        session.rollback()
        form.add_api_errors(exc.errors)
    except CsprError as exc:
        return _refused(request, session, user, key, exc, share=form)
    return _render(request, session, user, case, share=form, status_code=422)


@router.post("/{key}/shares/{share_id}/revoke", name="ui_revoke_share")
async def revoke_share(
    request: Request,
    key: CaseKey,
    share_id: uuid.UUID,
    session: SessionDep,
    user: LoggedWebUserDep,
    clock: ClockDep,
) -> Response:
    case = _case_or_404(request, session, user, key)
    posted = await posted_form(request, user)
    form = revoke_form(share_id)
    data = read(form, posted)
    try:
        body = ShareRevoke.model_validate(data)
        link_service.revoke_share(
            session,
            case=case,
            share_id=share_id,
            reason=body.reason,
            actor=user.actor,
            now=clock.now(),
            expected_version=None,
        )
        session.commit()
        return _back(case, "Share revoked")
    except ValidationError as exc:
        form.add_api_errors(pydantic_errors(exc.errors()))
    except CsprError as exc:
        return _refused(request, session, user, key, exc, revoking=(share_id, form))
    return _render(request, session, user, case, revoking=(share_id, form), status_code=422)
