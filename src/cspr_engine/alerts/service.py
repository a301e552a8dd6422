"""Enqueue alerts in the caller's transaction (the outbox), with their deliveries.

An event is written once per dedupe key: a sweep that fires a rung twice, or two sweeps that
race, write one event. Each event carries a stable id that every delivery attempt repeats, so
receivers can deduplicate. Nothing here commits; nothing here sends.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from cspr_engine.accounts import repository as accounts_repository
from cspr_engine.accounts.models import User
from cspr_engine.alerts.models import AlertRecipient, Delivery, OutboxEvent, WebhookSubscription
from cspr_engine.cases.models import Case
from cspr_engine.config import get_settings
from cspr_engine.workflow.definitions import RoleRef

EVENT_TYPES = (
    "case.created",
    "case.transitioned",
    "deadline.warning",
    "deadline.breached",
    "deadline.escalated",
    "approval.disputed",
    "action.overdue",
    "information_request.overdue",
    "case.migrated",  # moved to a new version of its workflow (workflow/versioning.py)
)


def _iso(instant: datetime) -> str:
    return instant.isoformat().replace("+00:00", "Z")


def enqueue(
    session: Session,
    *,
    type: str,
    dedupe_key: str,
    case: Case,
    data: dict[str, Any],
    now: datetime,
    recipients: Iterable[str] = (),
    fresh: bool = False,
) -> OutboxEvent | None:
    """Write the event, its inbox entries and one delivery per destination; None if an event
    with this dedupe key exists already. `fresh`: the caller's transaction owns the key (it
    names a case version this transaction claimed), so no other can have written it."""
    if (
        not fresh
        and session.exec(
            select(OutboxEvent.id).where(col(OutboxEvent.dedupe_key) == dedupe_key)
        ).first()
    ):
        return None
    event = OutboxEvent(
        dedupe_key=dedupe_key,
        type=type,
        partnership_id=case.partnership_id,
        case_id=case.id,
        payload={},
        occurred_at=now,
    )
    event.payload = {
        "id": str(event.id),
        "type": type,
        "occurred_at": _iso(now),
        "partnership": accounts_repository.partnership_code(session, case.partnership_id),
        "case_id": str(case.id),
        "case_reference": case.reference,
        "data": {**data, "recipients": sorted(set(recipients))},
    }
    if fresh:
        session.add(event)
    else:
        try:
            with session.begin_nested():
                session.add(event)
                session.flush()
        except IntegrityError:
            # Another transaction wrote the same key between our check and our insert.
            return None
    addressed = addresses(recipients)
    for role, agency in addressed:
        session.add(
            AlertRecipient(
                event_id=event.id,
                role=role,
                agency=agency,
                partnership_id=case.partnership_id,
                occurred_at=now,
            )
        )
    for target_channel, target in _destinations(session, case, type, addressed):
        session.add(
            Delivery(
                event_id=event.id,
                channel=target_channel,
                target=target,
                next_attempt_at=now,
                created_at=now,
            )
        )
    session.flush()
    return event


def addresses(recipients: Iterable[str]) -> list[tuple[str, str]]:
    """(role, agency) pairs, agency "" for every agency's; a role addressed to every agency
    covers any narrower address of it (`dsp` covers `dsp:police`)."""
    pairs = {(ref.role, ref.agency or "") for ref in map(RoleRef.parse, recipients)}
    wide = {role for role, agency in pairs if agency == ""}
    return sorted((role, agency) for role, agency in pairs if agency == "" or role not in wide)


def _reaches(user: User, addressed: list[tuple[str, str]]) -> bool:
    return any(
        role in user.roles and (agency == "" or user.agency == agency) for role, agency in addressed
    )


def _destinations(
    session: Session, case: Case, type: str, addressed: list[tuple[str, str]]
) -> list[tuple[str, str]]:
    found: list[tuple[str, str]] = []
    # Two columns, not the rows: every change a case goes through asks this.
    subscriptions = session.exec(
        select(col(WebhookSubscription.id), col(WebhookSubscription.events)).where(
            col(WebhookSubscription.partnership_id) == case.partnership_id,
            col(WebhookSubscription.disabled_at).is_(None),
        )
    )
    for sub_id, events in subscriptions:
        if type in events or "*" in events:
            found.append(("webhook", str(sub_id)))
    if addressed and get_settings().smtp_host:
        people = session.exec(
            select(User).where(
                col(User.partnership_id) == case.partnership_id, col(User.is_active).is_(True)
            )
        )
        for user in people:
            if _reaches(user, addressed):
                found.append(("email", user.email))
    return found
