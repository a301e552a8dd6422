"""The alert inbox (GET /api/v1/alerts: each user sees the alerts addressed to their roles in
their own partnership, newest first, a page at a time) and webhook subscriptions (admins of a
partnership manage its own; a platform admin names the partnership; secrets never come back)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import pytest
from sqlmodel import Session, col, select

from cspr_engine.accounts import service as accounts_service
from cspr_engine.alerts.models import Delivery, OutboxEvent, WebhookSubscription
from cspr_engine.db import get_engine
from cspr_engine.kit.clock import LONDON, FixedClock
from cspr_engine.scheduler import jobs
from tests.conftest import NOW
from tests.factories import Api, Receiver, assert_problem, deliver

SECRET = "whsec_" + "c2VjcmV0LWtleS1mb3ItdGVzdHMtb25seS0xMjM0NTY="
PLATFORM_TOKEN = "platform-admin-token-for-the-webhook-tests"


def end_of_day(day: date) -> datetime:
    return datetime.combine(day, time(23, 59, 59), tzinfo=LONDON).astimezone(UTC)


def iso(instant: datetime) -> str:
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def alerts(api: Api, who: str, partnership: str = "TW", **params: Any) -> dict[str, Any]:
    response = api.client.get(
        "/api/v1/alerts", params=params, headers=api.headers(who, partnership)
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


def all_pages(api: Api, who: str, limit: int, partnership: str = "TW") -> list[list[str]]:
    pages: list[list[str]] = []
    params: dict[str, Any] = {"limit": limit}
    for _ in range(20):
        page = alerts(api, who, partnership, **params)
        pages.append([item["id"] for item in page["items"]])
        if page["next_cursor"] is None:
            return pages
        params["cursor"] = page["next_cursor"]
    raise AssertionError("the cursor never ran out")


def event_id(case: dict[str, Any], type_: str) -> str:
    with Session(get_engine()) as session:
        rows = session.exec(
            select(OutboxEvent).where(
                col(OutboxEvent.case_id) == uuid.UUID(case["id"]), col(OutboxEvent.type) == type_
            )
        ).all()
    found = [e for e in rows if e.payload["data"].get("clock") == "panel_notification"]
    assert len(found) == 1, rows
    return str(found[0].id)


def newest_first(*groups: tuple[datetime, list[str]]) -> list[str]:
    """Event ids by (occurred_at, id), newest first: the inbox's order, ties broken by id."""
    return [
        str(i)
        for _, i in sorted(((at, uuid.UUID(i)) for at, ids in groups for i in ids), reverse=True)
    ]


# -- the inbox --------------------------------------------------------------------------------


