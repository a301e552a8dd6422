"""The administrative record page, /ui/administrative-record: who changed which account,
token, password, webhook, calendar day or workflow setting, for the partnership's panel chair
and scrutineer (platform administrators: every partnership's and the platform's)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse

from cspr_engine.admin_audit import service as admin_audit
from cspr_engine.db import SessionDep
from cspr_engine.errors import CsprError
from cspr_engine.web.auth import WebUserDep
from cspr_engine.web.router import render

router = APIRouter(prefix="/ui/administrative-record", include_in_schema=False)

# What each kind of event is called on the page.
KIND_WORDS = {
    "partnership.created": "Partnership created",
    "user.created": "User created",
    "token.issued": "API token issued",
    "token.revoked": "API token revoked",
    "password.set": "Password set",
    "webhook.created": "Webhook added",
    "webhook.removed": "Webhook removed",
    "calendar.day_added": "Bank holiday added",
    "calendar.day_withdrawn": "Bank holiday withdrawn",
    "configuration.changed": "Workflow rules changed",
}


@router.get("", name="ui_administrative_record")
def administrative_record(
    request: Request,
    session: SessionDep,
    user: WebUserDep,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> HTMLResponse:
    try:
        shown = admin_audit.page(
            session, actor=user.actor, partnership=None, limit=100, cursor=cursor
        )
    except CsprError as exc:
        return render(
            request,
            "administrative_record.html",
            {"events": None, "refused": exc.detail, "words": KIND_WORDS},
            user=user,
            status_code=exc.status,
        )
    return render(
        request,
        "administrative_record.html",
        {"events": shown, "refused": None, "words": KIND_WORDS},
        user=user,
    )
