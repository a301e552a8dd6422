"""Helpers for the improvement action tests (API and pages): a case driven to action
monitoring by real triggers, actions added and changed over the API, rows read straight from
the database."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from sqlmodel import Session, col, select

from cspr_engine.actions.models import ActionUpdate, ImprovementAction
from cspr_engine.db import get_engine
from cspr_engine.deadlines.models import Deadline, DeadlineExtension
from tests.factories import Api

IMMEDIATE = "Police to review the strategy discussion threshold with children's social care."
RECOMMENDATIONS = "1. Health visitors to share concerns within 24 hours."


def to_action_monitoring(api: Api, immediate_actions: str | None = IMMEDIATE) -> dict[str, Any]:
    """A police referral (aware 10 June 2026) through notification, the rapid review (with its
    immediate actions), the three DSPs' agreement and the Panel's response (no LCSPR)."""
    case = api.create_case(became_aware_on="2026-06-10")
    cid = case["id"]
    api.ok(cid, "notify_panel", {"notified_on": "2026-06-11"})
    review: dict[str, Any] = {
        "completed_on": "2026-06-16",
        "recommendation": "no_lcspr",
        "rationale": "Single-agency learning is enough.",
    }
    if immediate_actions is not None:
        review["immediate_actions"] = immediate_actions
    api.ok(cid, "complete_rapid_review", review)
    for dsp in ("dsp_la", "dsp_police", "dsp_health"):
        assert api.vote(cid, dsp).status_code == 200
    api.ok(cid, "submit_rapid_review", {"submitted_on": "2026-06-17"})
    moved = api.ok(
        cid, "record_panel_response", {"received_on": "2026-06-17", "outcome": "agrees_no_lcspr"}
    )
    assert moved["state"] == "action_monitoring"
    return moved


def to_final_report(api: Api) -> dict[str, Any]:
    """A case whose LCSPR's final report (with its recommendations) is in."""
    case = api.create_case(became_aware_on="2026-06-10")
    cid = case["id"]
    api.ok(cid, "notify_panel", {"notified_on": "2026-06-11"})
    api.ok(
        cid,
        "complete_rapid_review",
        {
            "completed_on": "2026-06-16",
            "recommendation": "lcspr",
            "criteria": ["a"],
            "rationale": "Learning for the partnership.",
            "immediate_actions": IMMEDIATE,
        },
    )
    for dsp in ("dsp_la", "dsp_police", "dsp_health"):
        assert api.vote(cid, dsp).status_code == 200
    api.ok(cid, "submit_rapid_review", {"submitted_on": "2026-06-17"})
    api.ok(cid, "record_panel_response", {"received_on": "2026-06-17", "outcome": "agrees_lcspr"})
    api.ok(
        cid,
        "commission_lcspr",
        {
            "reviewer": "An independent reviewer",
            "methodology": "Systems",
            "terms_of_reference_agreed_on": "2026-06-17",
            "scope_from": "2025-06-01",
            "scope_to": "2026-06-08",
        },
    )
    return api.ok(
        cid,
        "receive_final_report",
        {"received_on": "2026-06-17", "recommendations": RECOMMENDATIONS},
    )


def action_body(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "source": "immediate_action",
        "description": IMMEDIATE,
        "owner_agency": "police",
        "due_on": "2026-07-31",
    }
    body.update(overrides)
    return body


def post_action(
    api: Api, case_id: str, who: str = "qpd", partnership: str = "TW", **body: Any
) -> httpx.Response:
    return api.client.post(
        f"/api/v1/cases/{case_id}/actions",
        json=action_body(**body),
        headers=api.headers(who, partnership),
    )


def add_action(api: Api, case_id: str, who: str = "qpd", **body: Any) -> dict[str, Any]:
    response = post_action(api, case_id, who, **body)
    assert response.status_code == 201, response.text
    return dict(response.json())


def patch_action(
    api: Api,
    case_id: str,
    action: str,
    body: dict[str, Any],
    who: str = "qpd",
    partnership: str = "TW",
    **headers: str,
) -> httpx.Response:
    return api.client.patch(
        f"/api/v1/cases/{case_id}/actions/{action}",
        json=body,
        headers=api.headers(who, partnership, **headers),
    )


def get_action(api: Api, case_id: str, action: str, who: str = "qpd") -> dict[str, Any]:
    response = api.client.get(f"/api/v1/cases/{case_id}/actions/{action}", headers=api.headers(who))
    assert response.status_code == 200, response.text
    return dict(response.json())


def action_row(action_id: str) -> ImprovementAction:
    with Session(get_engine()) as session:
        row = session.get(ImprovementAction, uuid.UUID(action_id))
    assert row is not None, action_id
    return row


def update_rows(action_id: str) -> list[ActionUpdate]:
    with Session(get_engine()) as session:
        return list(
            session.exec(
                select(ActionUpdate)
                .where(col(ActionUpdate.action_id) == uuid.UUID(action_id))
                .order_by(col(ActionUpdate.seq))
            )
        )


def clocks_of(action_id: str) -> list[Deadline]:
    """The action's clocks, oldest first."""
    with Session(get_engine()) as session:
        return list(
            session.exec(
                select(Deadline)
                .where(col(Deadline.subject_id) == uuid.UUID(action_id))
                .order_by(col(Deadline.sequence))
            )
        )


def extensions_of(deadline_id: uuid.UUID) -> list[DeadlineExtension]:
    with Session(get_engine()) as session:
        return list(
            session.exec(
                select(DeadlineExtension)
                .where(col(DeadlineExtension.deadline_id) == deadline_id)
                .order_by(col(DeadlineExtension.at))
            )
        )


def action_tables() -> dict[str, list[str]]:
    """Every row of the action and clock tables, as sorted text: a refused request changed
    none of them (`snapshot` covers the case and its audit)."""
    from sqlalchemy import text

    with get_engine().connect() as conn:
        return {
            table: sorted(repr(tuple(row)) for row in conn.execute(text(f"SELECT * FROM {table}")))
            for table in (
                "improvement_actions",
                "improvement_action_updates",
                "deadlines",
                "deadline_extensions",
                "outbox_events",
            )
        }