def test_each_user_sees_the_alerts_for_their_roles_in_their_partnership(
    api: Api, clock: FixedClock
) -> None:
    # Two TW cases and one OT case aware on 9 June (their notification was due on the 16th),
    # and a TW case aware today (due Wednesday 24th).
    overdue = {"became_aware_on": "2026-06-09"}
    tw_a = api.create_case(who="chair", **overdue)
    tw_b = api.create_case(who="business", **overdue)
    ot = api.create_case(who="chair", partnership="OT", **overdue)
    tw_c = api.create_case(who="chair", became_aware_on="2026-06-17")

    t_breach = NOW
    assert jobs.sweep_deadlines(clock) == 3  # three breaches at the same instant
    t_warning = end_of_day(date(2026, 6, 22))
    clock.set(t_warning)
    assert jobs.sweep_deadlines(clock) == 1
    t_escalation = end_of_day(date(2026, 6, 23))
    clock.set(t_escalation)
    assert jobs.sweep_deadlines(clock) == 3
    t_c_breach = end_of_day(date(2026, 6, 24))
    clock.set(t_c_breach)
    assert jobs.sweep_deadlines(clock) == 1

    breached = "deadline.breached"
    chair_view = newest_first(
        (t_c_breach, [event_id(tw_c, breached)]),
        (t_warning, [event_id(tw_c, "deadline.warning")]),
        (t_breach, [event_id(tw_a, breached), event_id(tw_b, breached)]),
    )
    dsp_view = [i for i in chair_view if i != event_id(tw_c, "deadline.warning")]
    lsp_view = newest_first(
        (
            t_escalation,
            [event_id(tw_a, "deadline.escalated"), event_id(tw_b, "deadline.escalated")],
        )
    )
    expected = {
        ("chair", "TW"): chair_view,
        ("business", "TW"): chair_view,
        # Holds panel_chair, business_unit and dsp: each alert once, however many roles match.
        ("superuser", "TW"): chair_view,
        ("dsp_la", "TW"): dsp_view,
        ("dsp_health", "TW"): dsp_view,
        ("lsp_la", "TW"): lsp_view,
        ("referrer", "TW"): [],
        ("scrutineer", "TW"): [],
        ("qpd", "TW"): [],
        ("admin", "TW"): [],
        ("chair", "OT"): [event_id(ot, breached)],
        ("dsp_police", "OT"): [event_id(ot, breached)],
        ("lsp_la", "OT"): [event_id(ot, "deadline.escalated")],
    }
    for (who, partnership), ids in expected.items():
        page = alerts(api, who, partnership)
        assert [item["id"] for item in page["items"]] == ids, (who, partnership)
        assert page["next_cursor"] is None

    items = alerts(api, "chair")["items"]
    assert [item["type"] for item in items] == [
        "deadline.breached",
        "deadline.warning",
        "deadline.breached",
        "deadline.breached",
    ]
    assert [item["occurred_at"] for item in items] == [
        iso(t_c_breach),
        iso(t_warning),
        iso(t_breach),
        iso(t_breach),
    ]
    assert items[0]["case_id"] == tw_c["id"]
    assert items[0]["case_reference"] == tw_c["reference"]
    assert items[0]["data"]["clock"] == "panel_notification"
    assert items[0]["data"]["due_on"] == "2026-06-24"
    assert {items[2]["case_reference"], items[3]["case_reference"]} == {
        tw_a["reference"],
        tw_b["reference"],
    }
    assert set(items[0]) == {"id", "type", "occurred_at", "case_id", "case_reference", "data"}


def test_the_inbox_pages_with_a_cursor(api: Api, clock: FixedClock) -> None:
    # Five TW breaches at one instant (ties broken by id) and one warning later.
    cases = [api.create_case(who="chair", became_aware_on="2026-06-09") for _ in range(5)]
    assert jobs.sweep_deadlines(clock) == 5
    later = api.create_case(who="chair", became_aware_on="2026-06-17")
    clock.set(end_of_day(date(2026, 6, 22)))
    assert jobs.sweep_deadlines(clock) == 1

    everything = [item["id"] for item in alerts(api, "chair")["items"]]
    assert everything[0] == event_id(later, "deadline.warning")
    assert sorted(everything[1:]) == sorted(event_id(c, "deadline.breached") for c in cases)
    for limit, sizes in ((1, [1] * 6), (2, [2, 2, 2]), (4, [4, 2]), (6, [6]), (7, [6])):
        pages = all_pages(api, "chair", limit)
        assert [len(p) for p in pages] == sizes, limit
        assert [i for p in pages for i in p] == everything, limit

    # A cursor this service did not issue is a 422, not a 500 nor an empty page.
    for cursor in ("not-a-cursor", "WyJ4Il0", "WyJub3QgYSBkYXRlIiwgIm5vdCBhIHV1aWQiXQ"):
        response = api.client.get(
            "/api/v1/alerts", params={"cursor": cursor}, headers=api.headers("chair")
        )
        assert_problem(response, 422, "/problems/invalid-query")
    response = api.client.get("/api/v1/alerts", params={"limit": 0}, headers=api.headers("chair"))
    assert_problem(response, 422)
    assert_problem(api.client.get("/api/v1/alerts"), 401)


# -- webhook subscriptions ------------------------------------------------------------------


@pytest.fixture
def platform_admin(api: Api) -> dict[str, str]:
    with Session(get_engine()) as session:
        admin = accounts_service.ensure_bootstrap_admin(
            session=session, secret=PLATFORM_TOKEN, now=NOW
        )
        session.commit()
    assert admin is not None
    return {"Authorization": f"Bearer {PLATFORM_TOKEN}"}


def create(
    api: Api, who: str = "admin", member_of: str = "TW", **body: Any
) -> tuple[int, dict[str, Any]]:
    """POST /webhooks as `who` of `member_of`; `body` overrides a valid subscription."""
    payload = {"url": "https://partner.example.org/cspr", "events": ["*"], "secret": SECRET}
    payload.update(body)
    response = api.client.post(
        "/api/v1/webhooks", json=payload, headers=api.headers(who, member_of)
    )
    assert SECRET not in response.text
    return response.status_code, dict(response.json()) if response.content else {}


