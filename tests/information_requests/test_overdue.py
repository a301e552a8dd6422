"""An overdue information return, end to end: the sweep raises `information_request.overdue`
through the outbox to the DSP of the agency asked (not the other agencies' DSPs) and the
business unit, a real webhook receiver on 127.0.0.1 gets it, and the rapid review cannot be
completed while the return is missing unless the reason is recorded."""

from __future__ import annotations

import base64
import hashlib
import hmac
import uuid
from collections.abc import Iterator
from datetime import datetime
from typing import Any

import pytest
from sqlmodel import Session, col, select

from cspr_engine.alerts.models import AlertRecipient, OutboxEvent
from cspr_engine.db import get_engine
from cspr_engine.kit.clock import LONDON, FixedClock
from cspr_engine.scheduler import jobs
from tests.factories import Api, Receiver, assert_problem, deliver
from tests.information_requests.helpers import (
    DEFAULT_DUE,
    answer,
    asked,
    complete_rapid_review,
    everything,
    in_rapid_review,
    listed,
)

SECRET = "whsec_aW5mb3JtYXRpb24tcmVxdWVzdHMtdGVzdHMtMDE="  # 29 bytes, Standard Webhooks
# The morning after the default due date (Wednesday 24 June 2026, end of the day in England).
DAY_AFTER = datetime(2026, 6, 25, 9, 0, tzinfo=LONDON)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


def subscribe(api: Api, receiver: Receiver, events: list[str]) -> None:
    response = api.client.post(
        "/api/v1/webhooks",
        json={"url": receiver.url, "events": events, "secret": SECRET},
        headers=api.headers("admin"),
    )
    assert response.status_code == 201, response.text


def overdue_events(case_id: str) -> list[OutboxEvent]:
    with Session(get_engine()) as session:
        return list(
            session.exec(
                select(OutboxEvent).where(
                    col(OutboxEvent.case_id) == uuid.UUID(case_id),
                    col(OutboxEvent.type) == "information_request.overdue",
                )
            )
        )


def addressed(event_id: uuid.UUID) -> set[tuple[str, str]]:
    with Session(get_engine()) as session:
        rows = session.exec(
            select(AlertRecipient).where(col(AlertRecipient.event_id) == event_id)
        ).all()
    return {(r.role, r.agency) for r in rows}


def inbox(api: Api, who: str, partnership: str = "TW") -> list[dict[str, Any]]:
    response = api.client.get("/api/v1/alerts", headers=api.headers(who, partnership))
    assert response.status_code == 200, response.text
    return [a for a in response.json()["items"] if a["type"] == "information_request.overdue"]


def test_an_overdue_return_alerts_the_agencys_dsp_and_the_business_unit(
    api: Api, clock: FixedClock, receiver: Receiver
) -> None:
    subscribe(api, receiver, ["information_request.overdue"])
    case = in_rapid_review(api)
    police, health = asked(api, case, "police", "health")
    # Health makes its return on time; the police return is still awaited when it falls due.
    assert answer(api, case, health, who="dsp_health").status_code == 200

    # Up to the end of the due date nothing is overdue.
    clock.set(datetime(2026, 6, 24, 23, 59, tzinfo=LONDON))
    jobs.sweep_deadlines(clock)
    assert overdue_events(case["id"]) == []

    clock.set(DAY_AFTER)
    assert jobs.sweep_deadlines(clock) >= 1
    (event,) = overdue_events(case["id"])
    data = event.payload["data"]
    assert data["information_request"] == police["id"]
    assert data["agency"] == "police"
    assert data["clock"] == "information_return"
    assert data["due_on"] == DEFAULT_DUE
    assert data["recipients"] == ["business_unit", "dsp:police"]
    assert event.payload["case_reference"] == case["reference"]
    assert addressed(event.id) == {("business_unit", ""), ("dsp", "police")}

    # The inboxes: the police DSP and the business unit; not the other DSPs, nor the chair.
    for who in ("dsp_police", "business"):
        (alert,) = inbox(api, who)
        assert alert["id"] == str(event.id), who
        assert alert["data"]["information_request"] == police["id"]
        assert alert["case_reference"] == case["reference"]
    for who in ("dsp_health", "dsp_la", "chair", "referrer", "lsp_la"):
        assert inbox(api, who) == [], who
    assert inbox(api, "dsp_police", "OT") == []

    # The webhook: one delivery, signed, the same event id a retry would repeat.
    assert deliver(clock) == 1
    (received,) = receiver.received
    body = received.json()
    assert body["type"] == "information_request.overdue"
    assert body["id"] == str(event.id)
    assert body["case_id"] == case["id"]
    assert body["data"]["information_request"] == police["id"]
    assert body["data"]["agency"] == "police"
    assert received.headers["webhook-id"] == str(event.id)
    signed = f"{received.headers['webhook-id']}.{received.headers['webhook-timestamp']}."
    expected = base64.b64encode(
        hmac.new(
            base64.b64decode(SECRET.removeprefix("whsec_")),
            signed.encode() + received.body,
            hashlib.sha256,
        ).digest()
    ).decode()
    assert f"v1,{expected}" in received.headers["webhook-signature"].split()

    # The list says so; a second sweep raises nothing more.
    shown = {r["agency"]: r for r in listed(api, case)}
    assert shown["police"]["clock"]["status"] == "breached"
    assert shown["police"]["clock"]["overdue"] is True
    assert shown["health"]["clock"]["status"] == "met"
    clock.set(datetime(2026, 6, 26, 9, 0, tzinfo=LONDON))
    jobs.sweep_deadlines(clock)
    assert len(overdue_events(case["id"])) == 1
    assert deliver(clock) == 0

    # The return arrives late: the clock is met late.
    response = answer(api, case, police, answered_on="2026-06-26")
    assert response.json()["clock"]["status"] == "met_late"


