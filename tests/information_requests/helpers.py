"""Helpers of the information request tests (API and pages): asking, answering, moving a case
along, and reading what is stored straight from the database."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import httpx
from sqlalchemy import text
from sqlmodel import Session

from cspr_engine.accounts import repository as accounts_repository
from cspr_engine.accounts import service as accounts_service
from cspr_engine.db import get_engine
from cspr_engine.documents.models import Document
from tests.factories import Api, snapshot

# No incident date: an incident cannot come after the day the local authority knew of it.
INCIDENT = {"outcome": "serious_harm", "abuse_or_neglect": "suspected"}
ASKED = "A summary of your involvement with the family since 2024, and a chronology."
# Asked at the suite's now (Wednesday 17 June 2026): the fifth working day after is Wednesday 24.
DEFAULT_DUE = "2026-06-24"


def url(case: dict[str, Any], *rest: str) -> str:
    return "/".join([f"/api/v1/cases/{case['id']}/information-requests", *rest])


def new_case(
    api: Api, *, referring_agency: str = "police", partnership: str = "TW", **overrides: Any
) -> dict[str, Any]:
    """A case referred on 10 June 2026 (state `referred`)."""
    return api.create_case(
        who="chair",
        partnership=partnership,
        became_aware_on="2026-06-10",
        incident=INCIDENT,
        referring_agency=referring_agency,
        **overrides,
    )


def in_rapid_review(api: Api, partnership: str = "TW", **overrides: Any) -> dict[str, Any]:
    case = new_case(api, partnership=partnership, **overrides)
    response = api.fire(
        case["id"], "notify_panel", {"notified_on": "2026-06-12"}, partnership=partnership
    )
    assert response.status_code == 200, response.text
    return case


def complete_rapid_review(api: Api, case: dict[str, Any], **data: Any) -> httpx.Response:
    return api.fire(
        case["id"],
        "complete_rapid_review",
        {
            "completed_on": "2026-06-17",
            "recommendation": "no_lcspr",
            "rationale": "No new learning beyond the single-agency reviews.",
            **data,
        },
        who="chair",
    )


def ask(
    api: Api,
    case: dict[str, Any],
    who: str = "business",
    partnership: str = "TW",
    if_match: str | None = None,
    **body: Any,
) -> httpx.Response:
    payload: dict[str, Any] = {"agencies": ["police"], "asked": ASKED}
    payload.update(body)
    extra = {"If-Match": if_match} if if_match is not None else {}
    return api.client.post(url(case), json=payload, headers=api.headers(who, partnership, **extra))


def asked(
    api: Api, case: dict[str, Any], *agencies: str, partnership: str = "TW", **body: Any
) -> list[dict[str, Any]]:
    """Ask (as the business unit) and return the requests made."""
    response = ask(
        api, case, partnership=partnership, agencies=list(agencies or ["police"]), **body
    )
    assert response.status_code == 201, response.text
    return list(response.json()["items"])


def a_return(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "known_to_agency": True,
        "summary": "Two callouts to the address in 2025; no child protection referral made.",
        "involvement_from": "2025-01-04",
        "involvement_to": "2025-11-30",
        "chronology_included": True,
    }
    body.update(overrides)
    return body


def answer(
    api: Api,
    case: dict[str, Any],
    request: dict[str, Any],
    who: str = "referrer",
    partnership: str = "TW",
    **overrides: Any,
) -> httpx.Response:
    return api.client.post(
        url(case, request["id"], "response"),
        json=a_return(**overrides),
        headers=api.headers(who, partnership),
    )


def withdraw(
    api: Api,
    case: dict[str, Any],
    request: dict[str, Any],
    who: str = "business",
    reason: str = "Asked in error.",
) -> httpx.Response:
    return api.client.post(
        url(case, request["id"], "withdraw"), json={"reason": reason}, headers=api.headers(who)
    )


def listed(api: Api, case: dict[str, Any], who: str = "chair") -> list[dict[str, Any]]:
    response = api.client.get(url(case), headers=api.headers(who))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


def _uuid_param(value: str) -> str:
    return value.replace("-", "") if get_engine().dialect.name == "sqlite" else value


def request_rows(case_id: str) -> list[dict[str, Any]]:
    with get_engine().connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                text(
                    "SELECT r.* FROM information_requests r JOIN cases c ON c.id = r.case_id "
                    "WHERE CAST(c.id AS TEXT) = :id ORDER BY r.number"
                ),
                {"id": _uuid_param(case_id)},
            ).mappings()
        ]


def clock_rows(case_id: str) -> list[dict[str, Any]]:
    """The case's clocks of its information requests."""
    with get_engine().connect() as conn:
        return [
            dict(r)
            for r in conn.execute(
                text(
                    "SELECT d.* FROM deadlines d JOIN cases c ON c.id = d.case_id "
                    "WHERE CAST(c.id AS TEXT) = :id AND d.subject_type IS NOT NULL "
                    "ORDER BY d.sequence"
                ),
                {"id": _uuid_param(case_id)},
            ).mappings()
        ]


