"""What the reliability tests share: the stored state read in one go, the checks every case must
pass whatever happened to the processes that wrote it, and the figures they print."""

from __future__ import annotations

import itertools
import uuid
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

import httpx
from sqlmodel import Session, col, select

from cspr_engine.alerts.models import Delivery, DeliveryAttempt, OutboxEvent
from cspr_engine.approvals.models import ApprovalVote
from cspr_engine.audit import chain
from cspr_engine.audit.models import AuditEvent
from cspr_engine.cases.models import Case
from cspr_engine.db import get_engine
from cspr_engine.deadlines.models import Deadline
from cspr_engine.idempotency.models import IdempotencyRecord
from tests.factories import Directory
from tests.processes import SECRET, Received

GATE = "dsp_joint_decision"
# Who casts each party's vote on the DSP gate.
VOTERS = {"dsp_la": "dsp:local_authority", "dsp_police": "dsp:police", "dsp_health": "dsp:health"}
# The case's own clocks the tests' triggers touch: the trigger that stops each, and the date
# field it is judged by.
CLOCK_STOPS = {
    "panel_notification": ("notify_panel", "notified_on"),
    "rapid_review": ("submit_rapid_review", "submitted_on"),
}
# The events of a case's own life (a transition, its opening): one outbox event per audit event.
CASE_EVENTS = ("case.created", "case.transitioned")