def listed(api: Api, who: str = "admin", partnership: str = "TW") -> list[dict[str, Any]]:
    response = api.client.get("/api/v1/webhooks", headers=api.headers(who, partnership))
    assert response.status_code == 200, response.text
    assert SECRET not in response.text
    assert SECRET not in response.text
    assert "secret" not in response.text
    body = response.json()
    assert body["next_cursor"] is None
    return list(body["items"])


def subscription_count() -> int:
    with Session(get_engine()) as session:
        return len(session.exec(select(WebhookSubscription)).all())


def test_an_admin_creates_lists_and_deletes_subscriptions(api: Api, clock: FixedClock) -> None:
    status, first = create(
        api,
        url="https://partner.example.org/cspr?source=tw",
        events=["deadline.breached", "case.created", "deadline.breached"],
    )
    assert status == 201, first
    assert set(first) == {
        "id",
        "partnership",
        "url",
        "events",
        "created_at",
        "disabled_at",
        "secret",
    }
    assert first["secret"] is None  # the one given is never shown back
    assert first["partnership"] == "TW"
    assert first["url"] == "https://partner.example.org/cspr?source=tw"
    assert first["events"] == ["case.created", "deadline.breached"]
    assert first["created_at"] == iso(NOW)
    assert first["disabled_at"] is None
    with Session(get_engine()) as session:
        row = session.get(WebhookSubscription, uuid.UUID(first["id"]))
        assert row is not None
        assert row.secret == SECRET  # kept to sign with, never shown

    clock.set(NOW + timedelta(minutes=5))
    status, second = create(api, url="http://127.0.0.1:9/other", events=["approval.disputed"])
    assert status == 201, second
    assert [s["id"] for s in listed(api)] == [first["id"], second["id"]]

    clock.set(NOW + timedelta(minutes=10))
    response = api.client.delete(f"/api/v1/webhooks/{first['id']}", headers=api.headers("admin"))
    assert response.status_code == 204, response.text
    assert response.content == b""
    # Gone for good: a second delete is a 404; the list keeps it, marked disabled.
    response = api.client.delete(f"/api/v1/webhooks/{first['id']}", headers=api.headers("admin"))
    assert_problem(response, 404, "/problems/webhook-not-found")
    now_listed = {s["id"]: s for s in listed(api)}
    assert now_listed[first["id"]]["disabled_at"] == iso(NOW + timedelta(minutes=10))
    assert now_listed[second["id"]]["disabled_at"] is None

    response = api.client.delete(f"/api/v1/webhooks/{uuid.uuid4()}", headers=api.headers("admin"))
    assert_problem(response, 404, "/problems/webhook-not-found")
    response = api.client.delete("/api/v1/webhooks/not-an-id", headers=api.headers("admin"))
    assert_problem(response, 422)


def test_the_subscriptions_page_with_a_cursor(api: Api, clock: FixedClock) -> None:
    # Three made at one instant (ties broken by id), two later: oldest first.
    made = [create(api, url=f"https://partner.example.org/{n}")[1]["id"] for n in range(3)]
    clock.set(NOW + timedelta(minutes=1))
    made += [create(api, url=f"https://partner.example.org/late/{n}")[1]["id"] for n in range(2)]
    everything = [s["id"] for s in listed(api)]
    assert sorted(everything[:3]) == sorted(made[:3])
    assert sorted(everything[3:]) == sorted(made[3:])
    for limit, sizes in ((1, [1] * 5), (2, [2, 2, 1]), (5, [5]), (6, [5])):
        pages: list[list[str]] = []
        cursor = None
        while True:
            response = api.client.get(
                "/api/v1/webhooks",
                params={"limit": limit, **({"cursor": cursor} if cursor else {})},
                headers=api.headers("admin"),
            )
            assert response.status_code == 200, response.text
            body = response.json()
            pages.append([s["id"] for s in body["items"]])
            cursor = body["next_cursor"]
            if cursor is None:
                break
        assert [len(p) for p in pages] == sizes, limit
        assert [i for p in pages for i in p] == everything, limit
    for params in ({"cursor": "not-a-cursor"}, {"limit": 0}, {"limit": 501}):
        response = api.client.get("/api/v1/webhooks", params=params, headers=api.headers("admin"))
        assert_problem(response, 422)