def test_an_answered_or_withdrawn_request_raises_nothing(api: Api, clock: FixedClock) -> None:
    case = in_rapid_review(api)
    police, health = asked(api, case, "police", "health")
    answer(api, case, police)
    api.client.post(
        f"/api/v1/cases/{case['id']}/information-requests/{health['id']}/withdraw",
        json={"reason": "Health were not involved."},
        headers=api.headers("business"),
    )
    clock.set(DAY_AFTER)
    jobs.sweep_deadlines(clock)
    assert overdue_events(case["id"]) == []


class TestCompletingTheRapidReview:
    def test_refused_while_a_return_is_missing(self, api: Api, clock: FixedClock) -> None:
        case = in_rapid_review(api)
        asked(api, case, "police", "health")
        before = everything(case["id"])

        body = assert_problem(complete_rapid_review(api, case), 409, "/problems/guard-rejected")

        assert body["guard"] == "information_returns_in"
        assert body["missing_returns"] == ["health", "police"]
        assert body["field"] == "missing_returns_reason"
        assert "health, police" in body["detail"]
        assert everything(case["id"]) == before
        blank = complete_rapid_review(api, case, missing_returns_reason="  ")
        assert_problem(blank, 409, "/problems/guard-rejected")
        assert everything(case["id"]) == before

    def test_allowed_with_the_reason_on_record(self, api: Api, clock: FixedClock) -> None:
        case = in_rapid_review(api)
        asked(api, case, "police")
        clock.set(DAY_AFTER)
        reason = "The police return is overdue; the review cannot wait for it."
        response = complete_rapid_review(
            api, case, completed_on="2026-06-25", missing_returns_reason=reason
        )
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "dsp_decision"
        event = api.events(case["id"])[-1]
        assert event["trigger"] == "complete_rapid_review"
        assert event["data"]["missing_returns_reason"] == reason

    def test_allowed_once_every_return_is_in(self, api: Api) -> None:
        case = in_rapid_review(api)
        police, health = asked(api, case, "police", "health")
        assert answer(api, case, police).status_code == 200
        assert_problem(complete_rapid_review(api, case), 409, "/problems/guard-rejected")
        assert answer(api, case, health, who="dsp_health").status_code == 200
        response = complete_rapid_review(api, case)
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "dsp_decision"

    def test_a_withdrawn_request_is_not_waited_for(self, api: Api) -> None:
        case = in_rapid_review(api)
        (police,) = asked(api, case, "police")
        api.client.post(
            f"/api/v1/cases/{case['id']}/information-requests/{police['id']}/withdraw",
            json={"reason": "Asked in error."},
            headers=api.headers("business"),
        )
        response = complete_rapid_review(api, case)
        assert response.status_code == 200, response.text
