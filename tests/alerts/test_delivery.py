"""Delivering alerts to real receivers on 127.0.0.1: a webhook server that checks nothing for
us (the test verifies the Standard Webhooks signature itself), retries with backoff until a
delivery is delivered or dead, a real SMTP server for the e-mails, and the lease that lets a
crashed sender's claim be taken again."""

from __future__ import annotations

import base64
import email
import email.policy
import hashlib
import hmac
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.controller import Controller
from sqlmodel import Session, col, select

from cspr_engine.alerts import delivery
from cspr_engine.alerts.models import Delivery, DeliveryAttempt, OutboxEvent
from cspr_engine.config import Settings, get_settings
from cspr_engine.db import get_engine, writer_bind
from cspr_engine.kit.clock import FixedClock
from cspr_engine.scheduler import jobs
from tests.factories import (
    PEOPLE,
    Api,
    Received,
    Receiver,
    deliver,
    referral,
    set_password,
    sign_in,
)

DEADLINE_EVENTS = ["deadline.warning", "deadline.breached", "deadline.escalated"]
# Aware on Tuesday 9 June 2026: the panel notification was due at the end of Tuesday 16th,
# so at the suite's now (Wednesday 17th, 10:00 in London) only its breach is due.
OVERDUE = "2026-06-09"


# -- fixtures -------------------------------------------------------------------------------


@pytest.fixture
def configure(monkeypatch: pytest.MonkeyPatch) -> Iterator[Callable[..., Settings]]:
    """Set CSPR_* variables for this test; the environment and the settings come back after."""

    def apply(**values: object) -> Settings:
        for name, value in values.items():
            monkeypatch.setenv(f"CSPR_{name.upper()}", str(value))
        get_settings.cache_clear()
        return get_settings()

    yield apply
    monkeypatch.undo()
    get_settings.cache_clear()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


class Mailbox:
    """An aiosmtpd handler that keeps every message it is given."""

    def __init__(self) -> None:
        self.mails: list[Mail] = []
        self._lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        with self._lock:
            self.mails.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp(configure: Callable[..., Settings]) -> Iterator[Mailbox]:
    """A real SMTP server on 127.0.0.1, and the settings that send alerts to it."""
    port = free_port()
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, ready_timeout=10)
    controller.start()
    try:
        configure(
            smtp_host="127.0.0.1",
            smtp_port=port,
            smtp_from="alerts@cspr.example.org",
            public_url="https://cspr.example.org/",
            webhook_timeout_seconds=5,
        )
        yield mailbox
    finally:
        controller.stop()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with Receiver() as r:
        yield r


# -- helpers ----------------------------------------------------------------------------------


def new_secret() -> str:
    return "whsec_" + base64.b64encode(os.urandom(32)).decode()


def subscribe(
    api: Api,
    url: str,
    events: list[str],
    secret: str,
    who: str = "admin",
    partnership: str = "TW",
) -> dict[str, Any]:
    response = api.client.post(
        "/api/v1/webhooks",
        json={"url": url, "events": events, "secret": secret},
        headers=api.headers(who, partnership),
    )
    assert response.status_code == 201, response.text
    body = dict(response.json())
    assert body["secret"] is None  # given, so never shown back
    assert secret not in response.text
    return body


def overdue_case(api: Api, partnership: str = "TW") -> dict[str, Any]:
    return api.create_case(who="chair", partnership=partnership, became_aware_on=OVERDUE)