def auth(directory: Directory, who: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {directory.token(who)}", **extra}


def subscribe(base_url: str, directory: Directory, receiver_url: str) -> uuid.UUID:
    """A webhook subscription of partnership TW to every event, made through the API."""
    response = httpx.post(
        f"{base_url}/api/v1/webhooks",
        json={"url": receiver_url, "events": ["*"], "secret": SECRET},
        headers=auth(directory, "admin"),
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return uuid.UUID(response.json()["id"])


@dataclass
class Stored:
    """Everything the checks read, straight from the database, in one session."""

    cases: dict[uuid.UUID, Case] = field(default_factory=dict)
    events: dict[uuid.UUID, list[AuditEvent]] = field(default_factory=lambda: defaultdict(list))
    outbox: dict[uuid.UUID, OutboxEvent] = field(default_factory=dict)
    deliveries: dict[uuid.UUID, list[Delivery]] = field(default_factory=lambda: defaultdict(list))
    attempts: dict[uuid.UUID, list[DeliveryAttempt]] = field(
        default_factory=lambda: defaultdict(list)
    )
    votes: dict[uuid.UUID, list[ApprovalVote]] = field(default_factory=lambda: defaultdict(list))
    deadlines: dict[uuid.UUID, list[Deadline]] = field(default_factory=lambda: defaultdict(list))
    keys: dict[tuple[uuid.UUID, str, str], IdempotencyRecord] = field(default_factory=dict)
    breaks: list[str] = field(default_factory=list)

    def by_partner_reference(self, reference: str) -> Case | None:
        found = [c for c in self.cases.values() if c.partner_reference == reference]
        assert len(found) <= 1, f"{len(found)} cases with partner reference {reference}"
        return found[0] if found else None

    def event_at(self, case_id: uuid.UUID, seq: int) -> AuditEvent | None:
        events = self.events.get(case_id, [])
        return events[seq - 1] if 0 < seq <= len(events) else None


def load() -> Stored:
    stored = Stored()
    with Session(get_engine(), expire_on_commit=False) as session:
        for case in session.exec(select(Case)):
            stored.cases[case.id] = case
            if (broken := chain.verify_case(session, case)) is not None:
                stored.breaks.append(str(broken))
        for event in session.exec(select(AuditEvent).order_by(col(AuditEvent.seq))):
            stored.events[event.case_id].append(event)
        for outbox in session.exec(select(OutboxEvent)):
            stored.outbox[outbox.id] = outbox
        for delivery in session.exec(select(Delivery)):
            stored.deliveries[delivery.event_id].append(delivery)
        for attempt in session.exec(select(DeliveryAttempt)):
            stored.attempts[attempt.delivery_id].append(attempt)
        for vote in session.exec(select(ApprovalVote).order_by(col(ApprovalVote.seq))):
            stored.votes[vote.case_id].append(vote)
        for deadline in session.exec(select(Deadline)):
            stored.deadlines[deadline.case_id].append(deadline)
        for record in session.exec(select(IdempotencyRecord)):
            stored.keys[(record.user_id, record.scope, record.key)] = record
    return stored


def check_every_case(stored: Stored, subscription: uuid.UUID) -> None:
    """Nothing is half applied, on any case: the audit chain verifies and runs 1..version
    without a gap; the state is the last event's; every event's from_state is the state the
    event before it left; each opening and transition has exactly one outbox event (and no
    outbox event of a case's life lacks its audit event), with its delivery to the
    subscription; each vote in the audit has its row and each row its audit event; every
    stored Idempotency-Key answer is what the audit holds at that version."""
    assert stored.breaks == [], stored.breaks
    case_outbox: dict[str, OutboxEvent] = {
        o.dedupe_key: o for o in stored.outbox.values() if o.type in CASE_EVENTS
    }
    claimed: set[str] = set()
    for case in stored.cases.values():
        events = stored.events[case.id]
        label = f"case {case.reference}"
        assert [e.seq for e in events] == list(range(1, case.version + 1)), label
        assert events[0].kind == "case.created", label
        assert events[-1].to_state == case.state, label
        assert (case.closed_at is not None) == (case.state == "closed"), label
        for before, event in itertools.pairwise(events):
            assert event.from_state == before.to_state, f"{label} event {event.seq}"
        transitions = [e for e in events if e.kind == "case.transitioned"]
        assert set(case.recorded) == {e.trigger for e in transitions}, label
        for event in events:
            key = f"case:{case.id}:v{event.seq}"
            if event.kind not in CASE_EVENTS:
                assert key not in case_outbox, f"{label} event {event.seq}: an outbox event"
                continue
            outbox = case_outbox.get(key)
            assert outbox is not None, f"{label} event {event.seq} ({event.kind}) has no alert"
            claimed.add(key)
            assert outbox.type == event.kind, label
            assert outbox.payload["id"] == str(outbox.id), label
            if event.kind == "case.transitioned":
                data = outbox.payload["data"]
                assert (data["trigger"], data["from_state"], data["to_state"], data["version"]) == (
                    event.trigger,
                    event.from_state,
                    event.to_state,
                    event.seq,
                ), label
            webhooks = [d for d in stored.deliveries[outbox.id] if d.channel == "webhook"]
            assert [d.target for d in webhooks] == [str(subscription)], label
        voted = {e.seq: e.data["party"] for e in events if e.kind.startswith("approval.")}
        assert {v.seq: v.party for v in stored.votes[case.id]} == voted, label
    assert set(case_outbox) == claimed, "an alert of a case's life with no audit event"
    for (_user, scope, _key), record in stored.keys.items():
        if scope == "POST /cases":
            case = stored.cases[uuid.UUID(record.body["id"])]
            assert record.body["reference"] == case.reference
            continue
        case_id = uuid.UUID(scope.split("/")[2])
        answered = stored.event_at(case_id, record.body["version"])
        assert answered is not None, f"a stored answer names version {record.body['version']}"
        assert (answered.kind, answered.to_state) == ("case.transitioned", record.body["state"])


def check_clocks(stored: Stored, *, only_these: bool) -> None:
    """The case's clocks are what the transitions in its audit started and stopped: both
    started with the case (one instance each); each running until its stopping trigger is in
    the audit, then met (or met late) by the date that trigger recorded first. With
    `only_these`, the case has no other clock."""
    for case in stored.cases.values():
        own = [d for d in stored.deadlines[case.id] if d.key in CLOCK_STOPS]
        if only_these:
            assert len(own) == len(stored.deadlines[case.id]), case.reference
        assert sorted(d.key for d in own) == sorted(CLOCK_STOPS), case.reference
        for clock in own:
            trigger, date_field = CLOCK_STOPS[clock.key]
            label = (case.reference, clock.key)
            stop = [e for e in stored.events[case.id] if e.trigger == trigger]
            if not stop:
                assert clock.status in ("pending", "breached"), label
                assert clock.met_on is None, label
            else:
                assert clock.status in ("met", "met_late"), label
                assert clock.met_on is not None, label
                assert clock.met_on.isoformat() == stop[0].data[date_field], label
                assert clock.next_rung_at is None, label


def check_delivered(
    stored: Stored, received: list[Received], *, exactly_once: bool
) -> dict[str, int]:
    """Every outbox event reached the receiver, always under its own stable id (as webhook-id
    and in the body) and signed; each delivery is recorded delivered, once."""
    ids = {str(e) for e in stored.outbox}
    bad = [r for r in received if not (r.signature_ok and r.webhook_id == r.body_id)]
    assert bad == [], f"unsigned or unstable ids: {bad[:3]}"
    arrived = Counter(r.webhook_id for r in received)
    assert set(arrived) == ids, (
        f"{len(ids - set(arrived))} alert(s) never arrived, "
        f"{len(set(arrived) - ids)} unknown id(s) arrived"
    )
    if exactly_once:
        assert {k: n for k, n in arrived.items() if n != 1} == {}, "an alert arrived twice"
    for event_id in stored.outbox:
        (delivery,) = stored.deliveries[event_id]
        assert delivery.status == "delivered", delivery
        successes = [a for a in stored.attempts[delivery.id] if a.succeeded]
        assert len(successes) == 1, f"delivery {delivery.id}: {len(successes)} successes"
    return {"alerts": len(ids), "arrivals": len(received)}


def delivered_all() -> bool:
    with Session(get_engine()) as session:
        pending = session.exec(
            select(Delivery.id).where(col(Delivery.status) != "delivered").limit(1)
        ).first()
    return pending is None


def response_json(response: httpx.Response) -> dict[str, Any] | None:
    try:
        body = response.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None