def everything(case_id: str) -> dict[str, Any]:
    """The case, its audit, its requests and their clocks, and the outbox: a refused request
    changes none of it."""
    with get_engine().connect() as conn:
        outbox = conn.execute(text("SELECT COUNT(*) FROM outbox_events")).scalar_one()
    return {
        **snapshot(case_id),
        "requests": request_rows(case_id),
        "clocks": clock_rows(case_id),
        "outbox": outbox,
    }


def audit_kinds(api: Api, case: dict[str, Any]) -> list[str]:
    return [e["kind"] for e in api.events(case["id"])]


def add_document(
    case_id: str, now: datetime, *, withdrawn: bool = False, title: str = "Police chronology"
) -> str:
    """A document row on the case (its bytes are the documents package's business)."""
    with Session(get_engine()) as session:
        uploader = accounts_repository.user_by_email(session, "business@tw.example")
        assert uploader is not None
        from cspr_engine.cases.models import Case

        case = session.get(Case, uuid.UUID(case_id))
        assert case is not None
        doc = Document(
            case_id=case.id,
            partnership_id=case.partnership_id,
            kind="information_return",
            title=title,
            filename="chronology.pdf",
            media_type="application/pdf",
            size=4,
            sha256="0" * 64,
            storage_key=uuid.uuid4().hex,
            uploaded_by=uploader.id,
            uploaded_at=now,
            withdrawn_by=uploader.id if withdrawn else None,
            withdrawn_at=now if withdrawn else None,
        )
        session.add(doc)
        session.commit()
        return str(doc.id)


def service_account(agency: str, now: datetime, roles: tuple[str, ...] = ("referrer",)) -> str:
    """A partner case system of `agency` in TW, and an API token for it."""
    with Session(get_engine()) as session:
        partnership = accounts_repository.partnership_by_code(session, "TW")
        assert partnership is not None
        user = accounts_service.create_user(
            session=session,
            email=f"system-{agency}@tw.example",
            display_name=f"{agency} case system",
            partnership=partnership,
            roles=list(roles),
            agency=agency,
            now=now,
            is_service_account=True,
        )
        _, secret = accounts_service.create_token(
            session=session, user=user, name="case system", now=now
        )
        session.commit()
    return secret


def share_with(case_id: str, partnership: str, now: datetime) -> None:
    """Share the case, read-only, with another partnership (a row as the links package
    writes it)."""
    from cspr_engine.links.models import CaseShare

    with Session(get_engine()) as session:
        grantee = accounts_repository.partnership_by_code(session, partnership)
        granter = accounts_repository.user_by_email(session, "chair@tw.example")
        assert grantee is not None
        assert granter is not None
        session.add(
            CaseShare(
                case_id=uuid.UUID(case_id),
                grantee_partnership_id=grantee.id,
                reason="The child's home authority.",
                granted_by=granter.id,
                granted_at=now,
            )
        )
        session.commit()