def verify_signature(secret: str, received: Received) -> None:
    """Standard Webhooks, checked here from first principles: the key is the base64 after
    `whsec_`; the signed content is `{webhook-id}.{webhook-timestamp}.{body}`."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    message_id = received.headers["webhook-id"]
    timestamp = received.headers["webhook-timestamp"]
    signed = f"{message_id}.{timestamp}.".encode() + received.body
    expected = base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    offered = [s.split(",", 1) for s in received.headers["webhook-signature"].split(" ")]
    assert any(
        version == "v1" and hmac.compare_digest(signature, expected)
        for version, signature in offered
    ), received.headers
    # Within the five minutes a receiver tolerates (the timestamp is the real send time).
    assert abs(int(timestamp) - time.time()) < 300


def events_of(type_: str) -> list[OutboxEvent]:
    with Session(get_engine()) as session:
        return list(
            session.exec(
                select(OutboxEvent)
                .where(col(OutboxEvent.type) == type_)
                .order_by(col(OutboxEvent.occurred_at))
            )
        )


def deliveries(event_id: uuid.UUID, channel: str | None = None) -> list[Delivery]:
    with Session(get_engine()) as session:
        rows = session.exec(
            select(Delivery).where(col(Delivery.event_id) == event_id).order_by(Delivery.target)
        ).all()
    return [d for d in rows if channel is None or d.channel == channel]


def attempts(delivery_id: uuid.UUID) -> list[DeliveryAttempt]:
    with Session(get_engine()) as session:
        return list(
            session.exec(
                select(DeliveryAttempt)
                .where(col(DeliveryAttempt.delivery_id) == delivery_id)
                .order_by(col(DeliveryAttempt.attempt))
            )
        )


def one_breach() -> OutboxEvent:
    breaches = events_of("deadline.breached")
    assert len(breaches) == 1, breaches
    return breaches[0]


def inbox(api: Api, who: str, partnership: str = "TW") -> list[dict[str, Any]]:
    response = api.client.get("/api/v1/alerts", headers=api.headers(who, partnership))
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


# -- webhooks ---------------------------------------------------------------------------------


def test_a_signed_breach_reaches_a_real_webhook_receiver(
    api: Api, clock: FixedClock, receiver: Receiver
) -> None:
    secret = new_secret()
    subscription = subscribe(api, receiver.url, DEADLINE_EVENTS, secret)
    assert subscription["url"] == receiver.url
    assert subscription["events"] == sorted(DEADLINE_EVENTS)
    with Receiver() as elsewhere:
        # Another partnership's subscriber hears nothing of TW's case.
        subscribe(api, elsewhere.url, ["*"], new_secret(), partnership="OT")
        case = overdue_case(api)
        assert jobs.sweep_deadlines(clock) == 1
        event = one_breach()
        assert deliver(clock) == 1
        assert elsewhere.received == []

    # Exactly the one event it subscribed to (not case.created, not the other clock).
    assert len(receiver.received) == 1
    got = receiver.received[0]
    assert got.path == "/hooks/cspr"
    assert got.headers["content-type"] == "application/json"
    verify_signature(secret, got)
    # A secret taken as plain UTF-8 (not base64-decoded) would not give this signature.
    with pytest.raises(AssertionError):
        verify_signature("whsec_" + base64.b64encode(secret.encode()).decode(), got)

    body = got.json()
    assert body["id"] == got.headers["webhook-id"] == str(event.id)
    assert body["type"] == "deadline.breached"
    assert body["case_reference"] == case["reference"]
    assert body["case_id"] == case["id"]
    assert body["partnership"] == "TW"
    assert body["occurred_at"] == "2026-06-17T09:00:00Z"
    assert body["data"]["clock"] == "panel_notification"
    assert body["data"]["due_on"] == "2026-06-16"
    assert body["data"]["recipients"] == ["business_unit", "dsp", "panel_chair"]
    # What was enqueued, and a link to the case at the public base URL (derived from host and
    # port here, as no CSPR_PUBLIC_URL is set).
    links = body.pop("links")
    assert links == {"case": f"http://127.0.0.1:8000/ui/cases/{case['reference']}"}
    assert links["case"].startswith(get_settings().public_base_url + "/")
    assert body == event.payload
    for field in ("summary", "child", "incident"):
        assert field not in body
        assert field not in body["data"]
    assert referral()["summary"] not in got.body.decode()

    [row] = deliveries(event.id)
    assert (row.channel, row.target, row.status, row.attempts) == (
        "webhook",
        subscription["id"],
        "delivered",
        1,
    )
    assert row.delivered_at == clock.now()
    [attempt] = attempts(row.id)
    assert (attempt.attempt, attempt.succeeded, attempt.status_code) == (1, True, 200)

    # Delivered is delivered: the next run sends nothing.
    clock.set(clock.now() + timedelta(hours=1))
    assert deliver(clock) == 0
    assert len(receiver.received) == 1


def test_a_failing_receiver_gets_the_same_event_again_until_it_answers(
    api: Api, clock: FixedClock, configure: Callable[..., Settings]
) -> None:
    configure(delivery_backoff_seconds=30, webhook_timeout_seconds=5)
    secret = new_secret()
    with Receiver(statuses=[500, 500], then=200) as flaky:
        subscribe(api, flaky.url, ["deadline.breached"], secret)
        overdue_case(api)
        jobs.sweep_deadlines(clock)
        event = one_breach()
        [row] = deliveries(event.id)
        t0 = clock.now()

        assert deliver(clock) == 0
        # Backoff: 30 s after the first failure, then 60 s after the second.
        clock.set(t0 + timedelta(seconds=29))
        assert deliver(clock) == 0
        assert len(flaky.received) == 1
        t1 = t0 + timedelta(seconds=30)
        clock.set(t1)
        assert deliver(clock) == 0
        clock.set(t1 + timedelta(seconds=59))
        assert deliver(clock) == 0
        assert len(flaky.received) == 2
        t2 = t1 + timedelta(seconds=60)
        clock.set(t2)
        assert deliver(clock) == 1
        clock.set(t2 + timedelta(days=1))
        assert deliver(clock) == 0

    assert len(flaky.received) == 3
    for got in flaky.received:
        verify_signature(secret, got)
        assert got.headers["webhook-id"] == str(event.id)
        assert got.json()["id"] == str(event.id)
    # The same body every time: receivers deduplicate on the id.
    assert len({got.body for got in flaky.received}) == 1

    recorded = attempts(row.id)
    assert [(a.attempt, a.succeeded, a.status_code, a.at) for a in recorded] == [
        (1, False, 500, t0),
        (2, False, 500, t1),
        (3, True, 200, t2),
    ]
    assert recorded[0].response == '{"error": "try later"}'
    [row] = deliveries(event.id)
    assert (row.status, row.attempts, row.delivered_at, row.last_error) == (
        "delivered",
        3,
        t2,
        None,
    )


def test_a_receiver_that_always_fails_makes_the_delivery_dead(
    api: Api, clock: FixedClock, configure: Callable[..., Settings]
) -> None:
    configure(webhook_max_attempts=3, delivery_backoff_seconds=10, webhook_timeout_seconds=5)
    with Receiver(then=503) as broken:
        subscribe(api, broken.url, ["deadline.breached"], new_secret())
        overdue_case(api)
        jobs.sweep_deadlines(clock)
        event = one_breach()
        t0 = clock.now()
        assert deliver(clock) == 0

        [row] = deliveries(event.id)
        assert (row.status, row.attempts, row.last_error) == ("pending", 1, "HTTP 503")
        assert row.next_attempt_at == t0 + timedelta(seconds=10)
        clock.set(row.next_attempt_at)
        assert deliver(clock) == 0
        [row] = deliveries(event.id)
        assert (row.status, row.attempts) == ("pending", 2)
        assert row.next_attempt_at == clock.now() + timedelta(seconds=20)  # doubled
        clock.set(row.next_attempt_at)
        assert deliver(clock) == 0

        [row] = deliveries(event.id)
        assert (row.status, row.attempts, row.last_error) == ("dead", 3, "HTTP 503")
        assert len(broken.received) == 3
        # Dead is final: nothing more is tried, however long we wait.
        for later in (timedelta(minutes=5), timedelta(days=2)):
            clock.set(row.next_attempt_at + later)
            assert deliver(clock) == 0
        with Session(writer_bind(get_engine())) as session:
            assert (
                delivery.claim(session, now=clock.now(), lease=timedelta(minutes=2), limit=50) == []
            )
        assert len(broken.received) == 3

    recorded = attempts(row.id)
    assert [(a.attempt, a.succeeded, a.status_code) for a in recorded] == [
        (1, False, 503),
        (2, False, 503),
        (3, False, 503),
    ]
    assert {r.headers["webhook-id"] for r in broken.received} == {str(event.id)}


def test_a_claimed_delivery_whose_sender_crashed_is_sent_once_the_lease_expires(
    api: Api, clock: FixedClock, configure: Callable[..., Settings], receiver: Receiver
) -> None:
    configure(delivery_lease_seconds=60, webhook_timeout_seconds=5)
    secret = new_secret()
    subscribe(api, receiver.url, ["deadline.breached"], secret)
    overdue_case(api)
    jobs.sweep_deadlines(clock)
    event = one_breach()
    [row] = deliveries(event.id)

    # A sender claims the delivery, commits its claim, and dies before sending.
    t0 = clock.now()
    with Session(writer_bind(get_engine())) as session:
        claimed = delivery.claim(session, now=t0, lease=timedelta(seconds=60), limit=50)
        session.commit()
    assert claimed == [row.id]
    [row] = deliveries(event.id)
    assert row.lease_until == t0 + timedelta(seconds=60)

    # While the lease holds, no other sender takes it.
    for held in (timedelta(0), timedelta(seconds=30), timedelta(seconds=60)):
        clock.set(t0 + held)
        assert deliver(clock) == 0
    assert receiver.received == []
    [row] = deliveries(event.id)
    assert (row.status, row.attempts) == ("pending", 0)

    # Then it is taken again and sent, with the event's own id.
    clock.set(t0 + timedelta(seconds=61))
    assert deliver(clock) == 1
    assert len(receiver.received) == 1
    verify_signature(secret, receiver.received[0])
    assert receiver.received[0].headers["webhook-id"] == str(event.id)
    assert receiver.received[0].json()["id"] == str(event.id)
    [row] = deliveries(event.id)
    assert (row.status, row.attempts, row.lease_until) == ("delivered", 1, None)
    assert len(attempts(row.id)) == 1


def test_a_sender_slower_than_its_lease_never_undoes_the_delivery_another_sender_made(
    api: Api, clock: FixedClock, configure: Callable[..., Settings], receiver: Receiver
) -> None:
    settings = configure(delivery_lease_seconds=60, webhook_timeout_seconds=5)
    subscribe(api, receiver.url, ["deadline.breached"], new_secret())
    overdue_case(api)
    jobs.sweep_deadlines(clock)
    [row] = deliveries(one_breach().id)

    # Sender A claims the delivery and is still waiting on its receiver when the lease runs out.
    t0 = clock.now()
    with Session(writer_bind(get_engine())) as session:
        assert delivery.claim(session, now=t0, lease=timedelta(seconds=60), limit=50) == [row.id]
        session.commit()
    # Sender B takes it again and delivers it.
    clock.set(t0 + timedelta(seconds=61))
    assert deliver(clock) == 1
    assert len(receiver.received) == 1
    # A's answer comes at last: a timeout. It is kept, but the delivery stays delivered.
    clock.set(t0 + timedelta(seconds=70))
    with Session(writer_bind(get_engine())) as session:
        delivery.record(
            session,
            delivery_id=row.id,
            outcome=delivery.Outcome(succeeded=False, error="timed out"),
            now=clock.now(),
            duration_ms=9000,
            settings=settings,
        )
        session.commit()
    [row] = deliveries(row.event_id)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 2, None)
    assert row.delivered_at == t0 + timedelta(seconds=61)
    assert [(a.attempt, a.succeeded, a.error) for a in attempts(row.id)] == [
        (1, True, None),
        (2, False, "timed out"),
    ]
    # Nothing is due again: the receiver is not sent the alert a second time.
    clock.set(t0 + timedelta(days=1))
    assert deliver(clock) == 0
    assert len(receiver.received) == 1


# -- e-mail -----------------------------------------------------------------------------------


def test_the_breach_e_mail_reaches_every_recipient_role_of_the_partnership(
    api: Api, clock: FixedClock, smtp: Mailbox
) -> None:
    case = overdue_case(api)
    reference = case["reference"]
    assert jobs.sweep_deadlines(clock) == 1
    event = one_breach()
    breach_roles = {"dsp", "panel_chair", "business_unit"}
    expected = {f"{key}@tw.example" for key, roles, _ in PEOPLE if breach_roles & set(roles)}
    # The chair, the business unit, the three DSPs, and the user holding all the case roles;
    # not the LSP (a breach is not escalated yet), nobody in OT.
    assert expected == {
        "chair@tw.example",
        "business@tw.example",
        "dsp_la@tw.example",
        "dsp_police@tw.example",
        "dsp_health@tw.example",
        "superuser@tw.example",
    }
    assert {d.target for d in deliveries(event.id, "email")} == expected

    assert deliver(clock) == len(expected)
    assert sorted(a for m in smtp.mails for a in m.rcpt_tos) == sorted(expected)
    link = f"https://cspr.example.org/ui/cases/{reference}"
    for mail in smtp.mails:
        message = mail.message
        assert mail.mail_from == "alerts@cspr.example.org"
        assert message["From"] == "alerts@cspr.example.org"
        assert message["To"] == mail.rcpt_tos[0]
        subject = message["Subject"]
        assert reference in subject
        assert "Notify the Panel" in subject  # the clock
        assert "missed" in subject
        assert message["Message-ID"] == f"<{event.id}@cspr-engine>"
        text = message.get_content()
        assert link in text
        assert "2026-06-16" in text
        for child_data in (
            referral()["summary"],
            "cp_plan",
            "female",
            "physical_abuse",
            "serious_harm",
            referral()["partner_reference"],
        ):
            assert child_data not in message.as_string()

    # The link opens the case page for whoever got the e-mail, once signed in.
    path = link.removeprefix("https://cspr.example.org")
    assert api.client.get(path, follow_redirects=False).headers["location"] == (
        f"/ui/sign-in?next={path}"
    )
    set_password("dsp_police@tw.example")
    assert sign_in(api.client, "dsp_police@tw.example").status_code == 200
    opened = api.client.get(path)
    assert opened.status_code == 200, opened.text
    assert f"<title>{reference}: " in opened.text

    rows = deliveries(event.id, "email")
    assert {(d.status, d.attempts) for d in rows} == {("delivered", 1)}
    assert all(attempts(d.id)[0].status_code == 250 for d in rows)
    assert deliver(clock) == 0
    assert len(smtp.mails) == len(expected)


# -- disputes -------------------------------------------------------------------------------


def in_dsp_decision(api: Api) -> str:
    case_id = api.create_case(who="chair")["id"]
    api.ok(case_id, "notify_panel", {"notified_on": "2026-06-11"}, who="business")
    api.ok(
        case_id,
        "complete_rapid_review",
        {
            "completed_on": "2026-06-15",
            "recommendation": "lcspr",
            "criteria": ["a"],
            "rationale": "Reg 11 criteria met.",
        },
        who="chair",
    )
    return case_id


def test_a_dsp_disagreement_goes_to_the_lsps_at_once(
    api: Api, clock: FixedClock, smtp: Mailbox, receiver: Receiver
) -> None:
    secret = new_secret()
    subscribe(api, receiver.url, ["approval.disputed"], secret)
    case_id = in_dsp_decision(api)
    reference = api.get_case(case_id)["reference"]
    assert api.vote(case_id, "dsp_la", "agree").status_code == 200
    assert events_of("approval.disputed") == []

    response = api.vote(case_id, "dsp_police", "disagree")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "disputed"

    # In the LSP's inbox straight away: no sweep, no wait.
    [alert] = [a for a in inbox(api, "lsp_la") if a["type"] == "approval.disputed"]
    assert alert["case_id"] == case_id
    assert alert["case_reference"] == reference
    assert alert["data"]["gate"] == "dsp_joint_decision"
    assert alert["data"]["party"] == "dsp:police"
    assert alert["data"]["decision"] == "disagree"
    assert alert["data"]["recipients"] == ["lsp"]
    # Not the chair's or a DSP's to resolve, and not the other partnership's LSP.
    for who, partnership in (("chair", "TW"), ("dsp_la", "TW"), ("lsp_la", "OT")):
        assert [a for a in inbox(api, who, partnership) if a["type"] == "approval.disputed"] == []

    assert deliver(clock) == 2  # the webhook and the one LSP's e-mail
    [got] = receiver.received
    verify_signature(secret, got)
    body = got.json()
    assert body["type"] == "approval.disputed"
    assert body["id"] == got.headers["webhook-id"] == alert["id"]
    assert body["case_reference"] == reference
    assert body["data"]["party"] == "dsp:police"

    [mail] = smtp.mails
    assert mail.rcpt_tos == ["lsp_la@tw.example"]
    assert reference in mail.message["Subject"]
    assert "disputed" in mail.message["Subject"]
    assert f"https://cspr.example.org/ui/cases/{reference}" in mail.message.get_content()