def test_only_an_admin_manages_subscriptions(api: Api) -> None:
    status, sub = create(api)
    assert status == 201
    for who in ("chair", "business", "dsp_la", "lsp_la", "referrer", "scrutineer", "superuser"):
        response = api.client.post(
            "/api/v1/webhooks",
            json={"url": "https://evil.example.org/", "events": ["*"], "secret": SECRET},
            headers=api.headers(who),
        )
        assert_problem(response, 403, "/problems/forbidden")
        response = api.client.get("/api/v1/webhooks", headers=api.headers(who))
        assert_problem(response, 403, "/problems/forbidden")
        response = api.client.delete(f"/api/v1/webhooks/{sub['id']}", headers=api.headers(who))
        assert_problem(response, 403, "/problems/forbidden")
    assert_problem(api.client.get("/api/v1/webhooks"), 401)
    assert [(s["id"], s["disabled_at"]) for s in listed(api)] == [(sub["id"], None)]
    assert subscription_count() == 1


def test_a_platform_admin_names_the_partnership(
    api: Api, clock: FixedClock, platform_admin: dict[str, str]
) -> None:
    body = {"url": "https://partner.example.org/cspr", "events": ["*"], "secret": SECRET}
    response = api.client.post("/api/v1/webhooks", json=body, headers=platform_admin)
    problem = assert_problem(response, 422, "/problems/invalid-query")
    assert "partnership" in problem["detail"]
    response = api.client.post(
        "/api/v1/webhooks", json={**body, "partnership": "ZZ"}, headers=platform_admin
    )
    assert_problem(response, 422, "/problems/invalid-query")
    assert subscription_count() == 0

    response = api.client.post(
        "/api/v1/webhooks", json={**body, "partnership": "ot"}, headers=platform_admin
    )
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["partnership"] == "OT"
    assert SECRET not in response.text

    response = api.client.get("/api/v1/webhooks", headers=platform_admin)
    assert_problem(response, 422, "/problems/invalid-query")
    response = api.client.get("/api/v1/webhooks?partnership=OT", headers=platform_admin)
    assert [s["id"] for s in response.json()["items"]] == [made["id"]]
    response = api.client.get("/api/v1/webhooks?partnership=TW", headers=platform_admin)
    assert response.json() == {"items": [], "next_cursor": None}
    # The partnership's own admin sees it too; the other's does not.
    assert [s["id"] for s in listed(api, partnership="OT")] == [made["id"]]
    assert listed(api, partnership="TW") == []

    response = api.client.delete(f"/api/v1/webhooks/{made['id']}", headers=platform_admin)
    assert response.status_code == 204, response.text
    assert listed(api, partnership="OT")[0]["disabled_at"] is not None

    # A platform admin belongs to no partnership: no case alerts are addressed to it.
    api.create_case(who="chair", became_aware_on="2026-06-09")
    assert jobs.sweep_deadlines(clock) == 1
    assert len(alerts(api, "chair")["items"]) == 1
    response = api.client.get("/api/v1/alerts", headers=platform_admin)
    assert response.status_code == 200, response.text
    assert response.json() == {"items": [], "next_cursor": None}


def test_an_admin_cannot_reach_another_partnerships_subscriptions(api: Api) -> None:
    status, tw_sub = create(api)
    assert status == 201
    # An admin may name its own partnership (in any case), not another.
    status, own = create(api, partnership="tw")
    assert status == 201, own
    assert own["partnership"] == "TW"

    assert listed(api, partnership="OT") == []
    response = api.client.get("/api/v1/webhooks?partnership=TW", headers=api.headers("admin", "OT"))
    assert_problem(response, 403, "/problems/forbidden")
    status, body = create(api, member_of="OT", partnership="TW")
    assert status == 403, body
    # Another partnership's subscription is not found, not forbidden, and stays active.
    response = api.client.delete(
        f"/api/v1/webhooks/{tw_sub['id']}", headers=api.headers("admin", "OT")
    )
    assert_problem(response, 404, "/problems/webhook-not-found")
    assert {(s["id"], s["disabled_at"]) for s in listed(api)} == {
        (tw_sub["id"], None),
        (own["id"], None),
    }
    assert subscription_count() == 2


@pytest.mark.parametrize(
    ("change", "loc"),
    [
        ({"url": "ftp://partner.example.org/cspr"}, "url"),
        ({"url": "partner.example.org/cspr"}, "url"),
        ({"url": "https://partner example.org/"}, "url"),
        ({"url": "https://partner.example.org/" + "x" * 2000}, "url"),
        ({"events": ["deadline.exploded"]}, "events.0"),
        ({"events": ["case.created", "Case.Created"]}, "events.1"),
        ({"events": []}, "events"),
        ({"events": "deadline.breached"}, "events"),
        ({"secret": "short"}, "secret"),
        ({"secret": ""}, "secret"),
        ({"url": None}, "url"),
        ({"enabled": True}, "enabled"),
    ],
)
def test_bad_subscriptions_are_422_problems(api: Api, change: dict[str, Any], loc: str) -> None:
    body = {"url": "https://partner.example.org/cspr", "events": ["*"], "secret": SECRET}
    body.update(change)
    response = api.client.post("/api/v1/webhooks", json=body, headers=api.headers("admin"))
    problem = assert_problem(response, 422, "/problems/invalid-data")
    assert loc in [e["loc"] for e in problem["errors"]], problem
    assert SECRET not in response.text
    assert subscription_count() == 0


# -- a deleted subscription -------------------------------------------------------------------


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    with Receiver() as removed, Receiver() as kept:
        yield removed, kept


def test_a_deleted_subscription_receives_nothing_more(
    api: Api, clock: FixedClock, receivers: tuple[Receiver, Receiver]
) -> None:
    removed, kept = receivers
    events = ["deadline.breached", "deadline.escalated"]
    status, gone = create(api, url=removed.url, events=events)
    assert status == 201
    status, stays = create(api, url=kept.url, events=events)
    assert status == 201

    first = api.create_case(who="chair", became_aware_on="2026-06-09")
    jobs.sweep_deadlines(clock)
    assert deliver(clock) == 2
    assert [r.json()["case_id"] for r in removed.received] == [first["id"]]
    assert [r.json()["case_id"] for r in kept.received] == [first["id"]]

    # A second breach is queued for both; then the first subscription is deleted.
    second = api.create_case(who="chair", became_aware_on="2026-06-09")
    clock.set(NOW + timedelta(minutes=1))
    jobs.sweep_deadlines(clock)
    queued = event_id(second, "deadline.breached")
    assert {d.target for d in deliveries_of(queued)} == {gone["id"], stays["id"]}
    response = api.client.delete(f"/api/v1/webhooks/{gone['id']}", headers=api.headers("admin"))
    assert response.status_code == 204

    assert deliver(clock) == 1
    assert len(removed.received) == 1
    assert [r.json()["case_id"] for r in kept.received] == [first["id"], second["id"]]
    by_target = {d.target: d for d in deliveries_of(queued)}
    assert by_target[stays["id"]].status == "delivered"
    # No retry can reach a removed subscription: the delivery is dead after one attempt.
    assert (by_target[gone["id"]].status, by_target[gone["id"]].attempts) == ("dead", 1)
    assert by_target[gone["id"]].last_error == "subscription removed"

    # Alerts raised after the deletion are not even queued for it.
    clock.set(end_of_day(date(2026, 6, 23)))
    assert jobs.sweep_deadlines(clock) == 2
    for case in (first, second):
        escalated = event_id(case, "deadline.escalated")
        assert {d.target for d in deliveries_of(escalated)} == {stays["id"]}
    # However long the removed one's queued delivery is retried, nothing reaches it.
    for hours in (1, 6, 24, 48):
        clock.set(end_of_day(date(2026, 6, 23)) + timedelta(hours=hours))
        deliver(clock)
    assert len(removed.received) == 1
    assert [r.json()["type"] for r in kept.received] == [
        "deadline.breached",
        "deadline.breached",
        "deadline.escalated",
        "deadline.escalated",
    ]


def deliveries_of(event: str) -> list[Delivery]:
    with Session(get_engine()) as session:
        return list(
            session.exec(select(Delivery).where(col(Delivery.event_id) == uuid.UUID(event)))
        )
